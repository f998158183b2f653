//! Shared pieces of the loader conformance tests: a stub `syscall` schema with the fields the
//! Falco cases use, and path helpers.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use kaudit_condition::{FieldError, FieldInfo, Schema, ValueType};

/// The syscall fields the Falco loader cases and `falco -V` cases use. Types and list-ness
/// follow libsinsp closely enough for the loader's checks.
const SYSCALL_FIELDS: &[(&str, ValueType, ArgRule)] = &[
    ("evt.type", ValueType::Str, ArgRule::None),
    ("evt.dir", ValueType::Str, ArgRule::None),
    ("evt.num", ValueType::Uint, ArgRule::None),
    ("evt.args", ValueType::Str, ArgRule::None),
    ("evt.arg", ValueType::Str, ArgRule::Required),
    ("evt.is_open_read", ValueType::Bool, ArgRule::None),
    ("evt.plugininfo", ValueType::Str, ArgRule::None),
    ("proc.name", ValueType::Str, ArgRule::None),
    ("proc.cmdline", ValueType::Str, ArgRule::None),
    ("proc.pname", ValueType::Str, ArgRule::None),
    ("proc.aname", ValueType::Str, ArgRule::Optional),
    ("proc.apid", ValueType::Int, ArgRule::Optional),
    ("proc.exepath", ValueType::Str, ArgRule::None),
    ("proc.pid", ValueType::Int, ArgRule::None),
    ("fd.name", ValueType::Str, ArgRule::None),
    ("fd.filename", ValueType::Str, ArgRule::None),
    ("fd.typechar", ValueType::Str, ArgRule::None),
    ("fd.net", ValueType::Str, ArgRule::None),
    ("fd.cport", ValueType::Uint, ArgRule::None),
    ("user.name", ValueType::Str, ArgRule::None),
    ("user.loginuid", ValueType::Int, ArgRule::None),
    ("container.id", ValueType::Str, ArgRule::None),
    ("container.name", ValueType::Str, ArgRule::None),
    ("container.image", ValueType::Str, ArgRule::None),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArgRule {
    None,
    Optional,
    Required,
}

/// A schema for the `syscall` source with [`SYSCALL_FIELDS`]; the handle is the table index.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SyscallStub;

impl Schema for SyscallStub {
    type Field = usize;

    fn resolve(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo<usize>, FieldError> {
        // libsinsp accepts `evt.arg.path` as `evt.arg` with the argument `path`.
        let (name, arg) = match name.strip_prefix("evt.arg.") {
            Some(rest) if arg.is_none() => ("evt.arg", Some(rest)),
            _ => (name, arg),
        };
        let (i, (_, ty, rule)) = SYSCALL_FIELDS
            .iter()
            .enumerate()
            .find(|(_, (n, _, _))| *n == name)
            .ok_or(FieldError::Unknown)?;
        match (rule, arg) {
            (ArgRule::None, Some(_)) => Err(FieldError::ArgumentNotAllowed),
            (ArgRule::Required, None) => Err(FieldError::ArgumentRequired),
            _ => Ok(FieldInfo {
                field: i,
                ty: *ty,
                list: false,
            }),
        }
    }
}

/// `/work/shared` as seen from the crate (CI clones `shared/` beside the repository).
pub(crate) fn shared(path: &str) -> String {
    let upstream = kaudit_testdata::upstream_path();
    let root = upstream.strip_suffix("upstream").unwrap_or(&upstream);
    format!("{root}{path}")
}
