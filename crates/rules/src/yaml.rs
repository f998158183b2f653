//! A small YAML node tree with positions, built from `saphyr-parser` events.
//!
//! Falco reads rules with yaml-cpp and takes every scalar as its literal text (`010` stays
//! `"010"`, `yes` stays `"yes"` until something asks for a boolean). This tree does the same:
//! a scalar is its (unquoted, folded) text plus its style, never a typed value. Aliases are
//! resolved by copying the anchored node, with a cap on the total size so that "billion laughs"
//! documents fail instead of eating memory.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deepest nesting of sequences and mappings accepted (deeper input is a parse error).
const MAX_DEPTH: usize = 256;
/// Most nodes a file may expand to, aliases included.
const MAX_NODES: usize = 2_000_000;

/// A position in the rules text: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos {
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col().saturating_add(1)).unwrap_or(u32::MAX),
        }
    }
}

/// One YAML node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where the node starts.
    pub pos: Pos,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// `~`, `null`, `Null`, `NULL` or an empty plain scalar (yaml-cpp `IsNull`).
    Null,
    /// Any other scalar: its text, exactly as written once quoting and folding are undone.
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (duplicate keys kept; lookups take the first).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text, if this is a (non-null) scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// `item[key]` as yaml-cpp does it: the value of the first entry whose key is the scalar
    /// `key`. `None` means "not defined".
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether this is a null node.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }
}

/// A YAML syntax error with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// The parser's message (yaml-cpp's wording where users know it).
    pub message: String,
    /// Where the problem is.
    pub pos: Pos,
}

/// Parses every document of `text`. A document that is empty (or only a null) is `Null`.
///
/// # Errors
/// A [`YamlError`] for invalid YAML, nesting deeper than 256 levels, or alias expansion past
/// two million nodes.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut fixed: Option<String> = None;
    let mut shifts: HashMap<u32, u32> = HashMap::new();
    for _ in 0..MAX_REINDENTS {
        let current = fixed.as_deref().unwrap_or(text);
        match parse_once(current, &shifts) {
            Err((err, raw)) if raw.starts_with("invalid indentation") => {
                match reindent(current, err.pos.line, &mut shifts) {
                    Some(next) => fixed = Some(next),
                    None => return Err(err),
                }
            }
            Err((err, _)) => return Err(err),
            Ok(docs) => return Ok(docs),
        }
    }
    parse_once(fixed.as_deref().unwrap_or(text), &shifts).map_err(|(e, _)| e)
}

/// How many under-indented flow lines [`parse_documents`] re-indents before giving up.
const MAX_REINDENTS: usize = 64;

/// yaml-cpp (and so Falco) accepts flow collections whose continuation lines are not indented
/// past the enclosing block, as in
///
/// ```yaml
///   items: [
///     "a",
///   ]
/// ```
///
/// YAML 1.2 (and saphyr) rejects that closing `]`. Whitespace inside a flow collection carries
/// no meaning, so the offending line is indented further and the text parsed again; `shifts`
/// remembers the added columns so positions still point into the original text. Only lines
/// that start with a flow indicator or continue a flow collection are touched.
fn reindent(text: &str, line: u32, shifts: &mut HashMap<u32, u32>) -> Option<String> {
    let idx = usize::try_from(line).ok()?.checked_sub(1)?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let target = lines.get(idx)?;
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let trimmed = target.trim_start_matches(' ');
    let prev = lines[..idx]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .copied()
        .unwrap_or("");
    let prev_trimmed = prev.trim_end();
    let in_flow = trimmed.starts_with([']', '}', ','])
        || prev_trimmed.ends_with([',', '[', '{'])
        || prev_trimmed.ends_with("\",");
    if !in_flow {
        return None;
    }
    let add = (indent(prev) + 2).saturating_sub(indent(target)).max(1);
    let add_u32 = u32::try_from(add).ok()?;
    *shifts.entry(line).or_insert(0) += add_u32;
    let mut out = String::with_capacity(text.len() + add);
    for (i, l) in lines.iter().enumerate() {
        if i == idx {
            out.extend(std::iter::repeat_n(' ', add));
        }
        out.push_str(l);
    }
    Some(out)
}

fn parse_once(text: &str, shifts: &HashMap<u32, u32>) -> Result<Vec<Node>, (YamlError, String)> {
    let mut builder = Builder::default_with(shifts);
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(|e| {
            let pos = Pos {
                line: u32::try_from(e.marker().line()).unwrap_or(u32::MAX),
                column: u32::try_from(e.marker().col().saturating_add(1)).unwrap_or(u32::MAX),
            };
            (
                YamlError {
                    message: yaml_cpp_message(e.info()),
                    pos: unshift(pos, shifts),
                },
                e.info().to_owned(),
            )
        })?;
        builder
            .event(event, &span)
            .map_err(|e| (e, String::new()))?;
    }
    Ok(builder.docs)
}

fn unshift(pos: Pos, shifts: &HashMap<u32, u32>) -> Pos {
    match shifts.get(&pos.line) {
        Some(&s) if pos.column > s => Pos {
            line: pos.line,
            column: pos.column - s,
        },
        _ => pos,
    }
}

/// Rewords the parser messages whose yaml-cpp wording users (and Falco's tests) know.
fn yaml_cpp_message(info: &str) -> String {
    if info.starts_with("mapping values are not allowed") {
        "illegal map value".to_owned()
    } else {
        info.to_owned()
    }
}

struct Builder<'s> {
    shifts: &'s HashMap<u32, u32>,
    docs: Vec<Node>,
    /// Open collections: the node under construction and, for maps, a pending key.
    stack: Vec<(Node, Option<Node>, usize)>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl<'s> Builder<'s> {
    fn default_with(shifts: &'s HashMap<u32, u32>) -> Self {
        Builder {
            shifts,
            docs: Vec::new(),
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
        }
    }

    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let pos = unshift(Pos::from_span(span), self.shifts);
        match event {
            Event::Scalar(value, style, anchor, _tag) => {
                let kind = if style == ScalarStyle::Plain && is_null_text(&value) {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar(value.into_owned())
                };
                self.push(Node { kind, pos }, anchor)
            }
            Event::SequenceStart(anchor, _) => self.open(
                Node {
                    kind: NodeKind::Seq(Vec::new()),
                    pos,
                },
                anchor,
            ),
            Event::MappingStart(anchor, _) => self.open(
                Node {
                    kind: NodeKind::Map(Vec::new()),
                    pos,
                },
                anchor,
            ),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some((node, _, anchor)) => self.push(node, anchor),
                None => Ok(()),
            },
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(YamlError {
                        message: "the alias names no anchor".to_owned(),
                        pos,
                    });
                };
                self.nodes = self.nodes.saturating_add(count(&node));
                if self.nodes > MAX_NODES {
                    return Err(YamlError {
                        message: "the document expands to too many nodes".to_owned(),
                        pos,
                    });
                }
                self.push(node, 0)
            }
            Event::DocumentEnd => {
                // An empty document produces no node; keep one Null per document.
                Ok(())
            }
            Event::DocumentStart(_) => {
                self.docs.push(Node {
                    kind: NodeKind::Null,
                    pos,
                });
                Ok(())
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Ok(()),
        }
    }

    fn open(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError {
                message: format!("the document nests deeper than {MAX_DEPTH} levels"),
                pos: node.pos,
            });
        }
        self.stack.push((node, None, anchor));
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(1);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                message: "the document expands to too many nodes".to_owned(),
                pos: node.pos,
            });
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => match self.docs.last_mut() {
                Some(doc) => *doc = node,
                None => self.docs.push(node),
            },
            Some((parent, pending, _)) => match &mut parent.kind {
                NodeKind::Seq(items) => items.push(node),
                NodeKind::Map(entries) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                NodeKind::Null | NodeKind::Scalar(_) => {}
            },
        }
        Ok(())
    }
}

fn count(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Null | NodeKind::Scalar(_) => 1,
        NodeKind::Seq(items) => items.iter().map(count).fold(1, usize::saturating_add),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| count(k).saturating_add(count(v)))
            .fold(1, usize::saturating_add),
    }
}

/// yaml-cpp's null spellings for plain scalars.
fn is_null_text(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// yaml-cpp's `convert<bool>`: `y/n`, `yes/no`, `true/false`, `on/off`, written all lower case,
/// all upper case, or capitalised.
pub(crate) fn decode_bool(s: &str) -> Option<bool> {
    let mut chars = s.chars();
    let flexible = match chars.next() {
        None => true,
        Some(first) => {
            let rest: String = chars.collect();
            let all_lower = s.chars().all(|c| !c.is_ascii_uppercase());
            let all_upper = s.chars().all(|c| !c.is_ascii_lowercase());
            let capitalised =
                first.is_ascii_uppercase() && !rest.chars().any(|c| c.is_ascii_uppercase());
            all_lower || all_upper || capitalised
        }
    };
    if !flexible {
        return None;
    }
    match s.to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "on" => Some(true),
        "n" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// yaml-cpp's unsigned integer decoding (decimal digits, optionally `0x` hex or `0o` octal),
/// used for `required_engine_version` and `capture_duration`.
pub(crate) fn decode_u64(s: &str) -> Option<u64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    if let Some(hex) = t.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return u64::from_str_radix(oct, 8).ok();
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> &str {
        n.as_str().unwrap_or("<not a scalar>")
    }

    #[test]
    fn scalars_stay_literal_text() {
        let docs = parse_documents("- items: [010, 1.0, yes, \"a b\", ~, '']\n").unwrap();
        assert_eq!(docs.len(), 1);
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!("not a seq")
        };
        let list = items[0].get("items").unwrap();
        let NodeKind::Seq(values) = &list.kind else {
            panic!("not a seq")
        };
        let texts: Vec<Option<&str>> = values.iter().map(Node::as_str).collect();
        assert_eq!(
            texts,
            [
                Some("010"),
                Some("1.0"),
                Some("yes"),
                Some("a b"),
                None,
                Some("")
            ]
        );
        assert!(values[4].is_null());
    }

    #[test]
    fn positions_are_one_based() {
        let docs = parse_documents("\n- rule: x\n  desc: y\n").unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!("not a seq")
        };
        assert_eq!(items[0].pos, Pos { line: 2, column: 3 });
        assert_eq!(
            items[0].get("desc").unwrap().pos,
            Pos { line: 3, column: 9 }
        );
        assert_eq!(scalar(items[0].get("rule").unwrap()), "x");
    }

    #[test]
    fn several_documents_and_empty_ones() {
        let docs = parse_documents("---\n- a: 1\n---\n---\n- b: 2\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[1].is_null());
    }

    #[test]
    fn aliases_are_copied() {
        let docs = parse_documents("- a: &x [p, q]\n  b: *x\n").unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!("not a seq")
        };
        assert_eq!(
            items[0].get("a").map(|n| &n.kind),
            items[0].get("b").map(|n| &n.kind)
        );
    }

    #[test]
    fn billion_laughs_fails() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            let row = vec![prev; 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{row}]\n"));
        }
        let err = parse_documents(&text).unwrap_err();
        assert_eq!(err.message, "the document expands to too many nodes");
    }

    #[test]
    fn deep_nesting_fails() {
        // saphyr-parser stops first; our own limit is the backstop.
        let text = "[".repeat(10_000);
        let err = parse_documents(&text).unwrap_err();
        assert_eq!(err.message, "recursion limit exceeded");
    }

    #[test]
    fn yaml_cpp_wording_for_illegal_map_value() {
        let err = parse_documents("this: is: bad\n").unwrap_err();
        assert_eq!(err.message, "illegal map value");
        assert_eq!(err.pos, Pos { line: 1, column: 9 });
    }

    #[test]
    fn under_indented_flow_closers_are_accepted_like_yaml_cpp() {
        let text = "- list: l\n  items: [\n    \"a\",\n    b\n  ]\n- list: m\n  items: [c,\n  d]\n";
        let docs = parse_documents(text).unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!("not a seq")
        };
        let texts = |n: &Node| match &n.kind {
            NodeKind::Seq(v) => v
                .iter()
                .map(|x| x.as_str().unwrap_or("?").to_owned())
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(texts(items[0].get("items").unwrap()), ["a", "b"]);
        assert_eq!(texts(items[1].get("items").unwrap()), ["c", "d"]);
        // Positions still point into the original text.
        assert_eq!(items[1].pos, Pos { line: 6, column: 3 });
    }

    #[test]
    fn booleans_follow_yaml_cpp() {
        for (t, v) in [
            ("true", true),
            ("Yes", true),
            ("ON", true),
            ("n", false),
            ("Off", false),
        ] {
            assert_eq!(decode_bool(t), Some(v), "{t}");
        }
        for t in ["tRue", "1", "", "maybe"] {
            assert_eq!(decode_bool(t), None, "{t}");
        }
    }

    #[test]
    fn unsigned_integers() {
        assert_eq!(decode_u64("15"), Some(15));
        assert_eq!(decode_u64("0x10"), Some(16));
        assert_eq!(decode_u64("-1"), None);
        assert_eq!(decode_u64("0.15.0"), None);
    }
}
