//! `/metrics` (SPEC 11): Prometheus figures for operators. Counters and the intake histogram are
//! updated on the hot path (atomic increments, no allocation once a label set exists); the
//! request, outbox and breach gauges are read from the store at scrape time with index-backed
//! counts, so every replica reports the shared state and nothing drifts between scrapes.
//!
//! Labels are bounded: routes are policy ids (plus `unmatched` and `self_service`), outcomes and
//! denial reasons are fixed sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use pdgate_store::oversight::Gauges;
use pdgate_store::rights::SweepRow;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOutcome {
    pub route: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Decision {
    pub outcome: &'static str,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Outcomes of a proxy request, in the order of [`PerRoute::requests`].
const OUTCOMES: [&str; 4] = ["forwarded", "answered", "refused", "error"];

/// A route's series, created at start so the hot path only hashes a `&str` and increments.
struct PerRoute {
    requests: [Counter; 4],
    intake_seconds: Histogram,
}

pub struct Metrics {
    registry: Registry,
    routes: std::collections::HashMap<String, PerRoute>,
    requests: Family<RouteOutcome, Counter>,
    intake_seconds: Family<RouteLabel, Histogram>,
    detokenize: Family<Decision, Counter>,
    transfers_refused: Counter,
    commit_failures: Family<ReasonLabel, Counter>,
    open_requests: Gauge,
    overdue_requests: Gauge,
    outbox_backlog: Gauge,
    outbox_oldest_age: Gauge,
    open_breaches: Gauge,
    breach_clocks_running: Gauge,
    breach_clocks_overdue: Gauge,
    breach_next_deadline: Gauge,
    sweep_finished: Gauge,
    sweep_subjects: Gauge,
    sweep_values: Gauge,
}

/// The counters and histograms, registered.
struct Families {
    requests: Family<RouteOutcome, Counter>,
    intake_seconds: Family<RouteLabel, Histogram>,
    detokenize: Family<Decision, Counter>,
    transfers_refused: Counter,
    commit_failures: Family<ReasonLabel, Counter>,
}

impl Families {
    fn register(registry: &mut Registry) -> Families {
        let requests = Family::<RouteOutcome, Counter>::default();
        registry.register(
            "http_requests",
            "Requests on the proxy listener by route and outcome (forwarded, refused, error)",
            requests.clone(),
        );
        let intake_seconds = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            // 0.5 ms … ~4 s.
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "intake_duration_seconds",
            "Time from a matched form post's arrival to the upstream's response head",
            intake_seconds.clone(),
        );
        let detokenize = Family::<Decision, Counter>::default();
        registry.register(
            "detokenize_tokens",
            "Tokens asked of /v1/detokenize, granted or denied by reason",
            detokenize.clone(),
        );
        let transfers_refused = Counter::default();
        registry.register(
            "cross_border_refused",
            "Transfers abroad refused for want of an Art. 12 notification",
            transfers_refused.clone(),
        );
        let commit_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "store_commit_failures",
            "Write transactions of the vault that failed, by reason (disk_full, read_only, unavailable, other)",
            commit_failures.clone(),
        );
        Families {
            requests,
            intake_seconds,
            detokenize,
            transfers_refused,
            commit_failures,
        }
    }

    /// A route's series, created up front so the hot path finds them without the family's lock.
    fn per_route(&self, route: &str) -> PerRoute {
        PerRoute {
            requests: OUTCOMES.map(|outcome| {
                let label = RouteOutcome {
                    route: route.to_owned(),
                    outcome,
                };
                self.requests.get_or_create(&label).clone()
            }),
            intake_seconds: self
                .intake_seconds
                .get_or_create(&RouteLabel {
                    route: route.to_owned(),
                })
                .clone(),
        }
    }
}

impl Metrics {
    /// Series for `routes` (policy route ids; `unmatched` and `self_service` are added) are
    /// created now; any other label still works, through the slower family lookup.
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a str>) -> Metrics {
        let mut registry = Registry::with_prefix("pdgate");
        let f = Families::register(&mut registry);
        let routes = routes
            .into_iter()
            .chain(["unmatched", "self_service"])
            .map(|r| (r.to_owned(), f.per_route(r)))
            .collect();
        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        Metrics {
            routes,
            open_requests: gauge(
                "subject_requests_open",
                "Data subject requests not yet fulfilled",
            ),
            overdue_requests: gauge(
                "subject_requests_overdue",
                "Open data subject requests past their due time",
            ),
            outbox_backlog: gauge(
                "outbox_backlog",
                "Erasure and rectification webhooks not yet delivered",
            ),
            outbox_oldest_age: gauge(
                "outbox_oldest_undelivered_seconds",
                "How long the oldest undelivered webhook has waited (0: none waits)",
            ),
            open_breaches: gauge("breaches_open", "Breaches not yet closed"),
            breach_clocks_running: gauge(
                "breach_clocks_running",
                "Notice clocks of open breaches not yet met (152-FZ 24 h / 72 h, GDPR 72 h, …)",
            ),
            breach_clocks_overdue: gauge(
                "breach_clocks_overdue",
                "Running notice clocks past their due time",
            ),
            breach_next_deadline: gauge(
                "breach_next_deadline_seconds",
                "Seconds to the earliest running notice clock's due time, negative once past (0: none runs)",
            ),
            sweep_finished: gauge(
                "retention_last_sweep_timestamp_seconds",
                "When the last retention sweep finished (Unix time)",
            ),
            sweep_subjects: gauge(
                "retention_last_sweep_subjects_erased",
                "Subjects erased by the last retention sweep",
            ),
            sweep_values: gauge(
                "retention_last_sweep_values_erased",
                "Values erased by the last retention sweep",
            ),
            registry,
            requests: f.requests,
            intake_seconds: f.intake_seconds,
            detokenize: f.detokenize,
            transfers_refused: f.transfers_refused,
            commit_failures: f.commit_failures,
        }
    }

    /// A finished proxy request: `forwarded` when the upstream answered it, otherwise pdgate
    /// answered itself (`answered`, `refused` or `error` by status).
    pub fn request(&self, route: &str, status: u16, forwarded: bool) {
        let i = match status {
            _ if forwarded => 0,
            500.. => 3,
            400.. => 2,
            _ => 1,
        };
        match self.routes.get(route) {
            Some(r) => {
                r.requests[i].inc();
            }
            None => {
                self.requests
                    .get_or_create(&RouteOutcome {
                        route: route.to_owned(),
                        outcome: OUTCOMES[i],
                    })
                    .inc();
            }
        }
    }

    pub fn intake_latency(&self, route: &str, seconds: f64) {
        match self.routes.get(route) {
            Some(r) => r.intake_seconds.observe(seconds),
            None => self
                .intake_seconds
                .get_or_create(&RouteLabel {
                    route: route.to_owned(),
                })
                .observe(seconds),
        }
    }

    pub fn detokenized(&self, granted: u32, denied: &std::collections::BTreeMap<String, u32>) {
        if granted > 0 {
            self.detokenize
                .get_or_create(&Decision {
                    outcome: "granted",
                    reason: String::new(),
                })
                .inc_by(u64::from(granted));
        }
        for (reason, n) in denied {
            self.detokenize
                .get_or_create(&Decision {
                    outcome: "denied",
                    reason: reason.clone(),
                })
                .inc_by(u64::from(*n));
        }
    }

    pub fn transfer_refused(&self) {
        self.transfers_refused.inc();
    }

    /// The exposition, with the store-backed gauges set from `g` and `sweep`.
    /// Brings the commit-failure counters up to the writer's own counts.
    pub fn commit_failures(&self, counts: &[(pdgate_store::health::FailureReason, u64)]) {
        for (reason, n) in counts {
            let c = self.commit_failures.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            });
            c.inc_by(n.saturating_sub(c.get()));
        }
    }

    pub fn render(
        &self,
        g: Gauges,
        sweep: Option<&SweepRow>,
        clocks: pdgate_core::breach::ClockGauges,
    ) -> String {
        self.breach_clocks_running.set(clocks.running);
        self.breach_clocks_overdue.set(clocks.overdue);
        self.breach_next_deadline
            .set(clocks.next_due_s.unwrap_or(0));
        self.open_requests.set(g.requests_open);
        self.overdue_requests.set(g.requests_overdue);
        self.outbox_backlog.set(g.outbox_backlog);
        self.outbox_oldest_age.set(g.outbox_oldest_age_s);
        self.open_breaches.set(g.breaches_open);
        if let Some(s) = sweep {
            self.sweep_finished.set(s.finished_at / 1000);
            self.sweep_subjects.set(s.subjects_erased);
            self.sweep_values.set(s.values_erased);
        }
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_family() {
        let m = Metrics::new(["checkout"]);
        m.request("checkout", 200, true);
        m.request("checkout", 422, false);
        m.request("checkout", 502, false);
        m.request("unmatched", 404, true);
        m.request("self_service", 200, false);
        m.request("declared_later", 200, true);
        m.intake_latency("checkout", 0.004);
        m.detokenized(3, &[("restricted".to_owned(), 2)].into_iter().collect());
        m.transfer_refused();
        let text = m.render(
            Gauges {
                requests_open: 4,
                requests_overdue: 1,
                outbox_backlog: 2,
                outbox_oldest_age_s: 3600,
                breaches_open: 1,
            },
            None,
            pdgate_core::breach::ClockGauges {
                running: 2,
                overdue: 1,
                next_due_s: Some(-60),
            },
        );
        for line in [
            "pdgate_http_requests_total{route=\"checkout\",outcome=\"forwarded\"} 1",
            "pdgate_http_requests_total{route=\"checkout\",outcome=\"refused\"} 1",
            "pdgate_http_requests_total{route=\"checkout\",outcome=\"error\"} 1",
            "pdgate_http_requests_total{route=\"unmatched\",outcome=\"forwarded\"} 1",
            "pdgate_http_requests_total{route=\"self_service\",outcome=\"answered\"} 1",
            "pdgate_http_requests_total{route=\"declared_later\",outcome=\"forwarded\"} 1",
            "pdgate_intake_duration_seconds_count{route=\"checkout\"} 1",
            "pdgate_intake_duration_seconds_bucket{le=\"0.008\",route=\"checkout\"} 1",
            "pdgate_detokenize_tokens_total{outcome=\"denied\",reason=\"restricted\"} 2",
            "pdgate_detokenize_tokens_total{outcome=\"granted\",reason=\"\"} 3",
            "pdgate_cross_border_refused_total 1",
            "pdgate_subject_requests_open 4",
            "pdgate_subject_requests_overdue 1",
            "pdgate_outbox_backlog 2",
            "pdgate_outbox_oldest_undelivered_seconds 3600",
            "pdgate_breaches_open 1",
            "pdgate_breach_clocks_running 2",
            "pdgate_breach_clocks_overdue 1",
            "pdgate_breach_next_deadline_seconds -60",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
