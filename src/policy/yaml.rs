//! YAML to a JSON tree plus a line for every path, so that serde does the typing and every error
//! — structural or semantic — can still say `file:line`.

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A parsed document: the tree and the 1-based line of each path (`routes[0].fields.email`).
#[derive(Debug, Default)]
pub struct Doc {
    pub root: Value,
    pub lines: HashMap<String, usize>,
}

impl Doc {
    /// The line of `path` or of its nearest ancestor that has one.
    pub fn line(&self, path: &str) -> usize {
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
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Doc, SyntaxError> {
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

enum Frame {
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        path: String,
        anchor: usize,
    },
    Seq {
        items: Vec<Value>,
        path: String,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    lines: HashMap<String, usize>,
    anchors: HashMap<usize, Value>,
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

    fn insert(&mut self, v: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Map { map, key, .. }) => {
                if let Some(k) = key.take() {
                    map.insert(k, v);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(v),
        }
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
            Event::Scalar(s, style, anchor, _) => {
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
                let v = if style == TScalarStyle::Plain {
                    plain_scalar(&s)
                } else {
                    Value::String(s)
                };
                self.insert(v, anchor);
            }
            Event::MappingStart(anchor, _) => {
                let path = self.child_path();
                self.lines.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    path,
                    anchor,
                });
            }
            Event::SequenceStart(anchor, _) => {
                let path = self.child_path();
                self.lines.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                });
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { map, anchor, .. }) = self.stack.pop() {
                    self.insert(Value::Object(map), anchor);
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, anchor, .. }) = self.stack.pop() {
                    self.insert(Value::Array(items), anchor);
                }
            }
            Event::Alias(id) => {
                let v = self.anchors.get(&id).cloned().unwrap_or(Value::Null);
                let p = self.child_path();
                self.lines.entry(p).or_insert(line);
                self.insert(v, 0);
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
    fn anchors_resolve() {
        let doc = parse("x: &r {a: 1}\ny: *r\n").unwrap();
        assert_eq!(doc.root["y"], serde_json::json!({"a": 1}));
    }
}
