//! Retention at the edge: the sweeper that applies the rule ([`pdgate_core::retention`]) to the
//! vault on a schedule.

pub use pdgate_core::retention::*;

pub mod sweep;

use pdgate_core::policy::Policy;
use pdgate_core::Millis;
use pdgate_store::{Backend, Rights, Store, StoreError};

/// How far back the withdrawal clocks look: the thirty days and as long again for an overdue one.
pub const CLOCKS_LOOK_BACK: Millis = 2 * clock::DESTRUCTION_WITHIN;
/// At most this many subjects' clocks on one answer.
const CLOCK_SUBJECTS: i64 = 1_000;

/// The destruction clocks of the withdrawals received since `now − CLOCKS_LOOK_BACK`, overdue
/// first, then running, then met; each by due time.
pub async fn clocks(
    store: &Store,
    policy: &Policy,
    now: Millis,
) -> Result<Vec<clock::Clock>, StoreError> {
    let ids = store
        .withdrawn_since(now - CLOCKS_LOOK_BACK, CLOCK_SUBJECTS)
        .await?;
    let refs: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes()).collect();
    let mut out = Vec::new();
    for chunk in refs.chunks(200) {
        let states = store.subject_states(chunk).await?;
        let values = store.values_of_subjects(chunk).await?;
        let records = store.consents_of_subjects(chunk).await?;
        for s in &states {
            let v: Vec<_> = values.iter().filter(|v| v.subject_id == s.row.id).collect();
            let r: Vec<_> = records
                .iter()
                .filter(|r| r.subject_id == s.row.id)
                .collect();
            out.extend(
                clock::clocks(policy, s, &v, &r, now)
                    .into_iter()
                    .filter(|c| c.ended_at >= now - CLOCKS_LOOK_BACK),
            );
        }
    }
    let rank = |s: clock::ClockState| match s {
        clock::ClockState::Overdue => 0,
        clock::ClockState::Running => 1,
        clock::ClockState::Met => 2,
    };
    out.sort_by_key(|c| (rank(c.state), c.due_at));
    Ok(out)
}
