//! Telling the upstreams that a subject's rights changed without erasure: a consent withdrawn, an
//! objection, a restriction placed or lifted. Like erasure and rectification, each is one signed
//! webhook per upstream behind a route the subject came through (the upstreams hold the
//! subject's pseudonym and tokens, so they are the recipients that must stop); an upstream without
//! a webhook, and every recipient declared in the purposes, are told by hand.

use std::collections::BTreeSet;

use crate::policy::Policy;
use crate::records::rights::OutboxWrite;
use crate::records::{ConsentRecord, VaultValue};
use crate::Millis;

use super::erasure::join_url;

/// What changed for the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightsEvent {
    ConsentWithdrawn,
    Objection,
    Restricted,
    RestrictionLifted,
}

impl RightsEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            RightsEvent::ConsentWithdrawn => "consent_withdrawn",
            RightsEvent::Objection => "objection",
            RightsEvent::Restricted => "restricted",
            RightsEvent::RestrictionLifted => "restriction_lifted",
        }
    }

    fn note(self) -> &'static str {
        match self {
            RightsEvent::ConsentWithdrawn => {
                "consent for these purposes is withdrawn: stop processing the subject's data for them"
            }
            RightsEvent::Objection => {
                "the subject objects to these purposes: stop processing the subject's data for them"
            }
            RightsEvent::Restricted => {
                "processing of the subject's data is restricted: store it, do not otherwise use it"
            }
            RightsEvent::RestrictionLifted => "the restriction is lifted",
        }
    }
}

/// One subject's change, as its webhooks say it.
pub struct Notice<'a> {
    pub event: RightsEvent,
    /// What it comes from: the request's id, or for a withdrawal through self-service the
    /// receipt withdrawn.
    pub reference: &'a str,
    /// The request it comes from, if one.
    pub request: Option<&'a str>,
    pub pseudonym: &'a str,
    /// The purposes concerned (empty for a restriction: all of them).
    pub purposes: &'a [String],
    pub at: Millis,
}

/// One webhook per upstream with a webhook behind a route the subject came through: those of its
/// `values` and its consent `records`.
pub fn webhooks(
    policy: &Policy,
    (values, records): (&[VaultValue], &[ConsentRecord]),
    n: &Notice<'_>,
) -> Vec<OutboxWrite> {
    let mut routes: BTreeSet<&str> = values.iter().map(|v| v.route.as_str()).collect();
    routes.extend(records.iter().map(|r| r.route.as_str()));
    let upstreams: BTreeSet<usize> = policy
        .routes
        .iter()
        .filter(|r| routes.contains(r.id.as_str()))
        .filter_map(|r| r.upstream())
        .collect();
    upstreams
        .into_iter()
        .filter_map(|u| {
            let up = policy.upstream(u);
            let hook = up.erasure_webhook.as_deref()?;
            let event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
            let payload = serde_json::json!({
                "event": n.event.as_str(),
                "event_id": event_id,
                "reference": n.reference,
                "subject": n.pseudonym,
                "purposes": n.purposes,
                "at": crate::rfc3339(n.at),
                "note": n.event.note(),
            });
            Some(OutboxWrite {
                event_id,
                request_id: n.request.map(str::to_owned),
                upstream: up.id.clone(),
                url: join_url(&up.url, hook),
                event: n.event.as_str().into(),
                payload: payload.to_string(),
            })
        })
        .collect()
}
