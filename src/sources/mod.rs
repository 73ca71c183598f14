//! Sources: the outside systems herald reads data from (and, for approvals, writes one thing
//! back to): who is on leave (the roster file, or Talenox), Talenox's employees and Xero. Each client
//! owns its transport, auth and error wording and hands jobs plain typed data behind a small
//! interface, so tests and the sandbox can swap in local fakes; jobs stay pure.

pub mod gym;
pub(crate) mod http;
pub mod leave;
pub mod mindbody;
pub mod talenox;
pub mod xero;

/// An outside system herald calls over HTTP: what a job kind reads
/// ([`crate::jobs::JobKind::READS`]) and a label of `/metrics`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Source {
    Xero,
    Talenox,
    /// GymBooker's booking system. No job kind lists it in `READS`: `[gym]` lives in
    /// `bots/gymbooker.toml` and is checked there (a `gym_booking` job without it is a finding).
    Mindbody,
}

impl Source {
    /// Its name in labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Xero => "xero",
            Self::Talenox => "talenox",
            Self::Mindbody => "mindbody",
        }
    }

    /// Whether `deployment` leaves its section out.
    pub fn missing(self, deployment: &crate::config::model::DeploymentFile) -> bool {
        match self {
            Self::Xero => deployment.xero.is_none(),
            Self::Talenox => deployment.talenox.is_none(),
            // Not a `bots/herald.toml` section (see the variant).
            Self::Mindbody => false,
        }
    }

    /// "reads Xero: add [xero] to ...".
    pub fn advice(self) -> &'static str {
        match self {
            Self::Xero => {
                "reads Xero: add [xero] to bots/herald.toml (see Connecting Xero in the README)"
            }
            Self::Talenox => {
                "reads Talenox: add [talenox] to bots/herald.toml (see HR rituals in the README)"
            }
            Self::Mindbody => {
                "books through Mindbody: add [gym] to bots/gymbooker.toml (see Gym bookings in the README)"
            }
        }
    }
}

/// A remote system's message as one line for an operator's DM: whitespace folded, at most 300
/// characters.
pub(crate) fn one_line(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() > 300 {
        let cut: String = folded.chars().take(297).collect();
        format!("{cut}...")
    } else {
        folded
    }
}
