//! Validating each file of a parsed deployment on its own terms: `bots/herald.toml` (console,
//! limits, secret providers, `[xero]`, `[talenox]`) and each `bots/<identity>.toml` (username, token
//! reference, threads, commands, `[volts]`, `[approvals]`, jobs). Checks that compare the
//! identity files with each other are in [`super::cross_checks`]; the roster validates itself
//! (`crate::roster`).

use std::collections::HashMap;

use super::finding::Finding;
use super::model::{bot_file, BotFile, DeploymentFile, TalenoxFile, XeroFile, DEPLOYMENT_FILE};
use super::secret_ref::SecretRef;
use crate::identity::IDENTITY_NAMES;

/// `bots/herald.toml` on its own: the console identity, the command limit, the providers and
/// `[xero]`.
pub(super) fn check_deployment(d: &DeploymentFile, findings: &mut Vec<Finding>) {
    if !IDENTITY_NAMES.contains(&d.console.as_str()) {
        findings.push(Finding::new(
            DEPLOYMENT_FILE,
            "console",
            format!(
                "unknown console identity \"{}\"; expected one of {}",
                d.console,
                IDENTITY_NAMES.join(", ")
            ),
        ));
    }
    if d.commands_per_minute == 0 {
        findings.push(Finding::new(
            DEPLOYMENT_FILE,
            "commands_per_minute",
            "must be at least 1 (it limits each member's commands per bot and minute)",
        ));
    }
    for (name, provider) in &d.secret_providers {
        if provider.path.trim().is_empty() {
            findings.push(Finding::new(
                DEPLOYMENT_FILE,
                format!("secret_providers.{name}.path"),
                "path is empty",
            ));
        }
    }
    if let Some(xero) = &d.xero {
        check_xero(d, xero, findings);
    }
    if let Some(talenox) = &d.talenox {
        check_talenox(d, talenox, findings);
    }
    if let Some(http) = &d.http {
        if let Err(problem) =
            crate::telemetry::listen::HttpSettings::parse(&http.listen, http.public)
        {
            findings.push(Finding::new(DEPLOYMENT_FILE, "http.listen", problem));
        }
    }
}

/// Shape problems of one secret reference at `field`, as (field, problem) pairs: an
/// undeclared provider (when the deployment file is known), a pointer that does not start with
/// `/` (`example` shows one), or an environment variable name that is not one.
fn secret_ref_problems(
    field: &str,
    r: &SecretRef,
    deployment: Option<&DeploymentFile>,
    example: &str,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    match r {
        SecretRef::File { provider, id } => {
            if let Some(d) = deployment {
                if !d.secret_providers.contains_key(provider) {
                    found.push((format!("{field}.provider"), undeclared_provider(provider)));
                }
            }
            if !id.starts_with('/') {
                found.push((
                    format!("{field}.id"),
                    format!("\"{id}\" is not a JSON pointer into the secrets file (it starts with /, e.g. {example})"),
                ));
            }
        }
        SecretRef::Env { id } => {
            let mut bytes = id.bytes();
            let ok = matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                found.push((
                    format!("{field}.id"),
                    format!("\"{id}\" is not an environment variable name (letters, digits and _)"),
                ));
            }
        }
    }
    found
}

/// `[xero]` in `bots/herald.toml`: secret references, the tenant id, the URLs.
fn check_xero(d: &DeploymentFile, xero: &XeroFile, findings: &mut Vec<Finding>) {
    let mut problem =
        |field: String, text: String| findings.push(Finding::new(DEPLOYMENT_FILE, field, text));
    for (key, r) in [
        ("client_id", &xero.client_id),
        ("client_secret", &xero.client_secret),
        ("refresh_token", &xero.refresh_token),
    ] {
        for (field, text) in
            secret_ref_problems(&format!("xero.{key}"), r, Some(d), &format!("/xero/{key}"))
        {
            problem(field, text);
        }
    }
    if let SecretRef::Env { .. } = xero.refresh_token {
        problem(
            "xero.refresh_token".into(),
            "must be a file secret (source = \"file\"): Xero rotates the refresh token on every \
             use and herald writes the new one back, which it cannot do to an environment variable"
                .into(),
        );
    }
    if !is_guid(&xero.tenant_id) {
        problem(
            "xero.tenant_id".into(),
            format!(
                "\"{}\" is not a Xero tenant id (a GUID like 70784a63-d24b-46a9-a4db-0e70a274b056; \
                 `herald xero connect` lists the connected tenants)",
                xero.tenant_id
            ),
        );
    }
    for (key, value) in [
        ("api_url", &xero.api_url),
        ("identity_url", &xero.identity_url),
        ("connections_url", &xero.connections_url),
    ] {
        if let Some(text) = url_problem(value) {
            problem(format!("xero.{key}"), text);
        }
    }
    if !(1..=300).contains(&xero.timeout_seconds) {
        problem(
            "xero.timeout_seconds".into(),
            "must be 1 to 300 seconds".into(),
        );
    }
}

/// `[talenox]` in `bots/herald.toml`: the token reference, the URL, the timeout.
fn check_talenox(d: &DeploymentFile, talenox: &TalenoxFile, findings: &mut Vec<Finding>) {
    let mut problem =
        |field: String, text: String| findings.push(Finding::new(DEPLOYMENT_FILE, field, text));
    for (field, text) in secret_ref_problems(
        "talenox.api_token",
        &talenox.api_token,
        Some(d),
        "/talenox/api_token",
    ) {
        problem(field, text);
    }
    if let Some(text) = url_problem(&talenox.api_url) {
        problem("talenox.api_url".into(), text);
    }
    if !(1..=300).contains(&talenox.timeout_seconds) {
        problem(
            "talenox.timeout_seconds".into(),
            "must be 1 to 300 seconds".into(),
        );
    }
}

/// `8-4-4-4-12` hexadecimal digits.
pub(crate) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why `value` is not usable as a Xero or Talenox URL: https, or http to this machine only (a
/// fake in tests; credentials never travel in clear text over a network).
fn url_problem(value: &str) -> Option<String> {
    let Ok(url) = url::Url::parse(value) else {
        return Some(format!("\"{value}\" is not a URL"));
    };
    let local = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => None,
        "http" if local => None,
        _ => Some(format!(
            "\"{value}\" must be an https URL (plain http only to localhost)"
        )),
    }
}

fn valid_username(name: &str) -> bool {
    let mut bytes = name.bytes();
    (5..=32).contains(&name.len())
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.to_ascii_lowercase().ends_with("bot")
}

fn valid_command(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn unknown_thread(thread: &str) -> String {
    format!("unknown thread \"{thread}\"; bots/roster.toml has no such thread")
}

/// The text of an undeclared provider, shared by the shape check and resolution so the two
/// findings coincide.
pub(super) fn undeclared_provider(provider: &str) -> String {
    format!("secret provider \"{provider}\" is not declared in bots/herald.toml [secret_providers]")
}

/// One identity's file, against the deployment file (secret providers, `[xero]`) and the
/// roster's thread names when they are known.
pub(super) fn check_bot(
    name: &str,
    bot: &BotFile,
    deployment: Option<&DeploymentFile>,
    threads: Option<&[&str]>,
    findings: &mut Vec<Finding>,
) {
    let file = bot_file(name);
    let mut problem = |field: String, text: String| findings.push(Finding::new(&file, field, text));

    let username = bot.username.trim();
    if username.is_empty() {
        problem("username".into(), "username is empty".into());
    } else if username.starts_with('@') {
        problem(
            "username".into(),
            format!(
                "write the username without the @: \"{}\"",
                username.trim_start_matches('@')
            ),
        );
    } else if !valid_username(&bot.username) {
        problem(
            "username".into(),
            format!(
                "\"{}\" is not a Telegram bot username (5-32 letters, digits or _, ending in \"bot\")",
                bot.username
            ),
        );
    }

    for (field, text) in secret_ref_problems(
        "token",
        &bot.token,
        deployment,
        &format!("/telegram/{name}"),
    ) {
        problem(field, text);
    }

    let mut listed: HashMap<&str, usize> = HashMap::new();
    for (i, thread) in bot.threads.iter().enumerate() {
        if threads.is_some_and(|known| !known.contains(&thread.as_str())) {
            problem(format!("threads[{i}]"), unknown_thread(thread));
        }
        if let Some(&j) = listed.get(thread.as_str()) {
            problem(
                format!("threads[{i}]"),
                format!("thread \"{thread}\" is listed twice (also threads[{j}])"),
            );
        } else {
            listed.insert(thread, i);
        }
    }

    let mut commands: HashMap<&str, usize> = HashMap::new();
    for (i, command) in bot.commands.iter().enumerate() {
        if !valid_command(&command.name) {
            problem(
                format!("commands[{i}].name"),
                format!(
                    "command name \"{}\" must be 1-32 characters of a-z, 0-9 and _ (no slash)",
                    command.name
                ),
            );
        }
        if let Some(&j) = commands.get(command.name.as_str()) {
            problem(
                format!("commands[{i}].name"),
                format!(
                    "duplicate command \"{}\" (also commands[{j}])",
                    command.name
                ),
            );
        } else {
            commands.insert(&command.name, i);
        }
        let length = command.description.chars().count();
        if !(1..=256).contains(&length) {
            problem(
                format!("commands[{i}].description"),
                format!("description must be 1-256 characters (it has {length})"),
            );
        }
        for (k, thread) in command.threads.iter().enumerate() {
            if threads.is_some_and(|known| !known.contains(&thread.as_str())) {
                problem(
                    format!("commands[{i}].threads[{k}]"),
                    unknown_thread(thread),
                );
            } else if !bot.threads.contains(thread) {
                problem(
                    format!("commands[{i}].threads[{k}]"),
                    format!("thread \"{thread}\" is not in this bot's threads"),
                );
            }
        }
    }

    if let Some(volts) = &bot.volts {
        if name != "clawrence" {
            problem(
                "volts".into(),
                "only clawrence answers /volts; move [volts] to bots/clawrence.toml".into(),
            );
        }
        if volts.max_per_grant == 0 {
            problem("volts.max_per_grant".into(), "must be at least 1".into());
        }
        if volts.daily_budget < volts.max_per_grant {
            problem(
                "volts.daily_budget".into(),
                format!(
                    "must be at least max_per_grant ({}), or no grant could ever be made in full",
                    volts.max_per_grant
                ),
            );
        }
    }

    if let Some(approvals) = &bot.approvals {
        if name != "claudia" {
            problem(
                "approvals".into(),
                "only claudia posts approval cards; move [approvals] to bots/claudia.toml".into(),
            );
        }
        if !bot.threads.contains(&approvals.thread) {
            problem(
                "approvals.thread".into(),
                format!(
                    "{name} may not post in \"{}\": add it to this file's threads",
                    approvals.thread
                ),
            );
        }
        if deployment.is_some_and(|d| d.xero.is_none()) {
            problem(
                "approvals".into(),
                "approval cards read Xero: add [xero] to bots/herald.toml (see Connecting Xero in the README)".into(),
            );
        }
        if approvals.poll_minutes == 0 || approvals.expire_days == 0 {
            problem(
                "approvals".into(),
                "poll_minutes and expire_days must be at least 1".into(),
            );
        }
    }

    if let Some(claims) = &bot.claims {
        // In the wrong file, that is the one mistake: the rest is checked where it belongs.
        if name != "claims" {
            problem(
                "claims".into(),
                "only the claims bot takes expense claims; move [claims] to bots/claims.toml"
                    .into(),
            );
        } else if !bot.threads.contains(&claims.thread) {
            problem(
                "claims.thread".into(),
                format!(
                    "{name} may not post in \"{}\": add it to this file's threads",
                    claims.thread
                ),
            );
        }
        if name == "claims" {
            for (field, text) in claims_problems(claims) {
                problem(field, text);
            }
        }
    }

    for (i, job) in bot.jobs.iter().enumerate() {
        let field = |name: &str| format!("jobs[{i}].{name}");
        if job.name.is_empty()
            || !job
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            problem(
                field("name"),
                format!(
                    "job name \"{}\" must be lower-case letters, digits, - and _",
                    job.name
                ),
            );
        }
        if let Err(e) = job.cron.parse::<crate::schedule::cron::CronSchedule>() {
            problem(field("cron"), format!("\"{}\": {e}", job.cron));
        }
        if job.timezone.parse::<chrono_tz::Tz>().is_err() {
            problem(
                field("timezone"),
                format!(
                    "\"{}\" is not an IANA time zone name (like Asia/Singapore or Europe/London)",
                    job.timezone
                ),
            );
        }
        if threads.is_some_and(|known| !known.contains(&job.thread.as_str())) {
            problem(field("thread"), unknown_thread(&job.thread));
        } else if !bot.threads.contains(&job.thread) {
            problem(
                field("thread"),
                format!(
                    "{name} may not post in \"{}\": add it to this file's threads, or pick one of: {}",
                    job.thread,
                    bot.threads.join(", ")
                ),
            );
        }
        if !(1..=240).contains(&job.timeout_seconds) {
            problem(
                field("timeout_seconds"),
                "must be 1 to 240: a run still going five minutes after its time is reported as absent".into(),
            );
        }
        if job.max_messages == 0 {
            problem(field("max_messages"), "must be at least 1".into());
        }
        if job.days_ahead.is_some_and(|d| !(1..=30).contains(&d)) {
            problem(field("days_ahead"), "must be 1 to 30 days".into());
        }
        if job.top == Some(0) {
            problem(field("top"), "must be at least 1".into());
        }
    }
}

/// What is wrong with `[claims]`'s currencies, as (field, problem) pairs, one per mistake.
fn claims_problems(claims: &super::model::ClaimsFile) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if claims.currencies.is_empty() {
        problems.push((
            "claims.currencies".to_owned(),
            "list at least one currency ([[claims.currencies]] with code, max and two_approvals_above)"
                .to_owned(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, currency) in claims.currencies.iter().enumerate() {
        let field = |name: &str| format!("claims.currencies[{i}].{name}");
        let code = &currency.code;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            problems.push((
                field("code"),
                format!("\"{code}\" is not a currency code: three upper-case letters, like SGD"),
            ));
        } else if !seen.insert(code.as_str()) {
            problems.push((field("code"), format!("{code} is listed twice")));
        }
        if currency.decimals > 4 {
            problems.push((
                field("decimals"),
                format!(
                    "{} digits after the point is more than any currency has (0 to 4)",
                    currency.decimals
                ),
            ));
        }
        let mut limit = |name: &str, text: &str| match positive_decimal(text) {
            Ok(value) => Some(value),
            Err(why) => {
                problems.push((field(name), why));
                None
            }
        };
        let max = limit("max", &currency.max);
        let two = limit("two_approvals_above", &currency.two_approvals_above);
        if let (Some(max), Some(two)) = (max, two) {
            if two >= max {
                problems.push((
                    field("two_approvals_above"),
                    format!(
                        "{two} is not below max ({max}): no claim could ever need a second approver"
                    ),
                ));
            }
        }
    }
    problems
}

/// `text` as a decimal amount above zero, or why not.
pub(crate) fn positive_decimal(text: &str) -> Result<rust_decimal::Decimal, String> {
    match rust_decimal::Decimal::from_str_exact(text.trim()) {
        Ok(value) if value > rust_decimal::Decimal::ZERO => Ok(value),
        Ok(_) => Err(format!("\"{text}\" must be more than zero")),
        Err(_) => Err(format!(
            "\"{text}\" is not a decimal amount: write it as a string, like \"500.00\""
        )),
    }
}

/// The shortest timeout of a `gym_booking` job: two minutes of waiting for the window and the
/// minute of retries after it.
const MIN_GYM_JOB_SECONDS: u32 = 180;

/// `[gym]`: only GymBooker has it; the provider, site and login are there; each member's
/// booking reads ([`crate::gym::plan::GymPlan::read`], against the roster when it loaded),
/// once per member. One finding per mistake.
pub(super) fn check_gym(
    name: &str,
    bot: &BotFile,
    roster: Option<&crate::roster::Roster>,
    findings: &mut Vec<Finding>,
) {
    let file = bot_file(name);
    let mut problem = |field: &str, text: String| findings.push(Finding::new(&file, field, text));
    let Some(gym) = &bot.gym else {
        for (i, job) in bot.jobs.iter().enumerate() {
            if job.kind == "gym_booking" {
                problem(
                    &format!("jobs[{i}].kind"),
                    "gym_booking books through [gym]: add it to this file (see Gym bookings in the README)".into(),
                );
            }
        }
        return;
    };
    if name != "gymbooker" {
        problem(
            "gym",
            "only GymBooker books gym classes; move [gym] to bots/gymbooker.toml".into(),
        );
        return;
    }
    for (i, job) in bot.jobs.iter().enumerate() {
        if job.kind == "gym_booking" && job.timeout_seconds < MIN_GYM_JOB_SECONDS {
            problem(
                &format!("jobs[{i}].timeout_seconds"),
                format!(
                    "{} s is too short for a gym booking: it waits for the window and retries for 60 s after it; give it at least {MIN_GYM_JOB_SECONDS} s and run it at most 2 minutes before the window",
                    job.timeout_seconds
                ),
            );
        }
    }
    if gym.provider != "mindbody" {
        problem(
            "gym.provider",
            format!(
                "\"{}\" is not a booking system herald knows: mindbody",
                gym.provider
            ),
        );
    }
    if let Some(why) = url_problem(&gym.api_url) {
        problem("gym.api_url", why);
    }
    if gym.site_id.trim().is_empty() {
        problem("gym.site_id", "the Mindbody site id is empty".into());
    }
    if gym.username.trim().is_empty() {
        problem("gym.username", "the staff login is empty".into());
    }
    if !(1..=120).contains(&gym.timeout_seconds) {
        problem(
            "gym.timeout_seconds",
            format!("{} s: must be 1 to 120", gym.timeout_seconds),
        );
    }
    let Some(roster) = roster else { return };
    let mut members = std::collections::BTreeSet::new();
    for (i, booking) in gym.bookings.iter().enumerate() {
        if let Err(problems) = crate::gym::plan::GymPlan::read(i, booking, roster) {
            for (field, text) in problems {
                problem(&field, text);
            }
        }
        if !members.insert(booking.member.as_str()) {
            problem(
                &format!("gym.bookings[{i}].member"),
                format!("{} has two bookings blocks; merge them", booking.member),
            );
        }
    }
}
