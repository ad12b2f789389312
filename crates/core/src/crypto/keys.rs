use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::{KEY_LEN, NONCE_LEN};

type HmacSha256 = Hmac<Sha256>;

/// Why a key could not be loaded or used. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("key must be 32 bytes given as 64 hex digits or base64 (got {0} bytes)")]
    BadLength(usize),
    #[error("key is neither hex nor base64")]
    BadEncoding,
    #[error("cannot read key file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("authentication failed: wrong key or tampered ciphertext")]
    Unauthentic,
    #[error("ciphertext is truncated")]
    Truncated,
}

/// Key-encryption key: wraps the root secret and every subject's DEK, nothing else.
pub struct Kek {
    version: u32,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl Kek {
    /// Parses 32 bytes written as 64 hex digits or as base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str, version: u32) -> Result<Self, KeyError> {
        let text = Zeroizing::new(text.trim().to_owned());
        let bytes = Zeroizing::new(decode_key_text(&text)?);
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::BadLength(bytes.len()))?;
        Ok(Self {
            version,
            key: Zeroizing::new(key),
        })
    }

    pub fn from_file(path: &std::path::Path, version: u32) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable {
            path: path.display().to_string(),
            reason: e.kind().to_string(),
        })?;
        let text = Zeroizing::new(text);
        Self::parse(&text, version)
    }

    /// A fresh random key (for `--dev` and `demo`; never for production use).
    pub fn generate(version: u32) -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        Self { version, key }
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// This key under the version the key ring knows it by (see [`Kek::check`]).
    pub fn with_version(self, version: u32) -> Self {
        Self { version, ..self }
    }

    /// Names this key without revealing it: HMAC-SHA-256 of a fixed label under the key. The key
    /// ring stores it beside each version, so a process learns which version it was given.
    pub fn check(&self) -> [u8; 32] {
        let mut m = <HmacSha256 as Mac>::new_from_slice(self.key.as_ref())
            .expect("HMAC takes any key length");
        m.update(b"pdgate/v1/kek-check");
        m.finalize().into_bytes().into()
    }

    /// Hex form, for writing a generated dev key to a file the operator can reuse.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::HEXLOWER.encode(self.key.as_ref()))
    }

    pub fn wrap(&self, secret: &[u8], label: &[u8]) -> Vec<u8> {
        seal(&self.key, secret, label)
    }

    pub fn unwrap_key(
        &self,
        wrapped: &[u8],
        label: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
        let plain = Zeroizing::new(open(&self.key, wrapped, label)?);
        let key: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::BadLength(plain.len()))?;
        Ok(Zeroizing::new(key))
    }
}

fn decode_key_text(text: &str) -> Result<Vec<u8>, KeyError> {
    use data_encoding::{BASE64, BASE64URL, BASE64URL_NOPAD, BASE64_NOPAD, HEXLOWER_PERMISSIVE};
    if text.len() == 2 * KEY_LEN {
        if let Ok(b) = HEXLOWER_PERMISSIVE.decode(text.as_bytes()) {
            return Ok(b);
        }
    }
    for enc in [&BASE64, &BASE64_NOPAD, &BASE64URL, &BASE64URL_NOPAD] {
        if let Ok(b) = enc.decode(text.as_bytes()) {
            return if b.len() == KEY_LEN {
                Ok(b)
            } else {
                Err(KeyError::BadLength(b.len()))
            };
        }
    }
    Err(KeyError::BadEncoding)
}

/// The random secret every keyed hash derives from. Stored only wrapped under the KEK.
pub struct RootSecret(Zeroizing<[u8; KEY_LEN]>);

/// Label binding a wrapped root secret to its role, so a wrapped DEK can never be swapped in.
const ROOT_LABEL: &[u8] = b"pdgate/v1/root";

impl RootSecret {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    pub fn wrap(&self, kek: &Kek) -> Vec<u8> {
        kek.wrap(self.0.as_ref(), ROOT_LABEL)
    }

    pub fn unwrap(kek: &Kek, wrapped: &[u8]) -> Result<Self, KeyError> {
        kek.unwrap_key(wrapped, ROOT_LABEL).map(Self)
    }
}

/// How a rotation left one wrapped key: wrapped anew under the current KEK, already under it,
/// or under no KEK this process holds.
#[derive(Debug)]
pub enum Rewrapped {
    Now(Vec<u8>),
    Already,
    Unopenable,
}

/// The role of a derived MAC key. Each role has its own HKDF label; keys are never shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Finds a subject by e-mail or phone without storing either.
    BlindIndex,
    /// Deterministic, format-shaped tokens.
    Token,
    /// The `hash` field action (analytics ids).
    ValueHash,
    /// Client IP and user-agent hashes in consent records.
    ClientHash,
    /// Signing key of subject tokens (HS256).
    SubjectToken,
    /// Seed of the Ed25519 key that signs audit checkpoints.
    AuditSigning,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::BlindIndex => b"pdgate/v1/blind-index",
            Purpose::Token => b"pdgate/v1/token",
            Purpose::ValueHash => b"pdgate/v1/value-hash",
            Purpose::ClientHash => b"pdgate/v1/client-hash",
            Purpose::SubjectToken => b"pdgate/v1/subject-token",
            Purpose::AuditSigning => b"pdgate/v1/audit-signing",
        }
    }
}

/// An HMAC-SHA256 key for one role.
pub struct MacKey(Zeroizing<[u8; KEY_LEN]>);

impl MacKey {
    /// MAC over length-prefixed parts, so ("ab","c") and ("a","bc") never collide.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <HmacSha256 as Mac>::new_from_slice(self.0.as_ref())
            .expect("HMAC takes any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(parts).ct_eq(tag).into()
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }
}

/// Everything the request path needs: the KEK for DEKs and one derived key per role.
pub struct Keys {
    kek: Kek,
    /// KEKs of a rotation in progress: they only unwrap, never wrap.
    previous: Vec<Kek>,
    pub blind_index: MacKey,
    pub token: MacKey,
    pub value_hash: MacKey,
    pub client_hash: MacKey,
    /// The HS256 keys that sign and verify subject tokens (role `SubjectToken`).
    pub subject_jwt: SubjectTokenKeys,
    pub audit: AuditSigner,
    /// A public fingerprint of the root secret (see [`Keys::root_id`]).
    root_id: [u8; 32],
}

/// The HS256 keys of subject tokens, built once from their derived secret: signing and verifying
/// then copy no secret, and jsonwebtoken zeroizes both keys when they are dropped.
pub struct SubjectTokenKeys {
    pub(crate) encoding: jsonwebtoken::EncodingKey,
    pub(crate) decoding: jsonwebtoken::DecodingKey,
}

impl SubjectTokenKeys {
    fn new(secret: &MacKey) -> Self {
        Self {
            encoding: jsonwebtoken::EncodingKey::from_secret(secret.bytes()),
            decoding: jsonwebtoken::DecodingKey::from_secret(secret.bytes()),
        }
    }
}

/// Signs audit checkpoints (Ed25519). Derived from the root secret, so every replica of one
/// deployment signs with the same key and an auditor pins one public key.
pub struct AuditSigner(aws_lc_rs::signature::Ed25519KeyPair);

impl AuditSigner {
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).as_ref().to_vec()
    }

    pub fn public_key(&self) -> [u8; 32] {
        use aws_lc_rs::signature::KeyPair;
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.public_key().as_ref());
        out
    }
}

/// The HKDF every role key of `root` is expanded from.
fn hierarchy(root: &RootSecret) -> Hkdf<Sha256> {
    Hkdf::<Sha256>::new(Some(b"pdgate key hierarchy v1"), root.0.as_ref())
}

fn role_key(hk: &Hkdf<Sha256>, p: Purpose) -> MacKey {
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    hk.expand(p.label(), okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 length");
    MacKey(okm)
}

impl Keys {
    pub fn derive(kek: Kek, root: &RootSecret) -> Self {
        let hk = hierarchy(root);
        let derive = |p: Purpose| role_key(&hk, p);
        Self {
            blind_index: derive(Purpose::BlindIndex),
            token: derive(Purpose::Token),
            value_hash: derive(Purpose::ValueHash),
            client_hash: derive(Purpose::ClientHash),
            subject_jwt: SubjectTokenKeys::new(&derive(Purpose::SubjectToken)),
            audit: AuditSigner(
                aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(
                    derive(Purpose::AuditSigning).bytes(),
                )
                .expect("a 32-byte seed is a valid Ed25519 key"),
            ),
            root_id: {
                let mut id = [0u8; 32];
                hk.expand(b"pdgate/v1/root-id", &mut id)
                    .expect("32 bytes is a valid HKDF-SHA256 length");
                id
            },
            kek,
            previous: Vec::new(),
        }
    }

    /// The KEKs a rotation moves away from: keys wrapped under them still unwrap.
    pub fn with_previous(self, previous: Vec<Kek>) -> Self {
        Self { previous, ..self }
    }

    /// The versions of every KEK this process holds, current first.
    pub fn kek_versions(&self) -> Vec<u32> {
        std::iter::once(&self.kek)
            .chain(&self.previous)
            .map(Kek::version)
            .collect()
    }

    /// Unwraps under each KEK this process holds, current first: the authentication tag, not a
    /// row's recorded version, says which one wrapped it.
    fn unwrap_any(
        &self,
        wrapped: &[u8],
        label: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyError> {
        let mut last = KeyError::Unauthentic;
        for kek in std::iter::once(&self.kek).chain(&self.previous) {
            match kek.unwrap_key(wrapped, label) {
                Ok(k) => return Ok(k),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn rewrap(&self, wrapped: &[u8], label: &[u8], version: i64) -> Rewrapped {
        // A data key shredded under a hold is empty: nothing is wrapped.
        if version == i64::from(self.kek.version) || wrapped.is_empty() {
            return Rewrapped::Already;
        }
        match self.unwrap_any(wrapped, label) {
            Ok(key) => Rewrapped::Now(self.kek.wrap(key.as_ref(), label)),
            Err(_) => Rewrapped::Unopenable,
        }
    }

    /// A subject's data key, stored under KEK `version`, wrapped under the current KEK.
    pub fn rewrap_dek(&self, subject_id: &[u8], wrapped: &[u8], version: i64) -> Rewrapped {
        self.rewrap(wrapped, &dek_label(subject_id), version)
    }

    /// A held category key, stored under KEK `version`, wrapped under the current KEK.
    pub fn rewrap_held(
        &self,
        subject_id: &[u8],
        category: Option<&str>,
        wrapped: &[u8],
        version: i64,
    ) -> Rewrapped {
        self.rewrap(wrapped, &held_label(subject_id, category), version)
    }

    /// The root secret these keys derive from, wrapped under the current KEK.
    pub fn rewrap_root(&self, wrapped: &[u8]) -> Result<Vec<u8>, KeyError> {
        let root = self.unwrap_any(wrapped, ROOT_LABEL)?;
        Ok(self.kek.wrap(root.as_ref(), ROOT_LABEL))
    }

    /// Names the root secret without revealing it (an HKDF output under its own label): stored
    /// beside the key ring, it tells a running replica whether its database's ring is still the
    /// one it unlocked.
    pub fn root_id(&self) -> [u8; 32] {
        self.root_id
    }

    pub fn kek(&self) -> &Kek {
        &self.kek
    }

    /// A fresh DEK for a new subject and its wrapped form for storage.
    pub fn new_dek(&self, subject_id: &[u8]) -> (Dek, Vec<u8>) {
        let dek = Dek::generate();
        let wrapped = self.kek.wrap(dek.0.as_ref(), &dek_label(subject_id));
        (dek, wrapped)
    }

    pub fn unwrap_dek(&self, subject_id: &[u8], wrapped: &[u8]) -> Result<Dek, KeyError> {
        self.unwrap_any(wrapped, &dek_label(subject_id)).map(Dek)
    }
}

impl Keys {
    /// A held category key wrapped on its own, bound to its subject and category.
    pub fn wrap_held(&self, subject_id: &[u8], category: Option<&str>, key: &Dek) -> Vec<u8> {
        self.kek
            .wrap(key.0.as_ref(), &held_label(subject_id, category))
    }

    pub fn unwrap_held(
        &self,
        subject_id: &[u8],
        category: Option<&str>,
        wrapped: &[u8],
    ) -> Result<Dek, KeyError> {
        self.unwrap_any(wrapped, &held_label(subject_id, category))
            .map(Dek)
    }
}

fn held_label(subject_id: &[u8], category: Option<&str>) -> Vec<u8> {
    let mut l = b"pdgate/v2/held/".to_vec();
    l.extend_from_slice(&(subject_id.len() as u32).to_be_bytes());
    l.extend_from_slice(subject_id);
    match category {
        Some(c) => {
            l.push(1);
            l.extend_from_slice(c.as_bytes());
        }
        None => l.push(0),
    }
    l
}

fn dek_label(subject_id: &[u8]) -> Vec<u8> {
    let mut l = b"pdgate/v1/dek/".to_vec();
    l.extend_from_slice(subject_id);
    l
}

/// Associated data binding a ciphertext to its subject, field and purpose: a value moved to
/// another subject's row, field or purpose no longer decrypts. Values sealed under a category
/// key (see [`super::Sealing`]) also bind their category and collection time, so neither can be
/// changed to escape a retention period or a legal hold.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub subject: &'a [u8],
    pub field: &'a str,
    pub purpose: &'a str,
    /// `(category, collected at)`: `None` for values sealed before category keys.
    pub scope: Option<(Option<&'a str>, i64)>,
}

impl Aad<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.field.len() + self.purpose.len());
        let mut push = |part: &[u8]| {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        };
        for part in [self.subject, self.field.as_bytes(), self.purpose.as_bytes()] {
            push(part);
        }
        if let Some((category, at)) = self.scope {
            // A missing category and an empty one are told apart by a marker byte.
            match category {
                Some(c) => push(&[&[1u8][..], c.as_bytes()].concat()),
                None => push(&[0u8]),
            }
            push(&at.to_be_bytes());
        }
        out
    }
}

/// A subject's data key, or one of the category keys derived from it.
pub struct Dek(Zeroizing<[u8; KEY_LEN]>);

impl Dek {
    fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    pub(super) fn duplicate(&self) -> Dek {
        Dek(Zeroizing::new(*self.0))
    }

    /// The key of one category of the subject's data (`None`: identifiers found in free text),
    /// HKDF-derived from this data key. Deriving keeps intake at one unwrap per subject; a
    /// category key outlives the data key only when an erasure under a legal hold stores it
    /// wrapped on its own ([`Keys::wrap_held`]).
    pub fn for_category(&self, category: Option<&str>) -> Dek {
        let hk = Hkdf::<Sha256>::new(Some(b"pdgate subject categories v2"), self.0.as_ref());
        let mut info = b"pdgate/v2/category/".to_vec();
        match category {
            Some(c) => {
                info.push(1);
                info.extend_from_slice(c.as_bytes());
            }
            None => info.push(0),
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        hk.expand(&info, key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Dek(key)
    }

    /// `nonce || ciphertext || tag` with a random 96-bit nonce.
    pub fn encrypt(&self, plaintext: &[u8], aad: Aad<'_>) -> Vec<u8> {
        seal(&self.0, plaintext, &aad.encode())
    }

    pub fn decrypt(&self, sealed: &[u8], aad: Aad<'_>) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        open(&self.0, sealed, &aad.encode()).map(Zeroizing::new)
    }
}

impl Drop for Dek {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn seal(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption cannot fail for inputs under 64 GiB");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open(key: &[u8; KEY_LEN], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(KeyError::Truncated);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| KeyError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> Keys {
        Keys::derive(Kek::generate(1), &RootSecret::generate())
    }

    #[test]
    fn kek_parses_hex_and_base64_and_rejects_others() {
        let hex = "00".repeat(31) + "ff";
        assert!(Kek::parse(&hex, 1).is_ok());
        assert!(Kek::parse(&format!("  {hex}\n"), 1).is_ok());
        let b64 = data_encoding::BASE64.encode(&[7u8; 32]);
        assert!(Kek::parse(&b64, 1).is_ok());
        assert!(matches!(
            Kek::parse(&data_encoding::BASE64.encode(&[7u8; 16]), 1),
            Err(KeyError::BadLength(16))
        ));
        assert!(matches!(
            Kek::parse("not a key!", 1),
            Err(KeyError::BadEncoding)
        ));
    }

    #[test]
    fn root_unwraps_only_under_its_kek() {
        let kek = Kek::generate(1);
        let root = RootSecret::generate();
        let wrapped = root.wrap(&kek);
        assert!(RootSecret::unwrap(&kek, &wrapped).is_ok());
        assert!(matches!(
            RootSecret::unwrap(&Kek::generate(1), &wrapped),
            Err(KeyError::Unauthentic)
        ));
    }

    #[test]
    fn derived_keys_differ_per_role_and_are_stable_per_root() {
        let root = RootSecret::generate();
        let a = Keys::derive(Kek::generate(1), &root);
        let b = Keys::derive(Kek::generate(2), &root);
        assert_eq!(
            a.token.bytes(),
            b.token.bytes(),
            "tokens must survive KEK rotation"
        );
        let subject_token = role_key(&hierarchy(&root), Purpose::SubjectToken);
        let all = [
            a.blind_index.bytes(),
            a.token.bytes(),
            a.value_hash.bytes(),
            a.client_hash.bytes(),
            subject_token.bytes(),
        ];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
    }

    #[test]
    fn dek_is_bound_to_subject_and_aad() {
        let k = keys();
        let (dek, wrapped) = k.new_dek(b"subject-a");
        assert!(
            k.unwrap_dek(b"subject-b", &wrapped).is_err(),
            "a DEK moved to another subject must not unwrap"
        );
        let dek2 = k.unwrap_dek(b"subject-a", &wrapped).unwrap();
        let aad = Aad {
            subject: b"subject-a",
            field: "email",
            purpose: "marketing",
            scope: None,
        };
        let ct = dek.encrypt(b"ivan@mail.ru", aad);
        assert_eq!(dek2.decrypt(&ct, aad).unwrap().as_slice(), b"ivan@mail.ru");
        for other in [
            Aad {
                subject: b"subject-b",
                ..aad
            },
            Aad {
                field: "phone",
                ..aad
            },
            Aad {
                purpose: "order_fulfilment",
                ..aad
            },
        ] {
            assert!(matches!(
                dek.decrypt(&ct, other),
                Err(KeyError::Unauthentic)
            ));
        }
        assert!(matches!(
            dek.decrypt(&ct[..10], aad),
            Err(KeyError::Truncated)
        ));
    }

    #[test]
    fn mac_is_length_prefixed_and_verifies_in_constant_time() {
        let k = keys();
        assert_ne!(k.token.mac(&[b"ab", b"c"]), k.token.mac(&[b"a", b"bc"]));
        let tag = k.token.mac(&[b"x"]);
        assert!(k.token.verify(&[b"x"], &tag));
        assert!(!k.token.verify(&[b"y"], &tag));
    }

    proptest! {
        #[test]
        fn encrypt_decrypt_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..512), field in "[a-z.\\[\\]]{1,20}") {
            let k = keys();
            let (dek, _) = k.new_dek(b"s");
            let aad = Aad { subject: b"s", field: &field, purpose: "p", scope: None };
            let ct = dek.encrypt(&plain, aad);
            let back = dek.decrypt(&ct, aad).unwrap();
            prop_assert_eq!(back.as_slice(), plain.as_slice());
        }

        #[test]
        fn any_flipped_bit_fails_authentication(plain in proptest::collection::vec(any::<u8>(), 1..64), pos in any::<usize>(), bit in 0u8..8) {
            let k = keys();
            let (dek, _) = k.new_dek(b"s");
            let aad = Aad { subject: b"s", field: "f", purpose: "p", scope: Some((Some("c"), 7)) };
            let mut ct = dek.encrypt(&plain, aad);
            let i = pos % ct.len();
            ct[i] ^= 1 << bit;
            prop_assert!(dek.decrypt(&ct, aad).is_err());
        }
    }
}
