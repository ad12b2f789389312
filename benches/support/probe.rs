//! What the benches of background work share: this process's CPU time and a probe of intake
//! commit latency beside that work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pdgate::crypto::Keys;
use pdgate::policy::Policy;
use pdgate::store::Committer;

use super::common;

/// User and system CPU time of this process so far (Linux, `/proc/self/stat`; 0 elsewhere).
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15, in clock ticks of 1/100 s on Linux.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<f64>() / 100.0
}

/// Concurrent intake writers of the latency probe (`SWEEP_PROBE_TASKS`, default 16), and the
/// pause between one's intakes.
pub(crate) fn probe_tasks() -> u64 {
    std::env::var("SWEEP_PROBE_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}
pub(crate) const PROBE_GAP_MS: u64 = 10;

pub(crate) struct Latencies(pub(crate) Vec<Duration>);

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = self.0.clone();
        v.sort();
        let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
        write!(
            f,
            "{} intakes, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        )
    }
}

/// Commits bench-form intakes from [`probe_tasks`] writers until `until` resolves and returns
/// each commit's latency; `round` keeps the rounds' subjects apart. The intakes are dated `at`,
/// the sweep's clock: fresh data the sweep keeps, so it erases the seeded values and no more.
pub(crate) async fn probe(
    committer: &Committer,
    policy: &Arc<Policy>,
    keys: &Arc<Keys>,
    (round, at): (u64, pdgate::Millis),
    until: impl std::future::Future<Output = ()>,
) -> Latencies {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let n = probe_tasks();
    let tasks: Vec<_> = (0..n)
        .map(|t| {
            let (committer, policy, keys, stop) = (
                committer.clone(),
                policy.clone(),
                keys.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut seed = 1_000_000_000 * (1 + round * n + t);
                let mut took = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut write = common::writes(&policy, &keys, 1, &mut seed).pop().unwrap();
                    write.at = at;
                    for c in &mut write.consents {
                        c.at = at;
                    }
                    let t0 = Instant::now();
                    committer.commit(write).await.unwrap();
                    took.push(t0.elapsed());
                    tokio::time::sleep(Duration::from_millis(PROBE_GAP_MS)).await;
                }
                took
            })
        })
        .collect();
    until.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Latencies(all)
}
