//! Route path matching: exact paths, `{param}` segments and prefixes.

/// How a route's path is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatcher {
    Exact(String),
    Template(Vec<Segment>),
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param,
}

/// Why a route's `path` or `prefix` cannot be matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{kind} `{path}` must start with `/`")]
    NotAbsolute { kind: &'static str, path: String },
    #[error(
        "path segment `{0}` mixes text and a `{{param}}`; a parameter must be a whole segment"
    )]
    MixedSegment(String),
    #[error("write exactly one of `path: /exact/{{param}}` or `prefix: /api/`")]
    NotExactlyOne,
}

impl PathMatcher {
    pub fn path(p: &str) -> Result<Self, PathError> {
        if !p.starts_with('/') {
            return Err(PathError::NotAbsolute {
                kind: "path",
                path: p.to_owned(),
            });
        }
        if !p.contains('{') {
            return Ok(PathMatcher::Exact(p.to_owned()));
        }
        let mut segs = Vec::new();
        for s in p[1..].split('/') {
            if s.starts_with('{') && s.ends_with('}') && s.len() > 2 {
                segs.push(Segment::Param);
            } else if s.contains(['{', '}']) {
                return Err(PathError::MixedSegment(s.to_owned()));
            } else {
                segs.push(Segment::Literal(s.to_owned()));
            }
        }
        Ok(PathMatcher::Template(segs))
    }

    pub fn prefix(p: &str) -> Result<Self, PathError> {
        if !p.starts_with('/') {
            return Err(PathError::NotAbsolute {
                kind: "prefix",
                path: p.to_owned(),
            });
        }
        Ok(PathMatcher::Prefix(p.to_owned()))
    }

    /// Match strength, higher wins: exact > template (more literals first) > longer prefix. A
    /// trailing slash makes no difference: `/api/checkout/` is the route `/api/checkout`.
    pub fn score(&self, path: &str) -> Option<(u8, usize)> {
        let trim = |p: &'_ str| -> String {
            match p.len() > 1 {
                true => p.trim_end_matches('/').to_owned(),
                false => p.to_owned(),
            }
        };
        match self {
            PathMatcher::Exact(p) => (trim(p) == trim(path)).then_some((3, p.len())),
            PathMatcher::Template(segs) => {
                let trimmed = trim(path);
                let parts: Vec<&str> = trimmed.strip_prefix('/')?.split('/').collect();
                if parts.len() != segs.len() {
                    return None;
                }
                let mut literals = 0;
                for (seg, part) in segs.iter().zip(parts) {
                    match seg {
                        Segment::Literal(l) if l == part => literals += 1,
                        Segment::Param if !part.is_empty() => {}
                        _ => return None,
                    }
                }
                Some((2, literals))
            }
            PathMatcher::Prefix(p) => (path.starts_with(p.as_str())
                || p.strip_suffix('/') == Some(path))
            .then_some((1, p.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let exact = PathMatcher::path("/api/checkout").unwrap();
        let tmpl = PathMatcher::path("/api/orders/{id}/note").unwrap();
        let prefix = PathMatcher::prefix("/api/").unwrap();
        assert!(exact.score("/api/checkout").is_some());
        assert!(exact.score("/api/checkout/x").is_none());
        assert!(tmpl.score("/api/orders/42/note").is_some());
        assert!(tmpl.score("/api/orders//note").is_none());
        assert!(tmpl.score("/api/orders/42").is_none());
        assert!(prefix.score("/api/anything").is_some());
        assert!(exact.score("/api/checkout") > prefix.score("/api/checkout"));
        assert!(tmpl.score("/api/orders/1/note") > prefix.score("/api/orders/1/note"));
        assert!(PathMatcher::path("api").is_err());
        assert!(PathMatcher::path("/a/x{id}").is_err());
    }
}
