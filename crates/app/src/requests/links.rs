//! Self-service links: minted for the one subject an e-mail or phone finds, revoked by id. Both
//! are one `Change` with their audit entry; the token is returned once and never stored.

use crate::audit::AuditEvent;
use crate::requests::flow::{lookup, FlowError, SubjectRef};
use pdgate_core::crypto::Keys;
use pdgate_core::Millis;
use pdgate_store::rights::{LinkRow, LinkWrite};
use pdgate_store::{Backend, Change, Committer, Rights, Store, StoreError};

/// Why a link was not minted, found or revoked.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("ttl_s must be from {min} to {max} seconds")]
    InvalidTtl { min: i64, max: i64 },
    #[error("no subject is on record with this identifier")]
    SubjectNotFound,
    /// A shared phone number names several people: a link must open one person's data.
    #[error("several subjects share this identifier; use another (their e-mail)")]
    AmbiguousSubject,
    #[error("no such link")]
    NotFound,
    #[error("the link is already revoked")]
    AlreadyRevoked,
    #[error(transparent)]
    Subject(#[from] FlowError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The shortest lifetime a link may be given.
pub const MIN_TTL_S: i64 = 60;

/// A minted link and its token (shown once).
pub struct Minted {
    pub row: LinkRow,
    pub token: String,
}

/// Mints a link for `subject`, living `ttl_s` (default and at most `max_ttl_s`).
pub async fn mint(
    (store, committer, keys): (&Store, &Committer, &Keys),
    subject: &SubjectRef,
    ttl_s: Option<i64>,
    max_ttl_s: i64,
    (who, now): (&str, Millis),
) -> Result<Minted, LinkError> {
    let ttl_s = ttl_s.unwrap_or(max_ttl_s);
    if !(MIN_TTL_S..=max_ttl_s).contains(&ttl_s) {
        return Err(LinkError::InvalidTtl {
            min: MIN_TTL_S,
            max: max_ttl_s,
        });
    }
    let (mac, _) = lookup(keys, subject)?;
    let subject_id = match store.subjects_by_index(&mac).await?.as_slice() {
        [one] => one.clone(),
        [] => return Err(LinkError::SubjectNotFound),
        _ => return Err(LinkError::AmbiguousSubject),
    };
    let row = LinkRow {
        id: format!("lnk_{}", uuid::Uuid::new_v4().simple()),
        subject_id,
        created_at: now,
        created_by: who.to_owned(),
        expires_at: now.saturating_add(ttl_s.saturating_mul(1000)),
        revoked_at: None,
        revoked_by: None,
    };
    let subject = pdgate_core::intake::pseudonym(&row.subject_id);
    let audit = AuditEvent::LinkMinted {
        link_id: row.id.clone(),
        subject: subject.clone(),
        principal: who.to_owned(),
        expires_at: row.expires_at,
    };
    committer
        .apply(Change {
            at: now,
            audit: vec![audit],
            links: vec![LinkWrite::Mint(row.clone())],
            ..Change::default()
        })
        .await?;
    let token = pdgate_core::consent::issue_link_token(
        keys,
        &subject,
        &row.id,
        now / 1000,
        row.expires_at / 1000,
    );
    tracing::info!(link = %row.id, subject = %subject, "self-service link minted");
    Ok(Minted { row, token })
}

/// One link as stored.
pub async fn find(store: &Store, id: &str) -> Result<LinkRow, LinkError> {
    store.link(id).await?.ok_or(LinkError::NotFound)
}

/// Revokes a link: it opens nothing from now on.
pub async fn revoke(
    (store, committer): (&Store, &Committer),
    id: &str,
    who: &str,
    now: Millis,
) -> Result<LinkRow, LinkError> {
    let mut row = find(store, id).await?;
    if row.revoked_at.is_some() {
        return Err(LinkError::AlreadyRevoked);
    }
    let audit = AuditEvent::LinkRevoked {
        link_id: row.id.clone(),
        subject: pdgate_core::intake::pseudonym(&row.subject_id),
        principal: who.to_owned(),
    };
    committer
        .apply(Change {
            at: now,
            audit: vec![audit],
            links: vec![LinkWrite::Revoke {
                id: row.id.clone(),
                at: now,
                by: who.to_owned(),
            }],
            ..Change::default()
        })
        .await?;
    row.revoked_at = Some(now);
    row.revoked_by = Some(who.to_owned());
    Ok(row)
}
