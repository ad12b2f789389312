//! A KEK rotation's decisions (issue 28): which KEK version a given key is, and one page of
//! stored keys wrapped anew under the current KEK. The store reads and writes around them.

use crate::crypto::{Keys, Rewrapped};
use crate::records::keyring::{HeldRow, KekVersion, Rewrap};
use crate::records::SubjectRow;

/// The version the key ring knows the KEK of `check` by, retired or not.
pub fn version_of<'a>(versions: &'a [KekVersion], check: &[u8]) -> Option<&'a KekVersion> {
    versions.iter().find(|v| v.check == check)
}

/// One page of stored keys as the rotation leaves it.
#[derive(Debug, Default)]
pub struct Page {
    pub data: Vec<Rewrap<SubjectRow>>,
    pub held: Vec<Rewrap<HeldRow>>,
    /// Keys no KEK of this process opens: the rotation cannot finish while they remain.
    pub unopenable: u64,
}

/// `data` and `held` wrapped anew under `keys`' current KEK, leaving those already under it.
pub fn rewrap_page(keys: &Keys, data: Vec<SubjectRow>, held: Vec<HeldRow>) -> Page {
    let to = i64::from(keys.kek().version());
    let mut page = Page::default();
    for row in data {
        match keys.rewrap_dek(&row.id, &row.wrapped_dek, row.kek_version) {
            Rewrapped::Now(wrapped) => page.data.push(Rewrap {
                key: row,
                wrapped,
                kek_version: to,
            }),
            Rewrapped::Already => {}
            Rewrapped::Unopenable => page.unopenable += 1,
        }
    }
    for row in held {
        let category = row.category.as_deref();
        match keys.rewrap_held(&row.subject_id, category, &row.wrapped, row.kek_version) {
            Rewrapped::Now(wrapped) => page.held.push(Rewrap {
                key: row,
                wrapped,
                kek_version: to,
            }),
            Rewrapped::Already => {}
            Rewrapped::Unopenable => page.unopenable += 1,
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Kek, RootSecret};
    use crate::ids::SubjectId;

    fn keys(current: &Kek, previous: Option<&Kek>, root: &RootSecret) -> Keys {
        let copy = |k: &Kek| Kek::parse(&k.to_hex(), k.version()).unwrap();
        Keys::derive(copy(current), root).with_previous(previous.map(copy).into_iter().collect())
    }

    #[test]
    fn a_page_moves_to_the_new_kek_and_only_it_opens_the_keys_afterwards() {
        let root = RootSecret::generate();
        let old = Kek::generate(1);
        let new = Kek::generate(2);
        let before = keys(&old, None, &root);
        let id = SubjectId::from(vec![7u8; 16]);
        let (dek, wrapped) = before.new_dek(&id);
        let held = crate::crypto::hold_keys(&before, &id, &dek, &[Some("contact")], 9);
        let data = vec![
            SubjectRow {
                id: id.clone(),
                wrapped_dek: wrapped.clone(),
                kek_version: 1,
            },
            // A data key shredded under a hold: nothing to rewrap.
            SubjectRow {
                id: SubjectId::from(vec![8u8; 16]),
                wrapped_dek: Vec::new(),
                kek_version: 1,
            },
            // Wrapped under a KEK this process does not hold.
            SubjectRow {
                id: SubjectId::from(vec![9u8; 16]),
                wrapped_dek: keys(&Kek::generate(1), None, &root).new_dek(b"x").1,
                kek_version: 1,
            },
        ];
        let held = vec![HeldRow {
            subject_id: id.clone(),
            category: Some("contact".into()),
            wrapped: held[0].wrapped.clone(),
            kek_version: 1,
        }];
        let during = keys(&new, Some(&old), &root);
        let page = rewrap_page(&during, data, held);
        assert_eq!(
            (page.data.len(), page.held.len(), page.unopenable),
            (1, 1, 1)
        );
        assert_eq!(page.data[0].kek_version, 2);
        let after = keys(&new, None, &root);
        let opened = after.unwrap_dek(&id, &page.data[0].wrapped).unwrap();
        let aad = crate::crypto::Aad {
            subject: &id,
            field: "email",
            purpose: "crm",
            scope: None,
        };
        let sealed = dek.encrypt(b"a@example.com", aad);
        assert_eq!(&opened.decrypt(&sealed, aad).unwrap()[..], b"a@example.com");
        assert!(after
            .unwrap_held(&id, Some("contact"), &page.held[0].wrapped)
            .is_ok());
        assert!(
            after.unwrap_dek(&id, &wrapped).is_err(),
            "the old wrapping needs the old KEK"
        );
        // Run again over what it wrote: nothing left to do.
        let moved = SubjectRow {
            wrapped_dek: page.data[0].wrapped.clone(),
            kek_version: 2,
            ..page.data[0].key.clone()
        };
        let again = rewrap_page(&during, vec![moved], vec![]);
        assert!(again.data.is_empty());
    }

    #[test]
    fn the_root_secret_rewraps_and_derives_the_same_keys() {
        let root = RootSecret::generate();
        let old = Kek::generate(1);
        let new = Kek::generate(2);
        let wrapped = root.wrap(&old);
        let during = keys(&new, Some(&old), &root);
        let rewrapped = during.rewrap_root(&wrapped).unwrap();
        let reopened = RootSecret::unwrap(&new, &rewrapped).unwrap();
        let after = Keys::derive(Kek::parse(&new.to_hex(), 2).unwrap(), &reopened);
        assert_eq!(after.root_id(), during.root_id());
        assert!(RootSecret::unwrap(&new, &wrapped).is_err());
        assert_ne!(old.check(), new.check());
        assert_eq!(old.check(), Kek::parse(&old.to_hex(), 5).unwrap().check());
    }
}
