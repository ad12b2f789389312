//! The key ring as stored: which KEK versions exist, which one wraps the root secret, and the
//! wrapped keys a rotation moves from one KEK to the next (issue 28).

use crate::ids::SubjectId;
use crate::Millis;

/// One key-encryption key the ring has known, by its check value (see `Kek::check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekVersion {
    pub version: i64,
    pub check: Vec<u8>,
    pub added_at: Millis,
    /// When a finished rotation left nothing under it: from then on it may be destroyed.
    pub retired_at: Option<Millis>,
}

/// The root secret's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingRow {
    pub kek_version: i64,
    pub wrapped_root: Vec<u8>,
    pub created_at: Millis,
    pub rotated_at: Option<Millis>,
}

/// A held category key as stored, with its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRow {
    pub subject_id: SubjectId,
    /// `None`: identifiers found in free text.
    pub category: Option<String>,
    pub wrapped: Vec<u8>,
    pub kek_version: i64,
}

/// A stored key (`K`: a subject's row or a held key) wrapped anew: written only where the row
/// still holds `key`'s wrapping, so a key erased or rewrapped meanwhile is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrap<K> {
    pub key: K,
    pub wrapped: Vec<u8>,
    pub kek_version: i64,
}

/// How many keys each KEK version wraps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCount {
    pub kek_version: i64,
    /// Subjects' data keys (a data key shredded under a hold counts nowhere).
    pub data_keys: i64,
    pub held_keys: i64,
}
