//! What one listener allows a client: sizes, counts and timeouts, as `[limits]` configures them.

use pdgate_core::forms::CodecLimits;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_body_bytes: u64,
    pub max_fields: usize,
    pub max_json_depth: usize,
    pub max_parts: usize,
    pub max_header_bytes: usize,
    pub header_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    /// A matched route's whole body must arrive within this (a byte every few seconds must not
    /// hold a connection for ever).
    pub body_timeout_ms: u64,
    /// The upstream's response head must arrive within this, else 504 `upstream_timeout`.
    pub upstream_timeout_ms: u64,
    /// Client connections served at once per listener; beyond it new ones wait in the backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_fields: 256,
            max_json_depth: 32,
            max_parts: 64,
            max_header_bytes: 16 * 1024,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 30_000,
            upstream_timeout_ms: 60_000,
            max_connections: 10_000,
        }
    }
}

impl Limits {
    pub fn codec(&self) -> CodecLimits {
        CodecLimits {
            max_fields: self.max_fields,
            max_json_depth: self.max_json_depth,
            max_parts: self.max_parts,
            max_body_bytes: self.max_body_bytes,
        }
    }
}
