//! `application/json` with field paths (`customer.email`, `items[].note`).
//!
//! Parsing goes through a seed that refuses duplicate keys and documents deeper than the limit while
//! it reads, so a hostile body is rejected before it is ever held whole as a tree.

use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{CodecLimits, FormError, Leaf, Output};

/// A parsed JSON body and its leaves in document order.
pub struct Document {
    pub root: Value,
}

pub fn parse(body: &[u8], limits: &CodecLimits) -> Result<(Document, Vec<Leaf>), FormError> {
    let mut state = State {
        max_depth: limits.max_json_depth,
        max_fields: limits.max_fields,
        leaves: 0,
        error: None,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Seed {
        depth: 0,
        st: &mut state,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    let root = match parsed {
        Ok(v) => v,
        Err(e) => {
            return Err(state.error.unwrap_or_else(|| {
                if e.is_eof() || e.is_syntax() || e.is_data() {
                    FormError::malformed(format!(
                        "malformed JSON at line {} column {}",
                        e.line(),
                        e.column()
                    ))
                } else {
                    FormError::malformed("malformed JSON")
                }
            }))
        }
    };
    let mut leaves = Vec::new();
    collect(&root, &mut String::new(), &mut leaves);
    Ok((Document { root }, leaves))
}

impl Document {
    pub fn encode(mut self, outputs: &[Output]) -> Bytes {
        let mut it = outputs.iter();
        rewrite(&mut self.root, &mut it);
        Bytes::from(serde_json::to_vec(&self.root).expect("a JSON value always serializes"))
    }
}

struct State {
    max_depth: usize,
    max_fields: usize,
    leaves: usize,
    error: Option<FormError>,
}

struct Seed<'a> {
    depth: usize,
    st: &'a mut State,
}

impl Seed<'_> {
    fn fail<E: serde::de::Error>(&mut self, err: FormError) -> E {
        let msg = err.message.clone();
        self.st.error = Some(err);
        E::custom(msg)
    }
    fn leaf<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.st.leaves += 1;
        if self.st.leaves > self.st.max_fields {
            let max = self.st.max_fields;
            return Err(self.fail(FormError::too_many_fields(max)));
        }
        Ok(())
    }
    fn enter<E: serde::de::Error>(&mut self) -> Result<usize, E> {
        if self.depth + 1 > self.st.max_depth {
            let max = self.st.max_depth;
            return Err(self.fail(FormError::new(
                "json_too_deep",
                format!("JSON nesting exceeds {max} levels"),
            )));
        }
        Ok(self.depth + 1)
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(mut self, v: bool) -> Result<Value, E> {
        self.leaf()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(mut self, v: i64) -> Result<Value, E> {
        self.leaf()?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: serde::de::Error>(mut self, v: u64) -> Result<Value, E> {
        self.leaf()?;
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(mut self, v: f64) -> Result<Value, E> {
        self.leaf()?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<Value, E> {
        self.leaf()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(mut self, v: String) -> Result<Value, E> {
        self.leaf()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: serde::de::Error>(mut self) -> Result<Value, E> {
        self.leaf()?;
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.enter()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed { depth, st: self.st })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.enter()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(self.fail(FormError::duplicate(&key)));
            }
            let v = map.next_value_seed(Seed { depth, st: self.st })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn collect(v: &Value, path: &mut String, out: &mut Vec<Leaf>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                collect(child, path, out);
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            let len = path.len();
            path.push_str("[]");
            for child in a {
                collect(child, path, out);
            }
            path.truncate(len);
        }
        Value::String(s) => out.push(Leaf {
            path: path.clone(),
            value: s.clone(),
        }),
        Value::Null => out.push(Leaf {
            path: path.clone(),
            value: String::new(),
        }),
        other => out.push(Leaf {
            path: path.clone(),
            value: other.to_string(),
        }),
    }
}

/// Applies outputs in document order; returns whether `v` stays. A container emptied by drops goes too.
fn rewrite<'o>(v: &mut Value, it: &mut impl Iterator<Item = &'o Output>) -> bool {
    match v {
        Value::Object(m) => {
            let was_empty = m.is_empty();
            m.retain(|_, child| rewrite(child, it));
            was_empty || !m.is_empty()
        }
        Value::Array(a) => {
            let was_empty = a.is_empty();
            a.retain_mut(|child| rewrite(child, it));
            was_empty || !a.is_empty()
        }
        leaf => match it.next() {
            Some(Output::Keep) | None => true,
            Some(Output::Replace(s)) => {
                *leaf = Value::String(s.clone());
                true
            }
            Some(Output::Drop) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: CodecLimits = CodecLimits {
        max_fields: 16,
        max_json_depth: 4,
        max_parts: 4,
        max_body_bytes: 1 << 20,
    };

    #[test]
    fn paths_and_rewrite_keep_order_and_types() {
        let body = br#"{"customer":{"email":"a@b.ru","age":30},"items":[{"note":"x","qty":2},{"note":"y","qty":1}],"ok":true}"#;
        let (doc, leaves) = parse(body, &L).unwrap();
        let paths: Vec<_> = leaves.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "customer.email",
                "customer.age",
                "items[].note",
                "items[].qty",
                "items[].note",
                "items[].qty",
                "ok"
            ]
        );
        let outs = [
            Output::Replace("t-1@r".into()),
            Output::Keep,
            Output::Drop,
            Output::Keep,
            Output::Replace("tok_y".into()),
            Output::Keep,
            Output::Keep,
        ];
        let out = doc.encode(&outs);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"customer":{"email":"t-1@r","age":30},"items":[{"qty":2},{"note":"tok_y","qty":1}],"ok":true}"#
        );
    }

    #[test]
    fn containers_emptied_by_drops_go() {
        let (doc, leaves) = parse(br#"{"a":{"b":"x"},"c":[],"d":"y"}"#, &L).unwrap();
        assert_eq!(leaves.len(), 2);
        let out = doc.encode(&[Output::Drop, Output::Keep]);
        assert_eq!(&out[..], br#"{"c":[],"d":"y"}"#);
    }

    #[test]
    fn refuses_bad_input_with_codes() {
        assert_eq!(
            parse(br#"{"a":1,"a":2}"#, &L).err().unwrap().code,
            "duplicate_field"
        );
        assert_eq!(
            parse(br#"[[[[["deep"]]]]]"#, &L).err().unwrap().code,
            "json_too_deep"
        );
        assert_eq!(
            parse(br#"{"a":1"#, &L).err().unwrap().code,
            "malformed_body"
        );
        assert_eq!(
            parse(br#"{"a":1} x"#, &L).err().unwrap().code,
            "malformed_body"
        );
        assert_eq!(parse(b"\"\xff\"", &L).err().unwrap().code, "malformed_body");
        let many = format!("[{}]", vec!["1"; 17].join(","));
        assert_eq!(
            parse(many.as_bytes(), &L).err().unwrap().code,
            "too_many_fields"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(&body, &L);
        }

        #[test]
        fn keep_all_is_identity(s in "[a-z]{0,8}", n in 0i64..1000) {
            let body = serde_json::json!({"s": s, "n": n, "l": [s.clone(), n]}).to_string();
            let (doc, leaves) = parse(body.as_bytes(), &L).unwrap();
            let outs = vec![Output::Keep; leaves.len()];
            proptest::prop_assert_eq!(&doc.encode(&outs)[..], body.as_bytes());
        }
    }
}
