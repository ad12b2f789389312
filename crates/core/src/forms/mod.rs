//! Body codecs for the three content types a route can declare fields in.
//!
//! Each codec turns a body into *leaves* — `(path, value)` in document order — and writes the body
//! back from one [`Output`] per leaf, keeping everything it did not touch (JSON number types, part
//! headers, file parts, order). Field paths are the names policies use: `email` for forms,
//! `customer.email` and `items[].note` for JSON. Limits and malformed input are reported as
//! [`FormError`]s with stable codes; no codec panics on any input (see the fuzz-style property tests).
//! Multipart bodies stream through a temporary file, so their codec lives at the edge
//! (`pdgate::forms::multipart`).

pub mod json;
pub mod urlencoded;

/// Which codec a content type selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Urlencoded,
    Json,
    Multipart,
}

/// One value in a body, addressed by its policy path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub path: String,
    pub value: String,
}

/// What to write for one leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Keep,
    Replace(String),
    Drop,
}

/// Limits a codec enforces while parsing.
#[derive(Debug, Clone, Copy)]
pub struct CodecLimits {
    pub max_fields: usize,
    pub max_json_depth: usize,
    pub max_parts: usize,
    pub max_body_bytes: u64,
}

/// Why a body was refused; `code` is the stable API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FormError {
    pub code: &'static str,
    pub message: String,
}

impl FormError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new("malformed_body", message)
    }
    pub fn too_many_fields(max: usize) -> Self {
        Self::new(
            "too_many_fields",
            format!("the body has more than {max} fields"),
        )
    }
    /// Names the field, never its value.
    pub fn duplicate(path: &str) -> Self {
        Self::new(
            "duplicate_field",
            format!("field `{path}` appears more than once"),
        )
    }
}

/// The path of the nearest declared ancestor-or-self of `path`, if any: `items[].note` is covered by a
/// declaration of `items[].note`, `items[]` or `items`.
pub fn covering_path<F: Fn(&str) -> bool>(path: &str, declared: F) -> Option<&str> {
    let mut p = path;
    loop {
        if declared(p) {
            return Some(p);
        }
        let cut = if let Some(stripped) = p.strip_suffix("[]") {
            stripped.len()
        } else {
            p.rfind(['.', '['])?
        };
        if cut == 0 {
            return None;
        }
        p = &p[..cut];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covering_paths() {
        let decl = |p: &str| ["email", "items", "customer.phone", "orders[].note"].contains(&p);
        assert_eq!(covering_path("email", decl), Some("email"));
        assert_eq!(covering_path("items[].note", decl), Some("items"));
        assert_eq!(
            covering_path("customer.phone", decl),
            Some("customer.phone")
        );
        assert_eq!(covering_path("customer.name", decl), None);
        assert_eq!(covering_path("orders[].note", decl), Some("orders[].note"));
        assert_eq!(covering_path("orders[].id", decl), None);
        assert_eq!(covering_path("x", decl), None);
    }
}
