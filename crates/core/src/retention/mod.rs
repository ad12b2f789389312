//! Retention (SPEC 8): how long each stored value may be kept, and the sweeper that destroys what
//! nothing covers any more.
//!
//! The rule is plain functions over facts already read ([`cover`], [`decide`]), so the access
//! report ("kept until …") and the sweeper answer from the same code. A value is covered while one
//! of the purposes it was collected for is live and within its retention, or while a legal hold
//! on its category runs; the sweeper destroys the rest with the same acts, webhooks and audit
//! entries as an erasure request ([`crate::requests::erasure`]).

use std::collections::HashMap;

pub mod clock;

use crate::policy::model::RetentionAnchor;
use crate::policy::{LegalBasis, Policy};
use crate::records::{ConsentRecord, ConsentStatus, VaultValue};
use crate::Millis;

/// Until when something is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Until {
    At(Millis),
    /// No end yet (no retention declared, or counted from a purpose end that has not come).
    Open,
}

impl Until {
    pub fn live_at(self, now: Millis) -> bool {
        match self {
            Until::Open => true,
            Until::At(t) => t > now,
        }
    }

    pub fn millis(self) -> Option<Millis> {
        match self {
            Until::At(t) => Some(t),
            Until::Open => None,
        }
    }
}

/// The newest ledger record per purpose of one subject (`granted`, `withdrawn`, `objected`).
pub fn latest_records<'a>(
    records: impl IntoIterator<Item = &'a ConsentRecord>,
) -> HashMap<&'a str, &'a ConsentRecord> {
    let mut out: HashMap<&str, &ConsentRecord> = HashMap::new();
    for r in records {
        // Records come in ledger order; the last one per purpose wins.
        out.insert(r.purpose.as_str(), r);
    }
    out
}

/// Until when purpose `purpose` covers data of a subject collected at `collected`: its retention
/// from its anchor, cut short when consent is withdrawn or the subject objected.
pub fn purpose_until(
    policy: &Policy,
    purpose: &str,
    collected: Millis,
    last_activity: Millis,
    latest: &HashMap<&str, &ConsentRecord>,
) -> Until {
    let Some(idx) = policy.purpose_index(purpose) else {
        // A purpose no longer in the policy covers nothing.
        return Until::At(collected);
    };
    let p = policy.purpose(idx);
    let record = latest.get(purpose).copied();
    let ended = record.filter(|r| r.state.ends());
    let granted = record
        .filter(|r| r.state == ConsentStatus::Granted)
        .map(|r| r.at);
    if p.def.legal_basis == LegalBasis::Consent {
        if let Some(r) = ended {
            // Withdrawal stops processing at once; destruction follows (within 30 days).
            return Until::At(r.at);
        }
        if granted.is_none() {
            return Until::At(collected);
        }
    }
    let (Some(keep), Some(ret)) = (p.retention, p.def.retention.as_ref()) else {
        return ended.map_or(Until::Open, |r| Until::At(r.at));
    };
    if let Some(r) = ended {
        return match ret.from {
            RetentionAnchor::PurposeEnd => Until::At(keep.after(r.at)),
            _ => Until::At(r.at),
        };
    }
    match ret.from {
        RetentionAnchor::Collected => Until::At(keep.after(collected)),
        RetentionAnchor::Consent => Until::At(keep.after(granted.unwrap_or(collected))),
        RetentionAnchor::LastActivity => Until::At(keep.after(last_activity)),
        RetentionAnchor::PurposeEnd => Until::Open,
    }
}

/// What covers one stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cover {
    /// The latest end over the purposes the value was collected for.
    pub purposes: Until,
    /// The end of a legal hold on its category, if one applies.
    pub hold: Option<(usize, Millis)>,
}

impl Cover {
    /// The time the value has to go (`None`: not yet known).
    pub fn ends(&self) -> Until {
        match self.hold {
            Some((_, h)) => self.purposes.max(Until::At(h)),
            None => self.purposes,
        }
    }
}

pub fn cover(
    policy: &Policy,
    value: &VaultValue,
    last_activity: Millis,
    latest: &HashMap<&str, &ConsentRecord>,
) -> Cover {
    let purposes = value
        .purposes
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| purpose_until(policy, p, value.collected_at, last_activity, latest))
        .max()
        .unwrap_or(Until::At(value.collected_at));
    Cover {
        purposes,
        hold: hold_until(policy, value.category.as_deref(), value.collected_at),
    }
}

/// The legal hold on `category` (index into `legal_holds`) and when it ends for data collected
/// at `collected`: the longest when several name the category.
pub fn hold_until(
    policy: &Policy,
    category: Option<&str>,
    collected: Millis,
) -> Option<(usize, Millis)> {
    let c = category?;
    policy
        .legal_holds
        .iter()
        .enumerate()
        .filter(|(_, h)| h.def.category == c)
        .map(|(i, h)| (i, h.keep.after(collected)))
        .max_by_key(|(_, t)| *t)
}

/// What the sweeper does with one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// Some collections are past every purpose and hold.
    DropValues(Vec<i64>),
    /// Only held values are left: keep them restricted until the hold ends, destroy the rest.
    Hold {
        drop: Vec<i64>,
        until: Millis,
    },
    /// Nothing covers the subject any more: crypto-shred it.
    Erase,
}

/// The sweeper's rule for one subject, given its values and ledger records.
///
/// `encrypt` envelopes live in the upstream, not in the vault, and are readable while the
/// subject's key is: the key goes only when no purpose the subject has had (by its values or
/// its ledger) covers data collected at its last activity.
pub fn decide(
    policy: &Policy,
    last_activity: Millis,
    erase_after: Option<Millis>,
    values: &[&VaultValue],
    records: &[&ConsentRecord],
    now: Millis,
) -> Decision {
    if erase_after.is_some_and(|t| t <= now) {
        return Decision::Erase;
    }
    if values.is_empty() && records.is_empty() {
        // Nothing says what the subject's data (envelopes upstream) is for: keep the key.
        return Decision::Keep;
    }
    let latest = latest_records(records.iter().copied());
    let mut drop = Vec::new();
    let mut live = false;
    let mut held_until: Option<Millis> = None;
    for v in values {
        let c = cover(policy, v, last_activity, &latest);
        if c.purposes.live_at(now) {
            live = true;
        } else if let Some((_, h)) = c.hold.filter(|(_, h)| *h > now) {
            held_until = Some(held_until.map_or(h, |x| x.max(h)));
        } else {
            drop.push(v.id);
        }
    }
    if live {
        return if drop.is_empty() {
            Decision::Keep
        } else {
            Decision::DropValues(drop)
        };
    }
    let mut purposes: Vec<&str> = values
        .iter()
        .flat_map(|v| v.purposes.split(','))
        .chain(records.iter().map(|r| r.purpose.as_str()))
        .filter(|p| !p.is_empty())
        .collect();
    purposes.sort_unstable();
    purposes.dedup();
    let key_needed = purposes
        .iter()
        .any(|p| purpose_until(policy, p, last_activity, last_activity, &latest).live_at(now));
    if key_needed {
        return if drop.is_empty() {
            Decision::Keep
        } else {
            Decision::DropValues(drop)
        };
    }
    match held_until {
        Some(until) if erase_after == Some(until) && drop.is_empty() => Decision::Keep,
        Some(until) => Decision::Hold { drop, until },
        None => Decision::Erase,
    }
}

#[cfg(test)]
mod tests;
