//! herald's counters for Prometheus (`/metrics`), in the OpenMetrics text format written by
//! `prometheus-client`.
//!
//! The counters are process-wide ([`process`]): a process is what Prometheus scrapes, and the
//! places that count (a poller, a sender, the scheduler, one HTTP request to Xero) are many and
//! deep, while nothing herald decides ever reads a counter back. So they are counted where they
//! happen, without a handle threaded through every constructor. Every label set is bounded:
//! bots and outcomes are enums here, jobs and capabilities come from the configuration.
//!
//! What is a state rather than an event (outbox depth, the lease, readiness, the last probe)
//! is read at scrape time and written by [`encode`] from a [`ScrapeState`].

use std::sync::OnceLock;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use crate::sources::Source;

/// How one update ended, as counted (the audit log's decision, in five kinds).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// A handler decided and answered.
    Handled,
    /// A handler refused it (not an operator, an unknown command, a bad argument...).
    Refused,
    /// Nobody needed to act (an unknown user, an edit, a message for another bot...).
    Ignored,
    /// It did not parse.
    Unreadable,
    /// Its handler failed or panicked; its changes were rolled back.
    Failed,
}

impl UpdateOutcome {
    /// The outcome of a handler's decision, by the audit log's wording: decisions that refuse
    /// start with "refused", those that ignore with "ignored".
    pub fn of_decision(decision: &str) -> Self {
        if decision.starts_with("refused") {
            Self::Refused
        } else if decision.starts_with("ignored") {
            Self::Ignored
        } else {
            Self::Handled
        }
    }
}

/// How one send attempt ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// Back to `pending`: not sent (it will go again), or an operator alert to try again.
    Retried,
    /// Telegram's 429: back to `pending` after `retry_after`.
    RateLimited,
    Failed,
    Ambiguous,
}

/// How one job slot was decided or ran.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum JobOutcome {
    Ran,
    Failed,
    /// Noticed too late to run (herald was not running at its time).
    Missed,
    /// Skipped while paused.
    Paused,
}

/// How one HTTP request to a source ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum CallOutcome {
    /// A 2xx answer.
    Ok,
    /// A 429.
    RateLimited,
    /// Another 4xx (a 401 among them: a token to renew or reconnect).
    ClientError,
    /// A 5xx, or anything else that is not 2xx.
    ServerError,
    /// No answer: a timeout, a refused connection, a body cut short.
    TransportError,
}

impl CallOutcome {
    /// The outcome of an answer with `status` (a 429 is counted where it is recognised).
    pub fn of_status(status: reqwest::StatusCode) -> Self {
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Self::RateLimited
        } else if status.is_success() {
            Self::Ok
        } else if status.is_client_error() {
            Self::ClientError
        } else {
            Self::ServerError
        }
    }
}

/// The label value of each variant, as Prometheus shows it.
macro_rules! label_values {
    ($kind:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $kind {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }

        impl EncodeLabelValue for $kind {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_values!(UpdateOutcome { Handled => "handled", Refused => "refused", Ignored => "ignored", Unreadable => "unreadable", Failed => "failed" });
label_values!(SendOutcome { Sent => "sent", Retried => "retried", RateLimited => "rate_limited", Failed => "failed", Ambiguous => "ambiguous" });
label_values!(JobOutcome { Ran => "ran", Failed => "failed", Missed => "missed", Paused => "paused" });

impl EncodeLabelValue for Source {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}
label_values!(CallOutcome { Ok => "ok", RateLimited => "rate_limited", ClientError => "client_error", ServerError => "server_error", TransportError => "transport_error" });

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BotUpdate {
    bot: &'static str,
    outcome: UpdateOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BotSend {
    bot: &'static str,
    outcome: SendOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobRun {
    job: String,
    outcome: JobOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceCall {
    source: Source,
    outcome: CallOutcome,
}

/// Lateness buckets, in seconds of clock time after the slot's instant.
const LATENESS_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// herald's event counters.
pub struct Metrics {
    registry: Registry,
    updates: Family<BotUpdate, Counter>,
    sends: Family<BotSend, Counter>,
    job_runs: Family<JobRun, Counter>,
    lateness: Histogram,
    source_calls: Family<SourceCall, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("herald");
        let updates = Family::<BotUpdate, Counter>::default();
        registry.register(
            "updates",
            "Telegram updates taken, by bot and how they ended",
            updates.clone(),
        );
        let sends = Family::<BotSend, Counter>::default();
        registry.register(
            "sends",
            "Send attempts, by bot and how they ended (rate_limited: Telegram's 429)",
            sends.clone(),
        );
        let job_runs = Family::<JobRun, Counter>::default();
        registry.register(
            "job_runs",
            "Job slots, by job and how they were decided or ran",
            job_runs.clone(),
        );
        let lateness = Histogram::new(LATENESS_BUCKETS);
        registry.register_with_unit(
            "schedule_lateness",
            "How long after its instant a scheduled slot was claimed, in clock time",
            prometheus_client::registry::Unit::Seconds,
            lateness.clone(),
        );
        let source_calls = Family::<SourceCall, Counter>::default();
        registry.register(
            "source_calls",
            "HTTP requests to Xero and Talenox, by how they ended",
            source_calls.clone(),
        );
        Self {
            registry,
            updates,
            sends,
            job_runs,
            lateness,
            source_calls,
        }
    }

    /// An update of `bot` was handled and its outcome committed.
    pub fn update(&self, bot: &'static str, outcome: UpdateOutcome) {
        self.updates
            .get_or_create(&BotUpdate { bot, outcome })
            .inc();
    }

    /// A send attempt of `bot` ended and its outcome was committed.
    pub fn send(&self, bot: &'static str, outcome: SendOutcome) {
        self.sends.get_or_create(&BotSend { bot, outcome }).inc();
    }

    /// A slot of `job` was decided or ran, and that was committed.
    pub fn job_run(&self, job: &str, outcome: JobOutcome) {
        self.job_runs
            .get_or_create(&JobRun {
                job: job.to_owned(),
                outcome,
            })
            .inc();
    }

    /// A scheduled slot was claimed `seconds` of clock time after its instant.
    pub fn lateness(&self, seconds: f64) {
        self.lateness.observe(seconds.max(0.0));
    }

    /// One HTTP request to `source` ended.
    pub fn source_call(&self, source: Source, outcome: CallOutcome) {
        self.source_calls
            .get_or_create(&SourceCall { source, outcome })
            .inc();
    }
}

/// The counters of this process.
pub fn process() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// What `/metrics` reads at scrape time besides the counters.
#[derive(Debug, Clone, Default)]
pub struct ScrapeState {
    /// Outbox rows by bot and state (the states still to settle or to look at).
    pub outbox: Vec<(String, String, i64)>,
    /// Whether this process holds the database lease, and its epoch.
    pub lease: Option<(bool, i64)>,
    /// Whether `/readyz` answers 200 now.
    pub ready: bool,
    /// The last probe's verdict by capability: 0 OK, 1 DEGRADED, 2 BROKEN.
    pub capabilities: Vec<(String, i64)>,
}

/// The whole exposition: the counters, then the state read at scrape time, then `# EOF`.
pub fn encode(metrics: &Metrics, state: &ScrapeState) -> Result<String, std::fmt::Error> {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut scraped = Registry::with_prefix("herald");
    let outbox = Family::<[(&'static str, String); 2], Gauge>::default();
    for (bot, state, rows) in &state.outbox {
        outbox
            .get_or_create(&[("bot", bot.clone()), ("state", state.clone())])
            .set(*rows);
    }
    scraped.register(
        "outbox_rows",
        "Outbox rows by bot and state (pending, sending, ambiguous)",
        outbox,
    );
    if let Some((held, epoch)) = state.lease {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::from(held));
        scraped.register(
            "lease_held",
            "1 while this process holds the database lease",
            gauge,
        );
        let gauge = Gauge::<i64>::default();
        gauge.set(epoch);
        scraped.register(
            "lease_epoch",
            "The epoch of the lease this process took",
            gauge,
        );
    }
    let ready = Gauge::<i64>::default();
    ready.set(i64::from(state.ready));
    scraped.register("ready", "1 while /readyz answers 200", ready);
    let capabilities = Family::<[(&'static str, String); 1], Gauge>::default();
    for (capability, verdict) in &state.capabilities {
        capabilities
            .get_or_create(&[("capability", capability.clone())])
            .set(*verdict);
    }
    scraped.register(
        "capability_verdict",
        "The last capability probe's verdict: 0 OK, 1 DEGRADED, 2 BROKEN",
        capabilities,
    );
    let mut text = String::new();
    encode_registry(&mut text, &metrics.registry)?;
    encode_registry(&mut text, &scraped)?;
    encode_eof(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_once_and_ends_with_eof() {
        let metrics = Metrics::new();
        metrics.update(
            "claudia",
            UpdateOutcome::of_decision("refused: unknown command"),
        );
        metrics.update("claudia", UpdateOutcome::of_decision("ignored: edit"));
        metrics.update("claudia", UpdateOutcome::of_decision("answered /help"));
        metrics.send("happy", SendOutcome::RateLimited);
        metrics.job_run("laser-chase", JobOutcome::Ran);
        metrics.lateness(0.3);
        metrics.source_call(
            Source::Xero,
            CallOutcome::of_status(reqwest::StatusCode::UNAUTHORIZED),
        );
        let state = ScrapeState {
            outbox: vec![("claudia".into(), "pending".into(), 2)],
            lease: Some((true, 7)),
            ready: true,
            capabilities: vec![("claudia: member of team chat".into(), 2)],
        };
        let text = encode(&metrics, &state).unwrap();
        for line in [
            "herald_updates_total{bot=\"claudia\",outcome=\"refused\"} 1",
            "herald_updates_total{bot=\"claudia\",outcome=\"ignored\"} 1",
            "herald_updates_total{bot=\"claudia\",outcome=\"handled\"} 1",
            "herald_sends_total{bot=\"happy\",outcome=\"rate_limited\"} 1",
            "herald_job_runs_total{job=\"laser-chase\",outcome=\"ran\"} 1",
            "herald_schedule_lateness_seconds_bucket{le=\"0.5\"} 1",
            "herald_source_calls_total{source=\"xero\",outcome=\"client_error\"} 1",
            "herald_outbox_rows{bot=\"claudia\",state=\"pending\"} 2",
            "herald_lease_held 1",
            "herald_lease_epoch 7",
            "herald_ready 1",
            "herald_capability_verdict{capability=\"claudia: member of team chat\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.ends_with("# EOF\n"));
    }
}
