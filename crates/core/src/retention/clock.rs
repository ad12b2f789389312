//! The destruction clock a withdrawal starts (152-FZ Art. 21(5)): once a subject withdraws
//! consent to a purpose, or objects to it, the data that purpose alone covered must be destroyed
//! within thirty days of the withdrawal's receipt, unless another basis covers it. The sweeper
//! destroys such data at its next run (its cover ended at the withdrawal); the clock shows the
//! DPO which withdrawals still have data waiting, and which are past their thirty days.

use std::collections::HashMap;

use serde::Serialize;

use super::{cover, latest_records};
use crate::policy::Policy;
use crate::records::{ConsentRecord, Pseudonym, SubjectState, VaultValue};
use crate::Millis;

/// Thirty days, counted from the moment of receipt: the law counts from the date of receipt,
/// and this reading is the earlier one, so a clock never shows more time than the law gives.
pub const DESTRUCTION_WITHIN: Millis = 30 * 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Nothing the withdrawal ended is still stored.
    Met,
    /// Some is, and the thirty days run.
    Running,
    /// Some is, and the thirty days are over.
    Overdue,
}

/// One withdrawal's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clock {
    pub subject: Pseudonym,
    pub purpose: String,
    /// `withdrawn` or `objected`.
    pub record: &'static str,
    pub ended_at: Millis,
    pub due_at: Millis,
    /// Stored collections whose every purpose has ended and that no legal hold keeps.
    pub values_left: usize,
    pub state: ClockState,
}

/// The clocks of one subject's withdrawals still in force (a purpose granted again since has
/// none), newest first.
pub fn clocks(
    policy: &Policy,
    subject: &SubjectState,
    values: &[&VaultValue],
    records: &[&ConsentRecord],
    now: Millis,
) -> Vec<Clock> {
    let latest: HashMap<&str, &ConsentRecord> = latest_records(records.iter().copied());
    let mut out: Vec<Clock> = latest
        .values()
        .filter(|r| r.state.ends())
        .map(|r| {
            let values_left = values
                .iter()
                .filter(|v| v.purposes.split(',').any(|p| p == r.purpose))
                .filter(|v| {
                    let c = cover(policy, v, subject.last_activity_at, &latest);
                    !c.purposes.live_at(now) && c.hold.is_none_or(|(_, h)| h <= now)
                })
                .count();
            let due_at = r.at + DESTRUCTION_WITHIN;
            Clock {
                subject: crate::records::pseudonym(&subject.row.id),
                purpose: r.purpose.clone(),
                record: r.state.as_str(),
                ended_at: r.at,
                due_at,
                values_left,
                state: match (values_left, due_at <= now) {
                    (0, _) => ClockState::Met,
                    (_, false) => ClockState::Running,
                    (_, true) => ClockState::Overdue,
                },
            }
        })
        .collect();
    out.sort_by(|a, b| b.ended_at.cmp(&a.ended_at).then(a.purpose.cmp(&b.purpose)));
    out
}
