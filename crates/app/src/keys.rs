//! `pdgate keys rotate` and `pdgate keys status` (issue 28): a new KEK takes over the key ring
//! online. The replicas run on the new KEK with the old one as `previous_key_file` (they wrap new
//! keys under the new one and still open the old); the rotation then rewraps the root secret and,
//! in batches beside live traffic, every data key and held key, and retires the old versions once
//! nothing is left under them. Tokens, hashes and blind indexes derive from the root secret, which
//! does not change, so nothing outside the key ring is touched.
//!
//! Resuming is running it again: rows already under the new KEK are read and skipped, and each
//! write applies only where the row still holds what was read.

use serde::Serialize;

use pdgate_core::crypto::{KeyError, Keys};
use pdgate_core::keyring::{rewrap_page, version_of};
use pdgate_core::Millis;
use pdgate_store::keyring::{KeyCount, KeyRing};
use pdgate_store::{Store, StoreError};

/// What one run of the rotation did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Rotation {
    /// The version everything is wrapped under now.
    pub to: i64,
    pub root_rewrapped: bool,
    pub subjects_scanned: u64,
    pub data_keys: u64,
    pub held_keys: u64,
    /// Keys no KEK of this process opens: the rotation cannot finish while they remain.
    pub unopenable: u64,
    /// Every older version holds nothing any more and is retired: it may be destroyed.
    pub retired: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the key ring has no root secret yet: start `serve` once first")]
    NoRing,
    #[error("the root secret does not open under the configured keys: {0}")]
    Root(#[source] KeyError),
}

/// How a rotation paces itself beside live traffic.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Subjects (or held keys) per transaction.
    pub batch: i64,
    /// Rest between two transactions, so intake keeps the writer most of the time.
    pub pause: std::time::Duration,
}

/// Rewraps the key ring under `keys`' current KEK; `progress` hears the rotation so far after
/// every batch.
pub async fn rotate(
    store: &Store,
    keys: &Keys,
    pace: Pace,
    mut progress: impl FnMut(&Rotation),
) -> Result<Rotation, RotateError> {
    let batch = pace.batch.max(1);
    let to = i64::from(keys.kek().version());
    let mut done = Rotation {
        to,
        ..Rotation::default()
    };
    let ring = store.ring().await?.ok_or(RotateError::NoRing)?;
    if ring.kek_version != to {
        let wrapped = keys
            .rewrap_root(&ring.wrapped_root)
            .map_err(RotateError::Root)?;
        let now = pdgate_core::now_millis();
        done.root_rewrapped = store
            .rotate_root(ring.kek_version, to, &wrapped, now)
            .await?;
    }
    let mut after = Vec::new();
    loop {
        let rows = store.data_keys_page(&after, batch).await?;
        let Some(last) = rows.last() else { break };
        after = last.id.to_vec();
        done.subjects_scanned += rows.len() as u64;
        let page = rewrap_page(keys, rows, Vec::new());
        done.unopenable += page.unopenable;
        if !page.data.is_empty() {
            done.data_keys += store.rewrap(&page.data, &[]).await?;
            tokio::time::sleep(pace.pause).await;
        }
        progress(&done);
    }
    loop {
        let rows = store.held_keys_not_under(to, batch).await?;
        let page = rewrap_page(keys, Vec::new(), rows);
        done.unopenable += page.unopenable;
        if page.held.is_empty() {
            break;
        }
        done.held_keys += store.rewrap(&[], &page.held).await?;
        progress(&done);
    }
    done.retired = store.retire_keks(to, pdgate_core::now_millis()).await?;
    Ok(done)
}

/// The key ring as `pdgate keys status` shows it.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The version that wraps the root secret.
    pub current: i64,
    pub created_at: String,
    pub rotated_at: Option<String>,
    pub versions: Vec<VersionStatus>,
    /// Nothing is wrapped under any version but the current one.
    pub complete: bool,
}

#[derive(Debug, Serialize)]
pub struct VersionStatus {
    pub version: i64,
    pub added_at: String,
    pub retired_at: Option<String>,
    pub data_keys: i64,
    pub held_keys: i64,
    /// The KEK given to this command (`key` or `previous`), if it is this version.
    pub given_as: Option<&'static str>,
}

/// The key ring's versions and what each wraps; `given` names the KEKs this command was given by
/// their check values, so the operator sees which file is which version.
pub async fn status(
    store: &Store,
    given: &[(&'static str, [u8; 32])],
) -> Result<Status, RotateError> {
    let ring = store.ring().await?.ok_or(RotateError::NoRing)?;
    let versions = store.kek_versions().await?;
    let counts = store.key_counts().await?;
    let count = |v: i64| {
        counts
            .iter()
            .find(|c| c.kek_version == v)
            .cloned()
            .unwrap_or(KeyCount {
                kek_version: v,
                ..KeyCount::default()
            })
    };
    let given_as = |v: i64| {
        given.iter().find_map(|(name, check)| {
            version_of(&versions, check)
                .is_some_and(|k| k.version == v)
                .then_some(*name)
        })
    };
    let time = |at: Millis| pdgate_core::rfc3339(at);
    let complete = counts
        .iter()
        .all(|c| c.kek_version == ring.kek_version || c.data_keys + c.held_keys == 0);
    Ok(Status {
        current: ring.kek_version,
        created_at: time(ring.created_at),
        rotated_at: ring.rotated_at.map(time),
        versions: versions
            .iter()
            .map(|v| VersionStatus {
                version: v.version,
                added_at: time(v.added_at),
                retired_at: v.retired_at.map(time),
                data_keys: count(v.version).data_keys,
                held_keys: count(v.version).held_keys,
                given_as: given_as(v.version),
            })
            .collect(),
        complete,
    })
}
