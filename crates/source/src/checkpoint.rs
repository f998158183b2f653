//! Checkpoints (opaque resume positions), source identities, and the stores that persist them.
//!
//! A [`Checkpoint`] is made by a source, carried by each [`Record`](crate::Record), committed by
//! the engine to a [`CheckpointStore`] after delivery, and handed back to the same source on
//! restart. The engine never looks inside: the position is source-specific JSON. Every
//! checkpoint names the [`SourceIdentity`] it belongs to, so a checkpoint taken for another log
//! group, stream prefix, region or file is rejected instead of silently applied.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The on-disk format tag of [`FileCheckpointStore`] files.
pub const FILE_FORMAT: &str = "kaudit-checkpoint";
/// The on-disk format version of [`FileCheckpointStore`] files.
pub const FILE_VERSION: u32 = 1;

/// What a checkpoint belongs to: the source kind plus the attributes that make two sources the
/// same one (for CloudWatch: region, log group and stream prefix; for a file: its path).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceIdentity {
    kind: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

impl SourceIdentity {
    /// A new identity of source kind `kind` (`file`, `cloudwatch`, `replay`) with no attributes.
    pub fn new(kind: impl Into<String>) -> Self {
        SourceIdentity {
            kind: kind.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) attribute `key`.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The source kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The value of attribute `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

impl fmt::Display for SourceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        f.write_str("(")?;
        for (i, (k, v)) in self.attributes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        f.write_str(")")
    }
}

/// A source-specific position that is only turned into JSON when someone asks.
///
/// CloudWatch checkpoints hold the de-duplication keys of the overlap window; building that JSON
/// for every record would be quadratic, so records share the state and build it on demand.
pub(crate) trait LazyPosition: Send + Sync + fmt::Debug {
    /// The position as JSON.
    fn to_value(&self) -> Value;
}

#[derive(Clone, Debug)]
enum Position {
    Value(Arc<Value>),
    Lazy(Arc<dyn LazyPosition>),
}

/// An opaque, serializable resume position: "strictly after this record" (see
/// [`Source`](crate::Source)).
///
/// Cloning is cheap. Serialize it with serde (or [`Checkpoint::to_json`]); the JSON holds the
/// [`SourceIdentity`] and a source-specific `position` object.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    identity: Arc<SourceIdentity>,
    position: Position,
}

#[derive(Serialize, Deserialize)]
struct CheckpointWire {
    identity: SourceIdentity,
    position: Value,
}

impl Checkpoint {
    /// A checkpoint of `identity` at the source-specific `position`.
    ///
    /// The position is a [`serde_json::Value`] on purpose: it is written as it is into the
    /// versioned checkpoint file, so any JSON a source needs round-trips without a schema here.
    pub fn new(identity: Arc<SourceIdentity>, position: Value) -> Self {
        Checkpoint {
            identity,
            position: Position::Value(Arc::new(position)),
        }
    }

    pub(crate) fn lazy(identity: Arc<SourceIdentity>, position: Arc<dyn LazyPosition>) -> Self {
        Checkpoint {
            identity,
            position: Position::Lazy(position),
        }
    }

    /// The source this checkpoint belongs to.
    pub fn identity(&self) -> &SourceIdentity {
        &self.identity
    }

    /// The source-specific position as JSON (see [`Checkpoint::new`] for why JSON).
    pub fn position(&self) -> Value {
        match &self.position {
            Position::Value(v) => Value::clone(v),
            Position::Lazy(l) => l.to_value(),
        }
    }

    /// Fails with [`CheckpointError::IdentityMismatch`] unless this checkpoint belongs to
    /// `expected`.
    pub fn check_identity(&self, expected: &SourceIdentity) -> Result<(), CheckpointError> {
        if *self.identity == *expected {
            Ok(())
        } else {
            Err(CheckpointError::IdentityMismatch {
                path: None,
                expected: expected.to_string(),
                found: self.identity.to_string(),
            })
        }
    }

    /// The checkpoint as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.wire()).unwrap_or_default()
    }

    /// Parses [`Checkpoint::to_json`]'s output.
    pub fn from_json(text: &str) -> Result<Self, CheckpointError> {
        let wire: CheckpointWire =
            serde_json::from_str(text).map_err(|e| CheckpointError::Corrupt {
                path: None,
                message: e.to_string(),
            })?;
        Ok(Checkpoint::new(Arc::new(wire.identity), wire.position))
    }

    fn wire(&self) -> CheckpointWire {
        CheckpointWire {
            identity: SourceIdentity::clone(&self.identity),
            position: self.position(),
        }
    }
}

impl PartialEq for Checkpoint {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity && self.position() == other.position()
    }
}

impl Serialize for Checkpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.wire().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Checkpoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = CheckpointWire::deserialize(deserializer)?;
        Ok(Checkpoint::new(Arc::new(wire.identity), wire.position))
    }
}

/// Why a checkpoint could not be loaded, saved or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the checkpoint file failed.
    #[error("checkpoint file `{}`: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The checkpoint is not valid JSON of the expected shape.
    #[error("checkpoint{} is corrupt: {message}", display_path(path.as_deref()))]
    Corrupt {
        /// The file, if the checkpoint came from one.
        path: Option<PathBuf>,
        /// What is wrong, with the line and column when serde knows them.
        message: String,
    },
    /// The file was written by a newer (or unknown) kaudit.
    #[error(
        "checkpoint file `{}` has format version {found}, this kaudit reads version {FILE_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// The checkpoint belongs to another source.
    #[error(
        "checkpoint{} belongs to `{found}`, not to `{expected}`: use another checkpoint file or start with `--start now`",
        display_path(path.as_deref())
    )]
    IdentityMismatch {
        /// The file, if the checkpoint came from one.
        path: Option<PathBuf>,
        /// The identity of the source that is starting.
        expected: String,
        /// The identity stored in the checkpoint.
        found: String,
    },
    /// The identity matches but the source cannot read the position.
    #[error("checkpoint position is invalid for `{identity}`: {message}")]
    Position {
        /// The source identity.
        identity: String,
        /// What is wrong.
        message: String,
    },
}

fn display_path(path: Option<&Path>) -> String {
    path.map(|p| format!(" file `{}`", p.display()))
        .unwrap_or_default()
}

/// Persists checkpoints by source identity.
///
/// Stores are synchronous: a save is one small file write, done every few seconds by the
/// engine. Call them from `spawn_blocking` if that matters to your runtime.
pub trait CheckpointStore: Send + Sync + fmt::Debug {
    /// The last checkpoint saved for `identity`, or `None` when there is none.
    ///
    /// A stored checkpoint of a *different* identity is an error
    /// ([`CheckpointError::IdentityMismatch`]), never silently ignored.
    fn load(&self, identity: &SourceIdentity) -> Result<Option<Checkpoint>, CheckpointError>;

    /// Saves `checkpoint` durably, replacing the previous one of the same identity.
    fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError>;
}

/// Checkpoints kept in memory (tests, one-shot runs).
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    map: Mutex<HashMap<SourceIdentity, Checkpoint>>,
}

impl MemoryCheckpointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CheckpointStore for MemoryCheckpointStore {
    fn load(&self, identity: &SourceIdentity) -> Result<Option<Checkpoint>, CheckpointError> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(identity).cloned())
    }

    fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // Materialise lazy positions now, so the stored value no longer shares live state.
        let owned = Checkpoint::new(
            Arc::new(checkpoint.identity().clone()),
            checkpoint.position(),
        );
        map.insert(checkpoint.identity().clone(), owned);
        Ok(())
    }
}

/// One checkpoint in one file, written atomically.
///
/// The file is JSON:
///
/// ```json
/// {"format":"kaudit-checkpoint","version":1,"saved_at_ms":1764270000000,
///  "identity":{"kind":"cloudwatch","attributes":{"log_group":"/aws/eks/prod/cluster",
///  "region":"eu-west-1","stream_prefix":"kube-apiserver-audit"}},
///  "position":{...source-specific...}}
/// ```
///
/// `save` writes `<file>.tmp`, fsyncs it, renames it over `<file>` and fsyncs the directory,
/// so a crash leaves either the old or the new checkpoint, never a torn one.
#[derive(Debug, Clone)]
pub struct FileCheckpointStore {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct FileWire {
    format: String,
    version: u64,
    #[serde(default)]
    saved_at_ms: i64,
    identity: SourceIdentity,
    position: Value,
}

impl FileCheckpointStore {
    /// A store that keeps its checkpoint in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileCheckpointStore { path: path.into() }
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks, without touching the checkpoint itself, that [`CheckpointStore::save`] will be
    /// able to write: the temporary file beside it can be created in its directory (and is
    /// removed again). Call it at start-up so a read-only or missing directory is reported
    /// before any event is read, not at the first commit.
    pub fn check_writable(&self) -> Result<(), CheckpointError> {
        if self.path.is_dir() {
            return Err(self.io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "the checkpoint path is a directory",
            )));
        }
        let mut probe = self.path.file_name().unwrap_or_default().to_owned();
        probe.push(".tmp");
        let probe = self.path.with_file_name(probe);
        File::create(&probe).map_err(|e| self.io(e))?;
        fs::remove_file(&probe).map_err(|e| self.io(e))?;
        Ok(())
    }

    fn io(&self, error: std::io::Error) -> CheckpointError {
        CheckpointError::Io {
            path: self.path.clone(),
            error,
        }
    }
}

impl CheckpointStore for FileCheckpointStore {
    fn load(&self, identity: &SourceIdentity) -> Result<Option<Checkpoint>, CheckpointError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let corrupt = |message: String| CheckpointError::Corrupt {
            path: Some(self.path.clone()),
            message,
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if value.get("format").and_then(Value::as_str) != Some(FILE_FORMAT) {
            return Err(corrupt(format!("missing `\"format\": \"{FILE_FORMAT}\"`")));
        }
        let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version != u64::from(FILE_VERSION) {
            return Err(CheckpointError::UnsupportedVersion {
                path: self.path.clone(),
                found: version,
            });
        }
        let wire: FileWire = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        if wire.identity != *identity {
            return Err(CheckpointError::IdentityMismatch {
                path: Some(self.path.clone()),
                expected: identity.to_string(),
                found: wire.identity.to_string(),
            });
        }
        Ok(Some(Checkpoint::new(
            Arc::new(wire.identity),
            wire.position,
        )))
    }

    fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let wire = FileWire {
            format: FILE_FORMAT.to_owned(),
            version: u64::from(FILE_VERSION),
            saved_at_ms: crate::time::now_ms(),
            identity: checkpoint.identity().clone(),
            position: checkpoint.position(),
        };
        let mut text = serde_json::to_vec(&wire).map_err(|e| CheckpointError::Corrupt {
            path: Some(self.path.clone()),
            message: e.to_string(),
        })?;
        text.push(b'\n');
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_owned();
        tmp_name.push(".tmp");
        let tmp = self.path.with_file_name(tmp_name);
        let mut file = File::create(&tmp).map_err(|e| self.io(e))?;
        file.write_all(&text).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Make the rename itself durable.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cw(group: &str) -> SourceIdentity {
        SourceIdentity::new("cloudwatch")
            .with("region", "eu-west-1")
            .with("log_group", group)
            .with("stream_prefix", "kube-apiserver-audit")
    }

    #[test]
    fn file_store_round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path().join("cp.json"));
        let id = cw("/aws/eks/a/cluster");
        assert!(store.load(&id).unwrap().is_none());
        let cp = Checkpoint::new(Arc::new(id.clone()), json!({"watermark_ms": 5}));
        store.save(&cp).unwrap();
        assert_eq!(store.load(&id).unwrap().unwrap(), cp);
        let cp2 = Checkpoint::new(Arc::new(id.clone()), json!({"watermark_ms": 9}));
        store.save(&cp2).unwrap();
        assert_eq!(
            store.load(&id).unwrap().unwrap().position(),
            json!({"watermark_ms": 9})
        );
        assert!(!dir.path().join("cp.json.tmp").exists());
        let text = fs::read_to_string(dir.path().join("cp.json")).unwrap();
        assert!(
            text.starts_with(r#"{"format":"kaudit-checkpoint","version":1,"#),
            "{text}"
        );
    }

    #[test]
    fn file_store_rejects_other_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let store = FileCheckpointStore::new(&path);
        let a = cw("/aws/eks/a/cluster");
        store
            .save(&Checkpoint::new(Arc::new(a), json!({})))
            .unwrap();
        let err = store.load(&cw("/aws/eks/b/cluster")).unwrap_err();
        assert!(matches!(err, CheckpointError::IdentityMismatch { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "checkpoint file `{}` belongs to `cloudwatch(log_group=/aws/eks/a/cluster, region=eu-west-1, stream_prefix=kube-apiserver-audit)`, not to `cloudwatch(log_group=/aws/eks/b/cluster, region=eu-west-1, stream_prefix=kube-apiserver-audit)`: use another checkpoint file or start with `--start now`",
                path.display()
            )
        );
    }

    #[test]
    fn file_store_rejects_other_version_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let store = FileCheckpointStore::new(&path);
        fs::write(&path, r#"{"format":"kaudit-checkpoint","version":7}"#).unwrap();
        let err = store.load(&cw("g")).unwrap_err();
        assert!(
            matches!(err, CheckpointError::UnsupportedVersion { found: 7, .. }),
            "{err}"
        );
        fs::write(&path, "{\"format\": ").unwrap();
        let err = store.load(&cw("g")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "checkpoint file `{}` is corrupt: EOF while parsing a value at line 1 column 11",
                path.display()
            )
        );
    }

    #[test]
    fn memory_store_is_keyed_by_identity() {
        let store = MemoryCheckpointStore::new();
        let a = cw("a");
        let b = cw("b");
        let cp = Checkpoint::new(Arc::new(a.clone()), json!({"offset": 3}));
        store.save(&cp).unwrap();
        assert_eq!(store.load(&a).unwrap(), Some(cp));
        assert_eq!(store.load(&b).unwrap(), None);
    }

    #[test]
    fn checkpoint_json_round_trip_and_identity_check() {
        let id = SourceIdentity::new("file").with("path", "/x");
        let cp = Checkpoint::new(Arc::new(id.clone()), json!({"offset": 10}));
        let text = cp.to_json();
        assert_eq!(
            text,
            r#"{"identity":{"kind":"file","attributes":{"path":"/x"}},"position":{"offset":10}}"#
        );
        let back = Checkpoint::from_json(&text).unwrap();
        assert_eq!(back, cp);
        assert!(back.check_identity(&id).is_ok());
        let err = back
            .check_identity(&SourceIdentity::new("file").with("path", "/y"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "checkpoint belongs to `file(path=/x)`, not to `file(path=/y)`: use another checkpoint file or start with `--start now`"
        );
    }
}
