//! A subject's keys: the data key, the category keys derived from it, and the category keys a
//! legal hold keeps after the data key is shredded.
//!
//! Why categories have keys of their own: an erasure must make every category unreadable except
//! those a law obliges the operator to keep (402-FZ keeps payment records for five years), and
//! that includes the `encrypt` envelopes pdgate placed in the upstreams, which it cannot delete.
//! Values are sealed under their category's key; erasure under a hold wraps the held categories'
//! keys on their own and deletes the data key, so every other category's ciphertext — in the
//! vault and in the CRM — is shredded, and the held ones stay readable (restricted) until the
//! hold ends and the subject is erased whole.

use zeroize::Zeroizing;

use super::keys::{Aad, Dek, KeyError, Keys};

/// Which key sealed a value, and so which associated data it carries. Stored with each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sealing {
    /// Sealed before category keys existed: the subject's data key itself; the associated data
    /// is subject, field and purposes. Only the data key opens it.
    Subject,
    /// Sealed under its category's key; the associated data adds category and collection time.
    Category,
}

impl Sealing {
    pub fn as_i64(self) -> i64 {
        match self {
            Sealing::Subject => 1,
            Sealing::Category => 2,
        }
    }

    /// Unknown numbers read as [`Sealing::Category`]: a value that does not open is reported as
    /// unreadable, never opened under the wrong rules.
    pub fn from_i64(n: i64) -> Sealing {
        if n == 1 {
            Sealing::Subject
        } else {
            Sealing::Category
        }
    }
}

/// What a sealed value is bound to: decryption fails if any of it changes.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub subject: &'a [u8],
    pub field: &'a str,
    pub purposes: &'a str,
    pub category: Option<&'a str>,
    pub collected_at: i64,
    pub sealing: Sealing,
}

impl<'a> Binding<'a> {
    fn aad(&self) -> Aad<'a> {
        Aad {
            subject: self.subject,
            field: self.field,
            purpose: self.purposes,
            scope: match self.sealing {
                Sealing::Subject => None,
                Sealing::Category => Some((self.category, self.collected_at)),
            },
        }
    }
}

/// A held category key as stored: wrapped under the KEK, bound to subject and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldKey {
    pub category: Option<String>,
    pub wrapped: Vec<u8>,
    /// When the hold ends (the subject is erased whole then).
    pub until: i64,
    /// The version of the KEK that wraps it.
    pub kek_version: i64,
}

/// The keys that open one subject's values: its data key while it exists; after an erasure
/// under a legal hold, only the held categories' keys.
pub struct SubjectKeys {
    data: Option<Dek>,
    held: Vec<(Option<String>, Dek)>,
}

impl SubjectKeys {
    /// Unwraps what is stored. An empty `wrapped_dek` is a data key shredded under a hold.
    pub fn unwrap(
        keys: &Keys,
        subject: &[u8],
        wrapped_dek: &[u8],
        held: &[HeldKey],
    ) -> Result<SubjectKeys, KeyError> {
        let data = if wrapped_dek.is_empty() {
            None
        } else {
            Some(keys.unwrap_dek(subject, wrapped_dek)?)
        };
        let held = held
            .iter()
            .map(|h| {
                let key = keys.unwrap_held(subject, h.category.as_deref(), &h.wrapped)?;
                Ok((h.category.clone(), key))
            })
            .collect::<Result<_, KeyError>>()?;
        Ok(SubjectKeys { data, held })
    }

    /// Only the data key (a live subject).
    pub fn from_data_key(data: Dek) -> SubjectKeys {
        SubjectKeys {
            data: Some(data),
            held: Vec::new(),
        }
    }

    pub fn data_key(&self) -> Option<&Dek> {
        self.data.as_ref()
    }

    /// Seals a value under its category's key (what every new value gets).
    pub fn seal(&self, b: Binding<'_>, plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let b = Binding {
            sealing: Sealing::Category,
            ..b
        };
        let key = self.category_key(b.category).ok_or(KeyError::Unauthentic)?;
        Ok(key.encrypt(plain, b.aad()))
    }

    pub fn open(&self, b: Binding<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match b.sealing {
            Sealing::Subject => self
                .data
                .as_ref()
                .ok_or(KeyError::Unauthentic)?
                .decrypt(sealed, b.aad()),
            Sealing::Category => self
                .category_key(b.category)
                .ok_or(KeyError::Unauthentic)?
                .decrypt(sealed, b.aad()),
        }
    }

    fn category_key(&self, category: Option<&str>) -> Option<Dek> {
        if let Some(d) = &self.data {
            return Some(d.for_category(category));
        }
        self.held
            .iter()
            .find(|(c, _)| c.as_deref() == category)
            .map(|(_, k)| k.duplicate())
    }
}

/// The held categories' keys wrapped on their own, for an erasure that keeps them until `until`.
pub fn hold_keys(
    keys: &Keys,
    subject: &[u8],
    data: &Dek,
    categories: &[Option<&str>],
    until: i64,
) -> Vec<HeldKey> {
    categories
        .iter()
        .map(|c| HeldKey {
            category: c.map(str::to_owned),
            wrapped: keys.wrap_held(subject, *c, &data.for_category(*c)),
            until,
            kek_version: i64::from(keys.kek().version()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Kek, RootSecret};

    fn binding<'a>(category: Option<&'a str>, at: i64) -> Binding<'a> {
        Binding {
            subject: b"s1",
            field: "invoice",
            purposes: "billing",
            category,
            collected_at: at,
            sealing: Sealing::Category,
        }
    }

    #[test]
    fn held_keys_open_their_category_only_after_the_data_key_is_gone() {
        let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
        let (dek, wrapped) = keys.new_dek(b"s1");
        let live = SubjectKeys::unwrap(&keys, b"s1", &wrapped, &[]).unwrap();
        let invoice = live.seal(binding(Some("payment"), 5), b"INV-1").unwrap();
        let email = live.seal(binding(Some("contact"), 5), b"a@b.ru").unwrap();
        let held = hold_keys(&keys, b"s1", &dek, &[Some("payment")], 99);
        // The data key is shredded: only the held key is left.
        let after = SubjectKeys::unwrap(&keys, b"s1", &[], &held).unwrap();
        assert_eq!(
            after
                .open(binding(Some("payment"), 5), &invoice)
                .unwrap()
                .as_slice(),
            b"INV-1"
        );
        assert!(after.open(binding(Some("contact"), 5), &email).is_err());
        // Category and collection time are bound: relabelling either fails.
        assert!(after.open(binding(Some("payment"), 6), &invoice).is_err());
        assert!(live.open(binding(Some("contact"), 5), &invoice).is_err());
        // A held key moved to another subject does not unwrap.
        assert!(SubjectKeys::unwrap(&keys, b"s2", &[], &held).is_err());
    }

    #[test]
    fn values_sealed_under_the_data_key_still_open_with_it() {
        let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
        let (dek, wrapped) = keys.new_dek(b"s1");
        let b = Binding {
            sealing: Sealing::Subject,
            ..binding(Some("contact"), 5)
        };
        let old = dek.encrypt(b"a@b.ru", b.aad());
        let live = SubjectKeys::unwrap(&keys, b"s1", &wrapped, &[]).unwrap();
        assert_eq!(live.open(b, &old).unwrap().as_slice(), b"a@b.ru");
        let held = hold_keys(&keys, b"s1", &dek, &[Some("contact")], 99);
        let after = SubjectKeys::unwrap(&keys, b"s1", &[], &held).unwrap();
        assert!(after.open(b, &old).is_err());
    }
}
