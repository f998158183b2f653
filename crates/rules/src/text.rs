//! Falco's text-level rewrites of conditions, done before parsing: list substitution and
//! exceptions. Both are deliberately naive (no escaping beyond quoting items that contain a
//! space), because rules in the wild depend on exactly this behaviour (falco-compat.md §2.4,
//! §2.6).

use super::collect::{Entry, ExceptionInfo, is_list_operator};

/// Falco's `quote_item`: an item containing a space and not starting with a quote gets `"…"`.
pub(crate) fn quote_item(item: &str) -> String {
    if item.contains(' ') && !item.starts_with('"') && !item.starts_with('\'') {
        format!("\"{item}\"")
    } else {
        item.to_owned()
    }
}

/// Falco's `paren_item`: wraps in `( )` unless it already starts with `(`.
fn paren_item(item: &str) -> String {
    if item.starts_with('(') {
        item.to_owned()
    } else {
        format!("({item})")
    }
}

const BLANKS: &[u8] = b" \t\n\r";
const DELIMS: &[u8] = b" \t\n\r(),=";

/// Replaces every delimited occurrence of the list `name` in `cond` by its items joined with
/// `", "` (Falco `resolve_list`). Returns whether the list was used.
pub(crate) fn substitute_list(cond: &mut String, name: &str, items: &[String]) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut used = false;
    let mut start = find_from(cond, name, 0);
    while let Some(mut s) = start {
        let bytes = cond.as_bytes();
        let mut end = s + name.len();
        let before_ok = s == 0 || DELIMS.contains(&bytes[s - 1]);
        let after_ok = end >= bytes.len() || DELIMS.contains(&bytes[end]);
        let mut next_from = s + 1;
        if before_ok && after_ok {
            while s > 0 && BLANKS.contains(&bytes[s - 1]) {
                s -= 1;
            }
            while end < bytes.len() && BLANKS.contains(&bytes[end]) {
                end += 1;
            }
            let sub = items
                .iter()
                .map(|i| quote_item(i))
                .collect::<Vec<_>>()
                .join(", ");
            if sub.is_empty() {
                if s > 0 && bytes[s - 1] == b',' {
                    s -= 1;
                } else if end < bytes.len() && bytes[end] == b',' {
                    end += 1;
                }
            }
            let mut new = String::with_capacity(cond.len() + sub.len() + 2);
            if s > 0 {
                new.push_str(&cond[..s]);
                new.push(' ');
            }
            new.push_str(&sub);
            new.push(' ');
            if end <= cond.len() {
                new.push_str(&cond[end..]);
            }
            *cond = new;
            // Falco continues searching at `start + sub.len() + 1`, plus one.
            next_from = s + sub.len() + 2;
            used = true;
        }
        start = find_from(cond, name, next_from);
    }
    used
}

/// `str::find` from a byte offset, tolerant of offsets past the end or inside a character.
fn find_from(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let bytes = hay.as_bytes();
    if from > bytes.len() {
        return None;
    }
    let needle = needle.as_bytes();
    bytes[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// An exception that cannot be turned into text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExceptionTextError {
    pub(crate) message: &'static str,
    /// Which exception.
    pub(crate) index: usize,
}

/// Falco `build_rule_exception_infos`: `(<cond>) and not (<exc1>) and not (<exc2>)...`.
pub(crate) fn apply_exceptions(
    cond: &str,
    exceptions: &[ExceptionInfo],
) -> Result<String, ExceptionTextError> {
    let mut out = format!("({cond})");
    for (index, ex) in exceptions.iter().enumerate() {
        let mut icond = String::new();
        if !ex.fields.is_list() {
            for val in &ex.values {
                if val.is_list() {
                    return Err(ExceptionTextError {
                        message: "Expected values array to contain a list of strings",
                        index,
                    });
                }
                if icond.is_empty() {
                    icond.push('(');
                    icond.push_str(ex.fields.item());
                    icond.push(' ');
                    icond.push_str(ex.comps.item());
                    icond.push_str(" (");
                } else {
                    icond.push_str(", ");
                }
                icond.push_str(&quote_item(val.item()));
            }
            if !icond.is_empty() {
                icond.push_str("))");
            }
        } else {
            icond.push('(');
            for values in &ex.values {
                if ex.fields.items().len() != values.items().len() {
                    return Err(ExceptionTextError {
                        message: "Fields and values lists must have equal length",
                        index,
                    });
                }
                if icond != "(" {
                    icond.push_str(" or ");
                }
                icond.push('(');
                for (k, field) in ex.fields.items().iter().enumerate() {
                    if k > 0 {
                        icond.push_str(" and ");
                    }
                    let comp = ex.comps.items().get(k).map_or("", Entry::item);
                    let value = &values.items()[k];
                    let istr = value_text(value, comp);
                    icond.push(' ');
                    icond.push_str(field.item());
                    icond.push(' ');
                    icond.push_str(comp);
                    icond.push(' ');
                    icond.push_str(&istr);
                }
                icond.push(')');
            }
            icond.push(')');
            if icond == "()" {
                icond.clear();
            }
        }
        if !icond.is_empty() {
            out.push_str(" and not ");
            out.push_str(&icond);
        }
    }
    Ok(out)
}

fn value_text(value: &Entry, comp: &str) -> String {
    if value.is_list() {
        let inner = value
            .items()
            .iter()
            .map(|v| quote_item(v.item()))
            .collect::<Vec<_>>()
            .join(", ");
        format!("({inner})")
    } else if is_list_operator(comp) {
        paren_item(value.item())
    } else {
        quote_item(value.item())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Ctx;

    fn subst(cond: &str, name: &str, items: &[&str]) -> String {
        let mut c = cond.to_owned();
        let items: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
        substitute_list(&mut c, name, &items);
        c
    }

    #[test]
    fn substitutes_inside_parentheses() {
        assert_eq!(
            subst(
                "proc.name in (shell_binaries)",
                "shell_binaries",
                &["ash", "bash"]
            ),
            "proc.name in ( ash, bash )"
        );
    }

    #[test]
    fn swallows_blanks_and_quotes_items_with_spaces() {
        assert_eq!(
            subst("x in (a, l , b)", "l", &["p q", "r"]),
            "x in (a, \"p q\", r , b)"
        );
    }

    #[test]
    fn empty_list_removes_a_comma() {
        assert_eq!(subst("x in (a, l)", "l", &[]), "x in (a  )");
        assert_eq!(subst("x in (l)", "l", &[]), "x in (  )");
    }

    #[test]
    fn only_delimited_occurrences() {
        assert_eq!(subst("x = lx and y = l", "l", &["v"]), "x = lx and y = v ");
        assert_eq!(subst("l", "l", &["v", "w"]), "v, w ");
    }

    #[test]
    fn exceptions_become_text() {
        let ex = ExceptionInfo {
            name: "e".to_owned(),
            fields: Entry::List(vec![Entry::scalar("proc.name"), Entry::scalar("fd.name")]),
            comps: Entry::List(vec![Entry::scalar("="), Entry::scalar("in")]),
            values: vec![Entry::List(vec![
                Entry::scalar("cat"),
                Entry::scalar("/a b"),
            ])],
            ctx: Ctx::default(),
        };
        assert_eq!(
            apply_exceptions("evt.type = open", &[ex]).unwrap(),
            "(evt.type = open) and not (( proc.name = cat and  fd.name in (/a b)))"
        );
        let single = ExceptionInfo {
            name: "s".to_owned(),
            fields: Entry::scalar("proc.name"),
            comps: Entry::scalar("in"),
            values: vec![Entry::scalar("a"), Entry::scalar("b c")],
            ctx: Ctx::default(),
        };
        assert_eq!(
            apply_exceptions("c", &[single]).unwrap(),
            "(c) and not (proc.name in (a, \"b c\"))"
        );
    }
}
