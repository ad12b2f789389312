//! The identifiers pdgate deals in, as types: a subject's id and its pseudonym, the vault's keyed
//! MACs, and the tokens it issues. They depend on nothing else in the crate, so records, audit
//! events and decisions can all name them.

/// A subject's id: random, time-ordered bytes that stand for one person in the vault, derived
/// from nothing about them. Upstreams and tokens carry it only as its [`pseudonym`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectId(Vec<u8>);

impl SubjectId {
    /// A new id: a UUIDv7, so every subject-keyed index grows at its end instead of splitting
    /// random pages. The CRM learns nothing it did not already know: when it first heard of the
    /// subject.
    pub fn new_v7() -> SubjectId {
        SubjectId(uuid::Uuid::now_v7().into_bytes().to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// An id as stored.
impl From<Vec<u8>> for SubjectId {
    fn from(bytes: Vec<u8>) -> Self {
        SubjectId(bytes)
    }
}

/// A UUID's bytes.
impl From<[u8; 16]> for SubjectId {
    fn from(bytes: [u8; 16]) -> Self {
        SubjectId(bytes.to_vec())
    }
}

/// Compared with the bytes it is made of (the store's columns, a test's expectation).
impl PartialEq<[u8]> for SubjectId {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for SubjectId {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.0 == other
    }
}

impl PartialEq<Vec<u8>> for SubjectId {
    fn eq(&self, other: &Vec<u8>) -> bool {
        &self.0 == other
    }
}

/// Found in maps by its bytes (the hash and order are the bytes').
impl std::borrow::Borrow<[u8]> for SubjectId {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// The bytes, for keys' associated data and the store's columns.
impl std::ops::Deref for SubjectId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Shown as its pseudonym: logs and test failures never print raw id bytes.
impl std::fmt::Debug for SubjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectId({})", pseudonym(self))
    }
}

/// An HMAC-SHA-256 under one of pdgate's derived keys, as the vault stores it: a blind index (a
/// subject found by e-mail or phone), a value's MAC (its token found again), a request's lookup
/// key. Without the key it reveals nothing and cannot be recomputed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 32]);

impl Mac {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Mac {
    fn from(bytes: [u8; 32]) -> Self {
        Mac(bytes)
    }
}

/// The bytes, for the store's columns and the token derivation.
impl std::ops::Deref for Mac {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Found in sets of stored MACs by its bytes.
impl std::borrow::Borrow<[u8]> for Mac {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// Its first bytes only: enough to tell two apart in a test failure.
impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "Mac({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// A token pdgate issued for one value (`tok_…`, or a format-preserving one shaped like the
/// value): what upstreams hold instead of it, and what detokenize and erasure find it by.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

impl Token {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Token {
    fn from(s: String) -> Self {
        Token(s)
    }
}

impl From<&str> for Token {
    fn from(s: &str) -> Self {
        Token(s.to_owned())
    }
}

/// The text, for bodies, columns and comparisons.
impl std::ops::Deref for Token {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Found in maps of tokens by its text.
impl std::borrow::Borrow<str> for Token {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Token {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Token {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token stands for a value without revealing it: it may appear in test failures.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.0)
    }
}

/// As its text: reports list the tokens the subject's values went out as.
impl serde::Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// `sub_<base32>` of a [`SubjectId`]: what upstreams, subject tokens, reports and the audit log
/// call a subject.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Pseudonym(String);

impl Pseudonym {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text, for headers, claims and comparisons.
impl std::ops::Deref for Pseudonym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Pseudonym {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Pseudonym {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sub_<base32>`: the pseudonym the upstream and the subject token carry.
pub fn pseudonym(subject_id: &SubjectId) -> Pseudonym {
    Pseudonym(format!(
        "sub_{}",
        data_encoding::BASE32_NOPAD
            .encode(subject_id.as_bytes())
            .to_lowercase()
    ))
}

/// The subject id behind a pseudonym.
pub fn subject_id_of(pseudonym: &str) -> Option<SubjectId> {
    data_encoding::BASE32_NOPAD
        .decode(
            pseudonym
                .strip_prefix("sub_")?
                .to_ascii_uppercase()
                .as_bytes(),
        )
        .ok()
        .map(SubjectId)
}
