//! The on-disk shape of a deployment: `bots/herald.toml`, `bots/roster.toml` and one
//! `bots/<identity>.toml` per bot. Pure data with serde; loading and validation live in
//! the other files of `config` (and `herald check` in `crate::commands::check`), lookups in
//! `crate::roster`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use super::secret_ref::SecretRef;

/// The deployment file, relative to the config folder.
pub const DEPLOYMENT_FILE: &str = "bots/herald.toml";
/// The roster file, relative to the config folder.
pub const ROSTER_FILE: &str = "bots/roster.toml";

/// The path of an identity's file, relative to the config folder: `bots/claudia.toml`.
pub fn bot_file(identity: &str) -> String {
    format!("bots/{identity}.toml")
}

/// `bots/herald.toml`: deployment-wide settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DeploymentFile {
    /// The identity that DMs the operator and answers the console (default `lawrence`).
    #[serde(default = "default_console")]
    pub console: String,
    /// Named secret providers, referenced by `provider` in a [`SecretRef`].
    #[serde(default)]
    pub secret_providers: BTreeMap<String, SecretProvider>,
    /// Audit entries and settled state (handled-update marks, decided slots, sent or
    /// dismissed outbox rows) older than this many days are pruned once a day (default 90).
    #[serde(default = "default_audit_retention_days")]
    pub audit_retention_days: u32,
    /// Commands one member may send one bot per minute; the first excess gets one polite
    /// reply, the rest are ignored until the minute is over (default 10).
    #[serde(default = "default_commands_per_minute")]
    pub commands_per_minute: u32,
    /// The Xero connection (`[xero]`), for the finance bot; absent when Xero is not used.
    #[serde(default)]
    pub xero: Option<XeroFile>,
    /// The Talenox connection (`[talenox]`), for the HR rituals; absent when Talenox is not
    /// used.
    #[serde(default)]
    pub talenox: Option<TalenoxFile>,
    /// The health endpoints (`[http]`): off unless set.
    #[serde(default)]
    pub http: Option<HttpFile>,
}

/// `[http]` in `bots/herald.toml`: where `herald run` serves `/healthz`, `/readyz` and
/// `/metrics` (`--http` overrides it).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct HttpFile {
    /// Address and port, loopback unless `public` (e.g. `127.0.0.1:9464`).
    pub listen: String,
    /// Allow an address other machines can reach (the endpoints are not authenticated).
    #[serde(default)]
    pub public: bool,
}

impl Default for DeploymentFile {
    /// What an empty `bots/herald.toml` means.
    fn default() -> Self {
        Self {
            console: default_console(),
            secret_providers: BTreeMap::new(),
            audit_retention_days: default_audit_retention_days(),
            commands_per_minute: default_commands_per_minute(),
            xero: None,
            talenox: None,
            http: None,
        }
    }
}

fn default_commands_per_minute() -> u32 {
    10
}

/// `[xero]` in `bots/herald.toml`: where the OAuth2 credentials live and which organisation
/// (tenant) to read. Secrets are references, never values.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct XeroFile {
    /// The Xero app's OAuth2 client id.
    pub client_id: SecretRef,
    /// The Xero app's OAuth2 client secret.
    pub client_secret: SecretRef,
    /// The OAuth2 refresh token. Xero rotates it on every use and herald writes the new one
    /// back, so it must be a `source = "file"` reference.
    pub refresh_token: SecretRef,
    /// The organisation's tenant id (a GUID; `herald xero connect` lists the connected ones).
    pub tenant_id: String,
    /// Accounting API base URL.
    #[serde(default = "default_xero_api_url")]
    pub api_url: String,
    /// OAuth2 identity server; tokens are refreshed at `{identity_url}/connect/token`.
    #[serde(default = "default_xero_identity_url")]
    pub identity_url: String,
    /// The connections endpoint (which tenants the token may read).
    #[serde(default = "default_xero_connections_url")]
    pub connections_url: String,
    /// Timeout of one HTTP request to Xero, in seconds.
    #[serde(default = "default_xero_timeout_seconds")]
    pub timeout_seconds: u32,
}

/// Xero's Accounting API base URL.
pub const XERO_API_URL: &str = "https://api.xero.com/api.xro/2.0";
/// Xero's OAuth2 identity server.
pub const XERO_IDENTITY_URL: &str = "https://identity.xero.com";
/// Xero's connections endpoint.
pub const XERO_CONNECTIONS_URL: &str = "https://api.xero.com/connections";

fn default_xero_api_url() -> String {
    XERO_API_URL.to_owned()
}

fn default_xero_identity_url() -> String {
    XERO_IDENTITY_URL.to_owned()
}

fn default_xero_connections_url() -> String {
    XERO_CONNECTIONS_URL.to_owned()
}

fn default_xero_timeout_seconds() -> u32 {
    30
}

/// `[talenox]` in `bots/herald.toml`: the HR system's API token (a reference, never the value)
/// and where its API is.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TalenoxFile {
    /// The company API token (Talenox → API Settings).
    pub api_token: SecretRef,
    /// API base URL.
    #[serde(default = "default_talenox_api_url")]
    pub api_url: String,
    /// Timeout of one HTTP request to Talenox, in seconds.
    #[serde(default = "default_talenox_timeout_seconds")]
    pub timeout_seconds: u32,
}

/// Talenox's API base URL.
pub const TALENOX_API_URL: &str = "https://api.talenox.com/api/v2";

fn default_talenox_api_url() -> String {
    TALENOX_API_URL.to_owned()
}

fn default_talenox_timeout_seconds() -> u32 {
    30
}

fn default_audit_retention_days() -> u32 {
    90
}

fn default_console() -> String {
    "lawrence".to_owned()
}

/// A file of secrets, read through JSON pointers.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SecretProvider {
    /// Path of the JSON secrets file; relative paths are relative to the config folder.
    /// `~/` expands to the running user's home.
    pub path: String,
    /// Set to true only if `path` is meant to be a symlink; any other symlink is refused.
    #[serde(default)]
    pub allow_symlink: bool,
}

/// `bots/roster.toml`: the single source of truth for people, threads, roles and holidays.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RosterFile {
    pub team: TeamFile,
    #[serde(default)]
    pub threads: Vec<ThreadFile>,
    #[serde(default)]
    pub members: Vec<MemberFile>,
    #[serde(default)]
    pub holidays: Vec<HolidayFile>,
    #[serde(default)]
    pub leave: Vec<LeaveFile>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TeamFile {
    pub name: String,
    /// The forum supergroup's chat id (negative, `-100...`).
    pub chat_id: i64,
    /// IANA zone name, e.g. `Asia/Singapore`. Validated into a `chrono_tz::Tz`.
    pub timezone: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ThreadFile {
    /// The name every other file uses to refer to this thread (`daily-updates`).
    pub name: String,
    /// Human title of the forum topic.
    #[serde(default)]
    pub title: Option<String>,
    /// The topic's `message_thread_id`; absent for the General topic.
    #[serde(default)]
    pub message_thread_id: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MemberFile {
    pub name: String,
    pub telegram_id: i64,
    /// Telegram @handle without the `@`; members without one are mentioned by `tg://user?id=`.
    #[serde(default)]
    pub handle: Option<String>,
    /// Name as Talenox (HR) spells it.
    #[serde(default)]
    pub talenox_name: Option<String>,
    /// Any of `operator`, `approver`, `files_updates`, `cake`.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct HolidayFile {
    #[serde(deserialize_with = "date")]
    pub date: NaiveDate,
    pub name: String,
}

/// A member's leave, inclusive of both dates (the roster-file leave source).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LeaveFile {
    /// A member `name` from `[[members]]`.
    pub member: String,
    #[serde(deserialize_with = "date")]
    pub from: NaiveDate,
    #[serde(deserialize_with = "date")]
    pub to: NaiveDate,
}

/// `bots/<identity>.toml`: one bot.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BotFile {
    /// The Telegram username BotFather gave this bot, without `@`; `getMe` must agree.
    pub username: String,
    /// Where the token lives; never the token itself.
    pub token: SecretRef,
    /// Roster thread names this bot may post in.
    #[serde(default)]
    pub threads: Vec<String>,
    #[serde(default)]
    pub commands: Vec<CommandFile>,
    /// Scheduled jobs this bot runs (`[[jobs]]`).
    #[serde(default)]
    pub jobs: Vec<JobFile>,
    /// Volts settings (`[volts]`); only the bot that answers `/volts` has them.
    #[serde(default)]
    pub volts: Option<VoltsFile>,
    /// Invoice approval cards (`[approvals]`); only the finance bot has them.
    #[serde(default)]
    pub approvals: Option<ApprovalsFile>,
    /// Expense claims (`[claims]`); only the claims bot has them.
    #[serde(default)]
    pub claims: Option<ClaimsFile>,
    /// Gym class bookings (`[gym]`); only GymBooker has them.
    #[serde(default)]
    pub gym: Option<GymFile>,
}

/// `[gym]`: the gym's booking system and whom GymBooker books into which classes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GymFile {
    /// The booking system: `mindbody`.
    pub provider: String,
    /// API base URL (Mindbody's public API v6 unless set: a test or sandbox points it at a
    /// fake).
    #[serde(default = "default_mindbody_api_url")]
    pub api_url: String,
    /// The gym's Mindbody site id.
    pub site_id: String,
    /// Only classes at these locations (all when empty).
    #[serde(default)]
    pub location_ids: Vec<i64>,
    /// Only classes of these programs (all when empty).
    #[serde(default)]
    pub program_ids: Vec<i64>,
    /// The developer API key: a reference, never the key itself.
    pub api_key: SecretRef,
    /// The staff login that books on the members' behalf.
    pub username: String,
    /// Its password: a reference.
    pub password: SecretRef,
    /// Timeout of one request to the booking system, in seconds (default 10).
    #[serde(default = "default_gym_timeout_seconds")]
    pub timeout_seconds: u32,
    /// One block per member GymBooker books for (`[[gym.bookings]]`).
    #[serde(default)]
    pub bookings: Vec<GymBookingFile>,
}

/// `[[gym.bookings]]`: one member's standing booking.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GymBookingFile {
    /// A roster member's `name`.
    pub member: String,
    /// The member's id in the booking system (Mindbody's client id).
    pub client_id: String,
    /// Days of the week to book (`MON` ... `SUN`), as days of the class.
    pub days: Vec<String>,
    /// Class start times in order of preference, team time (`"06:30"`).
    pub times: Vec<String>,
    /// How many days ahead the class is, counted from the booking day (default 2).
    #[serde(default = "default_gym_days_ahead")]
    pub days_ahead: u32,
    /// When the booking window opens on the booking day, team time (default `"09:00"`).
    #[serde(default = "default_gym_window_opens")]
    pub window_opens: String,
}

/// Mindbody's public API.
pub const MINDBODY_API_URL: &str = "https://api.mindbodyonline.com/public/v6";

fn default_mindbody_api_url() -> String {
    MINDBODY_API_URL.to_owned()
}

fn default_gym_timeout_seconds() -> u32 {
    10
}

fn default_gym_days_ahead() -> u32 {
    2
}

fn default_gym_window_opens() -> String {
    "09:00".to_owned()
}

/// `[claims]`: what `/claim` accepts and who must approve it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ClaimsFile {
    /// Roster thread the approval cards go to (default `claims`).
    #[serde(default = "default_claims_thread")]
    pub thread: String,
    /// The currencies a claim may be in (`[[claims.currencies]]`), each with its limits.
    pub currencies: Vec<ClaimCurrencyFile>,
}

/// `[[claims.currencies]]`: one currency claims may be in. Amounts are decimal strings
/// (`"500.00"`), never TOML floats, so they are exact.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ClaimCurrencyFile {
    /// ISO 4217 code, upper case (`SGD`).
    pub code: String,
    /// Digits after the decimal point an amount may have (default 2).
    #[serde(default = "default_claim_decimals")]
    pub decimals: u32,
    /// The largest claim accepted; anything above is refused as a likely typo.
    pub max: String,
    /// A claim above this needs a second, different approver.
    pub two_approvals_above: String,
}

fn default_claims_thread() -> String {
    "claims".to_owned()
}

fn default_claim_decimals() -> u32 {
    2
}

/// `[approvals]`: invoice approval cards from Xero's SUBMITTED invoices.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ApprovalsFile {
    /// Roster thread the cards go to (default `approvals`).
    #[serde(default = "default_approvals_thread")]
    pub thread: String,
    /// How often Xero is asked for invoices awaiting approval, in minutes (default 5).
    #[serde(default = "default_poll_minutes")]
    pub poll_minutes: u32,
    /// A card nobody decided is closed after this many days (default 7).
    #[serde(default = "default_expire_days")]
    pub expire_days: u32,
}

fn default_approvals_thread() -> String {
    "approvals".to_owned()
}

fn default_poll_minutes() -> u32 {
    5
}

fn default_expire_days() -> u32 {
    7
}

/// `[volts]`: the rules of `/volts`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct VoltsFile {
    /// Most volts in one grant (default 5).
    #[serde(default = "default_max_per_grant")]
    pub max_per_grant: u32,
    /// Most volts one member may give per day, team time (default 10).
    #[serde(default = "default_daily_budget")]
    pub daily_budget: u32,
}

impl Default for VoltsFile {
    fn default() -> Self {
        Self {
            max_per_grant: default_max_per_grant(),
            daily_budget: default_daily_budget(),
        }
    }
}

fn default_max_per_grant() -> u32 {
    5
}

fn default_daily_budget() -> u32 {
    10
}

/// One scheduled job (`[[jobs]]` in `bots/<identity>.toml`). The identity whose file declares
/// it is the one that posts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct JobFile {
    /// Unique across the deployment; used by `herald pause job NAME` and in every alert.
    pub name: String,
    /// What the job does (`post`: render `template` and post it).
    pub kind: String,
    /// Five-field cron expression in `timezone` (`0 11 * * MON-FRI`).
    pub cron: String,
    /// IANA zone name (`Asia/Singapore`); required, there is no host-zone default.
    pub timezone: String,
    /// Roster thread the job posts in; this bot must be allowed to post there.
    pub thread: String,
    /// Template file in `templates/` (kinds that render one).
    #[serde(default)]
    pub template: Option<String>,
    /// What to do with a slot that was missed (herald was down at its time).
    #[serde(default)]
    pub misfire: Misfire,
    /// How late a `catch_up` slot may still run.
    #[serde(default = "default_grace_minutes")]
    pub grace_minutes: u32,
    /// How long one run may take before it counts as failed.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u32,
    /// Most messages one run may post; more fails the run and posts nothing.
    #[serde(default = "default_max_messages")]
    pub max_messages: u32,
    /// Kinds `laser_chase` and `team_pulse`: what to post when there is nothing to say
    /// (default `line`).
    #[serde(default)]
    pub clean_sweep: Option<CleanSweep>,
    /// Kind `volts_leaderboard`: how many ranks to show (default 10).
    #[serde(default)]
    pub top: Option<u32>,
    /// Kind `team_pulse`: a pending leave application older than this many days is nagged
    /// about (default 2).
    #[serde(default)]
    pub nag_after_days: Option<u32>,
    /// Kind `cake_reminder`: how many days before a birthday to remind (default 3).
    #[serde(default)]
    pub days_ahead: Option<u32>,
    /// morning_brief: post in `thread` instead of DMing the operators (default false).
    #[serde(default)]
    pub post_in_thread: Option<bool>,
}

/// What the laser-chase posts when everyone filed, and the team pulse on a day with nothing
/// in it.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CleanSweep {
    /// A short clean-sweep line.
    #[default]
    Line,
    /// Nothing at all.
    Silence,
}

/// Misfire policy of a job.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// Run the latest missed slot once, if it is at most `grace_minutes` late.
    #[default]
    CatchUp,
    /// Never run late: a missed slot is recorded and reported only.
    Skip,
}

fn default_grace_minutes() -> u32 {
    30
}

fn default_timeout_seconds() -> u32 {
    60
}

fn default_max_messages() -> u32 {
    50
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CommandFile {
    /// Without the slash: `help`.
    pub name: String,
    pub description: String,
    /// Threads where the command works; empty means every thread the bot may post in.
    #[serde(default)]
    pub threads: Vec<String>,
    /// Whether the command works in a private chat with the bot.
    #[serde(default = "yes")]
    pub dm: bool,
}

fn yes() -> bool {
    true
}

/// Accepts a TOML local date (`date = 2026-08-10`) as well as a string (`"2026-08-10"`).
/// chrono alone only takes the string: the toml crate hands a date literal over as a map.
fn date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    struct DateVisitor;

    impl<'de> serde::de::Visitor<'de> for DateVisitor {
        type Value = NaiveDate;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a date like 2026-08-10")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NaiveDate, E> {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| E::custom(format!("`{v}` is not a date like 2026-08-10")))
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<NaiveDate, A::Error> {
            // toml's private datetime wrapper: a single entry whose value is the literal.
            let Some((_, text)) = map.next_entry::<String, String>()? else {
                return Err(serde::de::Error::custom("expected a date like 2026-08-10"));
            };
            self.visit_str(&text)
        }
    }

    deserializer.deserialize_any(DateVisitor)
}
