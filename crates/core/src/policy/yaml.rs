//! YAML to a JSON tree plus a line for every path, so that serde does the typing and every error
//! — structural or semantic — can still say `file:line`.

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A parsed document: the tree and the 1-based line of each path (`routes[0].fields.email`).
#[derive(Debug, Default)]
pub(super) struct Doc {
    pub root: Value,
    pub lines: HashMap<String, usize>,
}

impl Doc {
    /// The line of `path` or of its nearest ancestor that has one.
    pub(super) fn line(&self, path: &str) -> usize {
        let mut p = path;
        loop {
            if let Some(&l) = self.lines.get(p) {
                return l;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return 1,
            }
        }
    }
}

/// A YAML syntax error with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

pub(super) fn parse(text: &str) -> Result<Doc, SyntaxError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, false).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: e.info().to_owned(),
    })?;
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(Doc {
        root: b.root.unwrap_or(Value::Null),
        lines: b.lines,
    })
}

/// Most nodes a document may expand to, aliases counted as the nodes they copy: a policy is a few
/// thousand, and a nest of aliases (a "billion laughs") must not take the memory of the process.
const MAX_NODES: usize = 200_000;

enum Frame {
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        path: String,
        anchor: usize,
        /// Nodes in this container so far, itself included.
        size: usize,
    },
    Seq {
        items: Vec<Value>,
        path: String,
        anchor: usize,
        size: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    lines: HashMap<String, usize>,
    /// Anchored values and their node counts.
    anchors: HashMap<usize, (Value, usize)>,
    /// Nodes built so far (see [`MAX_NODES`]).
    nodes: usize,
    error: Option<SyntaxError>,
}

impl Builder {
    /// Path of the next child of the innermost container.
    fn child_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Map { key, path, .. }) => join(path, key.as_deref().unwrap_or_default()),
            Some(Frame::Seq { items, path, .. }) => format!("{path}[{}]", items.len()),
        }
    }

    /// Adds `v` (of `size` nodes) to the innermost container, remembering it under `anchor`.
    fn insert(&mut self, v: Value, size: usize, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Map {
                map, key, size: s, ..
            }) => {
                *s += size;
                if let Some(k) = key.take() {
                    map.insert(k, v);
                }
            }
            Some(Frame::Seq { items, size: s, .. }) => {
                *s += size;
                items.push(v);
            }
        }
    }

    /// A scalar: a key of the innermost map (when it waits for one) or a value.
    fn scalar(&mut self, s: String, style: TScalarStyle, anchor: usize, line: usize) {
        if let Some(Frame::Map {
            map,
            key: key @ None,
            path,
            ..
        }) = self.stack.last_mut()
        {
            let p = join(path, &s);
            if map.contains_key(&s) && self.error.is_none() {
                self.error = Some(SyntaxError {
                    line,
                    message: format!("duplicate key `{s}`"),
                });
            }
            self.lines.insert(p, line);
            *key = Some(s);
            return;
        }
        let p = self.child_path();
        self.lines.entry(p).or_insert(line);
        self.grow(1, line);
        let v = if style == TScalarStyle::Plain {
            plain_scalar(&s)
        } else {
            Value::String(s)
        };
        self.insert(v, 1, anchor);
    }

    /// Counts `n` more nodes; past [`MAX_NODES`] the document is refused.
    fn grow(&mut self, n: usize, line: usize) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES && self.error.is_none() {
            self.error = Some(SyntaxError {
                line,
                message: format!(
                    "the document expands to more than {MAX_NODES} nodes (nested aliases?)"
                ),
            });
        }
        self.error.is_none()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(s, style, anchor, _) => self.scalar(s, style, anchor, line),
            Event::MappingStart(anchor, _) => {
                self.grow(1, line);
                let path = self.child_path();
                self.lines.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    path,
                    anchor,
                    size: 1,
                });
            }
            Event::SequenceStart(anchor, _) => {
                self.grow(1, line);
                let path = self.child_path();
                self.lines.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                    size: 1,
                });
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    map, anchor, size, ..
                }) = self.stack.pop()
                {
                    self.insert(Value::Object(map), size, anchor);
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    anchor,
                    size,
                    ..
                }) = self.stack.pop()
                {
                    self.insert(Value::Array(items), size, anchor);
                }
            }
            Event::Alias(id) => {
                let size = self.anchors.get(&id).map_or(1, |(_, n)| *n);
                // Past the limit the copy is not made: the document is refused anyway.
                let v = match self.grow(size, line) {
                    true => self
                        .anchors
                        .get(&id)
                        .map_or(Value::Null, |(v, _)| v.clone()),
                    false => Value::Null,
                };
                let p = self.child_path();
                self.lines.entry(p).or_insert(line);
                self.insert(v, size, 0);
            }
            _ => {}
        }
    }
}

/// YAML 1.2 core schema for plain scalars.
fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    if s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        if let Ok(f) = s.parse::<f64>() {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_and_lines() {
        let doc = parse("a: 1\nb:\n  - {id: x, n: 'y'}\n  - id: z\n    t: true\nc: P3Y\n").unwrap();
        assert_eq!(
            doc.root,
            serde_json::json!({"a": 1, "b": [{"id": "x", "n": "y"}, {"id": "z", "t": true}], "c": "P3Y"})
        );
        assert_eq!(doc.line("a"), 1);
        assert_eq!(doc.line("b[0].id"), 3);
        assert_eq!(doc.line("b[1].t"), 5);
        assert_eq!(doc.line("b[1].missing"), 4);
        assert_eq!(doc.line("c"), 6);
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_lines() {
        assert_eq!(parse("a: 1\nb: 2\na: 3\n").unwrap_err().line, 3);
        assert!(parse("a: [1, 2\nb: 3\n").is_err());
    }

    #[test]
    fn nested_aliases_cannot_expand_without_bound() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
            let prev = ["a", "b", "c", "d", "e", "f", "g"][i];
            bomb.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            ));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("expands to more than"), "{e:?}");
        // A modest reuse of anchors is fine.
        let ok = parse("a: &a [x, y]\nb: [*a, *a]\n").unwrap();
        assert_eq!(ok.root["b"][1][1], "y");
    }

    #[test]
    fn anchors_resolve() {
        let doc = parse("x: &r {a: 1}\ny: *r\n").unwrap();
        assert_eq!(doc.root["y"], serde_json::json!({"a": 1}));
    }
}
