//! Key hierarchy and the vault's symmetric crypto.
//!
//! Why this shape: the KEK (from `key_file`/`PDGATE_KEY`, later a KMS) only ever wraps other keys, so
//! rotating it re-wraps a handful of rows and never touches tokens or ciphertext. Below it sit
//! - one random *root secret*, stored wrapped in the store's keyring; every keyed hash (blind index,
//!   tokens, value hashes, client-IP hashes, subject-token signing) is HKDF-derived from it with its own
//!   label, so tokens survive both restarts and KEK rotation, and no key serves two roles;
//! - one random *data key* (DEK) per subject, stored wrapped, and one key per category of its data
//!   derived from it ([`SubjectKeys`]); erasing the data key crypto-shreds the subject's ciphertext in
//!   the vault and in CRMs holding envelopes, except the categories a legal hold keeps (their keys are
//!   then stored wrapped on their own until the hold ends). Backups taken before keep the wrapped key.
//!
//! Invariants: secrets live in `Zeroizing` buffers, MACs are compared with `subtle`, nothing here
//! touches sockets, files or the database, and no error carries key or plaintext bytes.

mod keys;
mod subject;

pub use subject::{hold_keys, Binding, HeldKey, Sealing, SubjectKeys};

pub use keys::{
    Aad, AuditSigner, Dek, Kek, KeyError, Keys, MacKey, Purpose as KeyPurpose, Rewrapped,
    RootSecret,
};

/// Size of every symmetric key in the hierarchy (AES-256, HMAC-SHA256).
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length: random 96-bit nonces.
pub const NONCE_LEN: usize = 12;
