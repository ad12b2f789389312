//! The sweeper: pages through subjects in id order, decides each with [`super::decide`] and
//! commits what goes in slices sized to a time budget, so intakes queued behind the sweep wait
//! for one short transaction, never for a page or the whole sweep. With several replicas on
//! PostgreSQL only the holder of the advisory lock sweeps.
//!
//! An erased subject's tokens, subject key and search-index entries are keyed by random MACs and
//! tokens; deleting them with the subject would write one random page each, most of what a big
//! sweep writes. The slices delete the subject (its wrapped key, values and consents: nothing of
//! it is readable from then on) and list it as pending; once the pages are done, [`purge`] walks
//! those tables in key order, writing each page once. On PostgreSQL subject order is the cheap
//! one ([`Store::defers_purge`]) and the slices purge as they go.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::Decision;
use crate::audit::AuditEvent;
use pdgate_core::crypto::Keys;
use pdgate_core::intake::pseudonym;
use pdgate_core::legal_day::LegalZone;
use pdgate_core::policy::Policy;
use pdgate_core::requests::erasure::{self, Act, Destroyer, Planned, Reason, Scope, Target};
use pdgate_core::Millis;
use pdgate_store::rights::{Change, SweepRow, SweepStatus};
use pdgate_store::{Committer, Rights, Store, StoreError, VaultValue};

/// Subjects read and decided per page.
pub const PAGE: i64 = 500;

/// How long one sweep transaction may hold the writer: an intake arriving during it waits at most
/// about this long. The erasures of a page are committed in slices sized to fit it, by the time
/// each slice held the writer (its wait in the queue behind intakes is not counted: with it, a
/// writer busy with intakes got smaller slices, which slowed the sweep without shortening any
/// intake's wait).
const SLICE_BUDGET: Duration = Duration::from_millis(10);
/// Subjects in the first slice, before the budget has been measured against real commits.
const FIRST_SLICE: usize = 64;

/// The next slice size: scaled to the budget by how long the last slice of `n` subjects held the
/// writer, growing at most fourfold at a time, at least one subject and at most a page.
fn next_slice(n: usize, took: Duration) -> usize {
    fit_budget(n, took, PAGE as usize)
}

/// How many items fit in [`SLICE_BUDGET`] when `n` took `took`: at least one, at most `max`, and
/// at most four times `n`.
fn fit_budget(n: usize, took: Duration, max: usize) -> usize {
    let per_item = took.as_secs_f64() / n.max(1) as f64;
    let fit = (SLICE_BUDGET.as_secs_f64() / per_item.max(1e-9)) as usize;
    fit.clamp(1, (4 * n.max(1)).min(max))
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub sweep_id: String,
    pub dry_run: bool,
    /// `false`: another replica holds the sweeper lock; nothing was done.
    pub leader: bool,
    pub subjects_seen: u64,
    pub subjects_erased: u64,
    pub values_erased: u64,
    pub subjects_restricted: u64,
    pub acts_expired: u64,
    /// Subjects decided for erasure that an intake added to before the erasure committed: they
    /// were left as they are, for a later sweep to decide on what they hold then.
    pub subjects_changed: u64,
    /// Tokens turned into tombstones and subject-key and search-index entries deleted after the
    /// sweep (or, when few subjects were erased, subjects purged one by one).
    pub entries_purged: u64,
    /// What went (or would go), one line per subject, at most [`MAX_ITEMS`].
    pub items: Vec<Item>,
}

pub const MAX_ITEMS: usize = 1000;

impl Report {
    /// Counts one subject's erasure: done, or in a dry run, what would be done.
    fn count(&mut self, d: &Decided) {
        let p = &d.planned;
        let (subjects, values, restricted) = d.tally();
        self.subjects_erased += subjects;
        self.values_erased += values;
        self.subjects_restricted += restricted;
        if self.items.len() < MAX_ITEMS {
            self.items.push(Item {
                subject: pseudonym(&p.erase.subject_id),
                action: d.action,
                values: p.values,
            });
        }
    }

    /// The sweep's row as of now: what it erased so far and what `slice` (about to commit in
    /// the same transaction as the row) erases.
    fn row(&self, started_at: Millis, status: SweepStatus, slice: &[Decided]) -> SweepRow {
        let (mut subjects, mut values, mut restricted) = (
            self.subjects_erased,
            self.values_erased,
            self.subjects_restricted,
        );
        for d in slice {
            let (s, v, r) = d.tally();
            subjects += s;
            values += v;
            restricted += r;
        }
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        SweepRow {
            id: self.sweep_id.clone(),
            started_at,
            finished_at: pdgate_core::now_millis().max(started_at),
            subjects_erased: count(subjects),
            values_erased: count(values),
            subjects_restricted: count(restricted),
            acts_expired: count(self.acts_expired),
            status,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub subject: pdgate_core::records::Pseudonym,
    pub action: &'static str,
    pub values: usize,
}

/// One sweep at `now`. With `dry_run` nothing is written; the report says what would go.
pub async fn run(
    store: &Store,
    committer: &Committer,
    policy: &Policy,
    keys: &Keys,
    zone: &LegalZone,
    now: Millis,
    dry_run: bool,
) -> Result<Report, StoreError> {
    let mut report = Report {
        sweep_id: format!("swp_{}", uuid::Uuid::now_v7().simple()),
        dry_run,
        ..Report::default()
    };
    let Some(_leader) = store.leader("retention-sweeper").await? else {
        tracing::info!("retention sweep skipped: another replica holds the sweeper lock");
        return Ok(report);
    };
    report.leader = true;
    let sweep_id = report.sweep_id.clone();
    let act = Act {
        policy,
        backend: store.backend_name(),
        reason: Reason::Retention {
            sweep_id: &sweep_id,
        },
        by: Destroyer::sweeper(),
        zone,
        at: now,
    };
    let defer = store.defers_purge();
    if !dry_run {
        // Listed while it runs; a sweep a stopped process left running is marked interrupted
        // (this one holds the sweeper lock, so no other runs).
        committer
            .apply(Change {
                at: now,
                sweep: Some(report.row(now, SweepStatus::Running, &[])),
                interrupt_sweeps: true,
                ..Change::default()
            })
            .await?;
    }
    let mut slice = FIRST_SLICE;
    let mut next = plan_page(store, (policy, keys), &sweep_id, Vec::new(), now).await?;
    while let Some(page) = next {
        report.subjects_seen += page.seen;
        // The next page is read and decided while this one commits: the writer is kept busy
        // with erasures instead of waiting for the reads between pages.
        let following = async {
            match page.after {
                Some(after) => plan_page(store, (policy, keys), &sweep_id, after, now).await,
                None => Ok(None),
            }
        };
        if dry_run {
            for d in &page.work {
                report.count(d);
            }
            next = following.await?;
            continue;
        }
        let (applied, following) = tokio::join!(
            apply_page(committer, &act, page.work, &mut slice, defer, &mut report),
            following
        );
        applied?;
        next = following?;
    }
    if !dry_run {
        finish(store, committer, &mut report, now).await?;
    }
    Ok(report)
}

/// After the last page: purges the erased subjects' random-key entries, expires destruction acts
/// past their 3 years, and records the sweep as finished with its audit entry.
async fn finish(
    store: &Store,
    committer: &Committer,
    report: &mut Report,
    now: Millis,
) -> Result<(), StoreError> {
    report.entries_purged = purge(store, committer, report.subjects_seen, now).await?;
    let expire = Change {
        at: now,
        expire_acts_before: Some(now),
        ..Change::default()
    };
    report.acts_expired = committer.apply(expire).await? as u64;
    let audit = AuditEvent::RetentionSweep {
        sweep_id: report.sweep_id.clone(),
        subjects_erased: to_u32(report.subjects_erased),
        values_erased: to_u32(report.values_erased),
        subjects_restricted: to_u32(report.subjects_restricted),
        acts_expired: to_u32(report.acts_expired),
    };
    let finished = Change {
        at: now,
        sweep: Some(report.row(now, SweepStatus::Finished, &[])),
        audit: vec![audit],
        ..Change::default()
    };
    committer.apply(finished).await?;
    Ok(())
}

/// One subject's erasure as planned, and the report's name for it.
struct Decided {
    planned: Planned,
    action: &'static str,
}

impl Decided {
    /// What it erases: (whole subjects, values, subjects restricted under a hold).
    fn tally(&self) -> (u64, u64, u64) {
        (
            u64::from(self.planned.whole_subject),
            self.planned.values as u64,
            u64::from(self.action == "restrict_held"),
        )
    }
}

/// One page of subjects, decided: what goes.
#[derive(Default)]
struct PagePlan {
    seen: u64,
    work: Vec<Decided>,
    /// Where the next page starts; `None` after the last page.
    after: Option<Vec<u8>>,
}

/// Reads the page of subjects after `after` with their values and consent records and decides
/// each; `None` when no subject is left.
async fn plan_page(
    store: &Store,
    (policy, keys): (&Policy, &Keys),
    sweep_id: &str,
    after: Vec<u8>,
    now: Millis,
) -> Result<Option<PagePlan>, StoreError> {
    let page = store.subjects_page(&after, PAGE).await?;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    let ids: Vec<&[u8]> = page.iter().map(|s| s.state.row.id.as_bytes()).collect();
    let values = store.values_of_subjects(&ids).await?;
    let records = store.consents_of_subjects(&ids).await?;
    let mut values_by: HashMap<&[u8], Vec<&VaultValue>> = HashMap::new();
    for v in &values {
        values_by
            .entry(v.subject_id.as_bytes())
            .or_default()
            .push(v);
    }
    let mut records_by: HashMap<&[u8], Vec<&pdgate_store::ConsentRecord>> = HashMap::new();
    for r in &records {
        records_by
            .entry(r.subject_id.as_bytes())
            .or_default()
            .push(r);
    }
    let mut plan = PagePlan {
        after: ((page.len() as i64) == PAGE).then(|| last.state.row.id.to_vec()),
        ..PagePlan::default()
    };
    for s in &page {
        plan.seen += 1;
        let id = &s.state.row.id;
        let vals = values_by.remove(id.as_bytes()).unwrap_or_default();
        let recs = records_by.remove(id.as_bytes()).unwrap_or_default();
        let decision = super::decide(
            policy,
            s.state.last_activity_at,
            s.erase_after,
            &vals,
            &recs,
            now,
        );
        let (scope, action) = match decision {
            Decision::Keep => continue,
            Decision::Erase => (Scope::All, "erase_subject"),
            Decision::DropValues(ids) => (Scope::Values(ids), "erase_values"),
            Decision::Hold { drop, until } => (Scope::Hold { drop, until }, "restrict_held"),
        };
        // A hold keeps the held categories' keys; whether the data key can go depends on
        // whether it sealed data itself (read only for the rare subject a hold keeps).
        let seals_data = match &scope {
            Scope::Hold { .. } => store
                .key_states(&[id.as_bytes()])
                .await?
                .first()
                .is_none_or(|k| k.seals_data),
            _ => true,
        };
        let target = Target {
            id,
            revision: s.revision,
            keys,
            wrapped_dek: &s.state.row.wrapped_dek,
            seals_data,
        };
        let planned = erasure::plan(
            policy,
            target,
            &vals,
            &recs,
            scope,
            Reason::Retention { sweep_id },
            now,
        );
        plan.work.push(Decided { planned, action });
    }
    Ok(Some(plan))
}

/// Commits a page's erasures in slices sized to [`SLICE_BUDGET`], each slice under one
/// destruction act, and counts what they erased in `report`.
///
/// A page is read well before its slices commit. A subject an intake added to in between is
/// refused by the store ([`StoreError::SubjectsMoved`]) and the slice commits without it: its
/// new data is neither destroyed unseen nor missing from the act and the webhooks, and a later
/// sweep decides it on what it holds then.
async fn apply_page(
    committer: &Committer,
    act: &Act<'_>,
    work: Vec<Decided>,
    slice: &mut usize,
    defer_purge: bool,
    report: &mut Report,
) -> Result<(), StoreError> {
    let mut work = work.into_iter().peekable();
    while work.peek().is_some() {
        let mut part: Vec<Decided> = work.by_ref().take(*slice).collect();
        let mut took = Duration::ZERO;
        while !part.is_empty() {
            let mut change = Change {
                at: act.at,
                defer_purge,
                ..Change::default()
            };
            act.add(&mut change, part.iter().map(|d| d.planned.clone()));
            change.sweep = Some(report.row(act.at, SweepStatus::Running, &part));
            match committer.apply_timed(change).await {
                Ok((_, held)) => {
                    took += held;
                    break;
                }
                Err(StoreError::SubjectsMoved(moved)) => {
                    let before = part.len();
                    part.retain(|d| !moved.contains(&d.planned.erase.subject_id));
                    if part.len() == before {
                        return Err(StoreError::SubjectsMoved(moved));
                    }
                    report.subjects_changed += (before - part.len()) as u64;
                }
                Err(e) => return Err(e),
            }
        }
        for d in &part {
            report.count(d);
        }
        if !part.is_empty() {
            *slice = next_slice(part.len(), took);
        }
    }
    Ok(())
}

/// Below this many pending subjects the purge goes subject by subject.
const PURGE_IN_KEY_ORDER_FROM: u64 = 1000;

/// Whether to purge by walking the tables in key order: it reads every page of them and writes
/// each page that holds a pending entry once, where going subject by subject writes one page per
/// entry. Walking pays off once a page read is likely to find work, about from 1 % of the
/// subjects on (a vault's tokens carry about 40 entries a page).
fn purge_in_key_order(pending: u64, subjects: u64) -> bool {
    pending >= PURGE_IN_KEY_ORDER_FROM && pending.saturating_mul(100) >= subjects
}

/// Entries walked in the first purge step of a table.
const FIRST_PURGE_ROWS: usize = 4096;
/// At most this many entries walked in one purge step.
const MAX_PURGE_ROWS: usize = 1 << 17;

/// Purges what the sweep's erasures (and any sweep that stopped before its purge) left keyed by
/// random MACs and tokens, in steps sized to [`SLICE_BUDGET`] like the erasures; returns the
/// entries (or subjects) purged. `subjects` is how many the sweep saw, the size of the vault.
async fn purge(
    store: &Store,
    committer: &Committer,
    subjects: u64,
    now: Millis,
) -> Result<u64, StoreError> {
    use pdgate_store::rights::{PurgeStep, PurgeTable};
    let pending = store.purge_pending().await?;
    if pending == 0 {
        return Ok(0);
    }
    if !purge_in_key_order(pending, subjects.max(pending)) {
        return by_subject(committer, now, |limit| PurgeStep::Subjects { limit }).await;
    }
    let mut purged = 0;
    let mut rows = FIRST_PURGE_ROWS;
    for table in PurgeTable::ALL {
        let mut after = None;
        loop {
            let step = PurgeStep::Range {
                table,
                after: after.take(),
                rows: rows as i64,
            };
            let (p, took) = committer.purge(step, now).await?;
            purged += p.purged;
            rows = fit_budget(rows, took, MAX_PURGE_ROWS);
            if p.done {
                break;
            }
            after = p.next;
        }
    }
    by_subject(committer, now, |limit| PurgeStep::Finish { limit }).await?;
    Ok(purged)
}

/// Runs purge steps over the pending subjects in id order, each `step(limit)` sized like a sweep
/// slice, until one says it is done; returns what they purged.
async fn by_subject(
    committer: &Committer,
    now: Millis,
    step: impl Fn(i64) -> pdgate_store::rights::PurgeStep,
) -> Result<u64, StoreError> {
    let mut purged = 0;
    let mut limit = FIRST_SLICE;
    loop {
        let (p, took) = committer.purge(step(limit as i64), now).await?;
        purged += p.purged;
        if p.done {
            return Ok(purged);
        }
        limit = next_slice(limit, took);
    }
}

fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Sweeps every `interval` until `stop` resolves (the `serve` loop); failures are logged and
/// retried at the next tick.
pub async fn every(
    (store, committer, policy, keys): (
        Store,
        Committer,
        std::sync::Arc<Policy>,
        std::sync::Arc<Keys>,
    ),
    zone: LegalZone,
    interval: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    // The first sweep one interval after start, not during it.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        match run(
            &store,
            &committer,
            &policy,
            &keys,
            &zone,
            pdgate_core::now_millis(),
            false,
        )
        .await
        {
            Ok(r) if r.leader => tracing::info!(
                sweep = %r.sweep_id,
                subjects_erased = r.subjects_erased,
                values_erased = r.values_erased,
                subjects_restricted = r.subjects_restricted,
                subjects_changed = r.subjects_changed,
                acts_expired = r.acts_expired,
                "retention sweep done"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed; retrying at the next interval")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_keys() -> Keys {
        use pdgate_core::crypto::{Kek, RootSecret};
        Keys::derive(Kek::generate(1), &RootSecret::generate())
    }

    #[test]
    fn slices_fit_the_budget_and_grow_gently() {
        // 64 subjects took 80 ms: 8 fit in 10 ms.
        assert_eq!(next_slice(64, Duration::from_millis(80)), 8);
        // Fast commits grow the slice at most fourfold, and never past a page.
        assert_eq!(next_slice(64, Duration::from_millis(1)), 256);
        assert_eq!(next_slice(256, Duration::from_millis(1)), PAGE as usize);
        // A slow commit still moves one subject at a time.
        assert_eq!(next_slice(1, Duration::from_secs(1)), 1);
        // Degenerate input (nothing was sent) neither panics nor stalls the sweep.
        assert_eq!(next_slice(0, Duration::ZERO), 4);
        // Purge steps grow to their own cap.
        assert_eq!(fit_budget(4096, Duration::from_millis(1), 10_000), 10_000);
    }

    /// A page is read and decided well before its slices commit. An intake into one of its
    /// subjects in between must not be erased unseen: the slice commits without that subject,
    /// the act and report leave it out, and the next sweep decides it on what it holds then.
    /// (The store's refusal itself is checked on both backends in `tests/it/storage.rs`.)
    #[tokio::test]
    #[allow(clippy::too_many_lines)] // a scenario, read top to bottom
    async fn a_subject_added_to_after_planning_is_left_for_a_later_sweep() {
        use crate::audit::Chain;
        use pdgate_store::{Backend, IntakeWrite, SubjectWrite, ValueWrite};
        const T0: Millis = 1_800_000_000_000;
        const DAY: Millis = 86_400_000;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pdgate.db").display());
        let store = Store::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        let (committer, _task) = Committer::start(store.clone(), Chain::new("w"), None);
        let policy = Policy::load(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"),
        )
        .unwrap();
        let value = |mac: u8| ValueWrite {
            value_mac: [mac; 32].into(),
            candidates: vec![format!("tok_{mac}").into()],
            shape: "generic".into(),
            kind: "generic".into(),
            action: "tokenize".into(),
            category: Some("contact".into()),
            field: "f".into(),
            purposes: "order_fulfilment".into(),
            ciphertext: vec![mac],
        };
        let write = |at: Millis, subject: SubjectWrite, mac: u8| IntakeWrite {
            at,
            route: "checkout".into(),
            subject: Some(subject),
            values: vec![value(mac)],
            ..IntakeWrite::default()
        };
        for i in 1..=3u8 {
            let new = SubjectWrite::New {
                id: vec![i; 16].into(),
                key: None,
                wrapped_dek: vec![9; 60],
                kek_version: 1,
            };
            committer.commit(write(T0, new, i)).await.unwrap();
        }
        // Contact data for order fulfilment is kept 3 years from collection.
        let now = T0 + 4 * 366 * DAY;
        let keys = test_keys();
        let page = plan_page(&store, (&policy, &keys), "swp_t", Vec::new(), now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page.work.len(), 3);
        let changed = pdgate_store::SubjectId::from(vec![2u8; 16]);
        let again = SubjectWrite::Existing {
            id: changed.clone(),
        };
        committer.commit(write(now, again, 22)).await.unwrap();

        let act = Act {
            policy: &policy,
            backend: store.backend_name(),
            reason: Reason::Retention { sweep_id: "swp_t" },
            by: Destroyer::sweeper(),
            zone: &LegalZone::default(),
            at: now,
        };
        let mut report = Report {
            sweep_id: "swp_t".into(),
            ..Report::default()
        };
        let mut slice = FIRST_SLICE;
        let defer = store.defers_purge();
        apply_page(&committer, &act, page.work, &mut slice, defer, &mut report)
            .await
            .unwrap();
        assert_eq!(
            (
                report.subjects_changed,
                report.subjects_erased,
                report.values_erased
            ),
            (1, 2, 2)
        );
        assert!(report
            .items
            .iter()
            .all(|i| i.subject != pseudonym(&changed)));
        assert_eq!(store.values_of(&changed).await.unwrap().len(), 2);
        let acts = store.acts_of_sweep("swp_t", None, 10).await.unwrap();
        assert_eq!(acts.len(), 1);
        let listed: serde_json::Value = serde_json::from_str(&acts[0].1).unwrap();
        assert_eq!(listed["subjects"].as_array().unwrap().len(), 2);
        assert_eq!(listed["log_extract"].as_array().unwrap().len(), 2);

        // The next sweep sees the new value: the old one goes, the new one stays.
        let next = run(
            &store,
            &committer,
            &policy,
            &test_keys(),
            &LegalZone::default(),
            now,
            false,
        )
        .await
        .unwrap();
        assert_eq!((next.subjects_changed, next.values_erased), (0, 1));
        let left = store.values_of(&changed).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].collected_at, now);

        // The slice wrote its sweep's progress with it; that sweep never finished, and the next
        // one, which did, marked it interrupted.
        let row = |id: &str| {
            let store = store.clone();
            let id = id.to_string();
            async move { store.sweeps(Some(&id), None, 1, false).await.unwrap()[0].clone() }
        };
        let left_behind = row("swp_t").await;
        assert_eq!(
            (
                left_behind.status,
                left_behind.subjects_erased,
                left_behind.values_erased
            ),
            (SweepStatus::Interrupted, 2, 2)
        );
        let finished = row(&next.sweep_id).await;
        assert_eq!(
            (finished.status, finished.values_erased, finished.started_at),
            (SweepStatus::Finished, 1, now)
        );
    }

    #[test]
    fn purge_walks_the_tables_only_when_many_subjects_are_pending() {
        // A few erasures in a big vault: subject by subject.
        assert!(!purge_in_key_order(999, 1_000));
        assert!(!purge_in_key_order(5_000, 1_000_000));
        // A sweep that erased a third of a million subjects: in key order.
        assert!(purge_in_key_order(333_334, 333_334));
        assert!(purge_in_key_order(10_000, 1_000_000));
    }
}
