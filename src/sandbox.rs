//! `herald sandbox`: the embedded default. Starts the Telegram simulator on loopback, the
//! deployment's bots with sandbox tokens (written to a throwaway secrets file), a throwaway
//! database, plays a scripted session and prints every message a bot posts as one line.
//! Needs no token and no network.
//!
//! Compiled only with the `sandbox` feature (on by default): it is the one part of herald that
//! runs the loopback fakes of crate `herald-sim`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use herald_sim::{SentRecord, SimBot, SimClock, SimConfig, SimGroup, SimTopic, SimUser, Simulator};
use serde_json::Value;

use crate::config::secrets::SecretRef;
use crate::config::{self, Config};
use crate::identity::IDENTITY_NAMES;
use crate::roster::Role;

/// Why the sandbox could not play.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    Config(String),
    #[error("cannot prepare the sandbox: {0}")]
    Io(#[from] std::io::Error),
    #[error("refusing to start: {0}")]
    Start(#[from] crate::fleet::StartError),
    #[error("{0}")]
    Run(#[from] crate::fleet::RunError),
    #[error("the bots did not answer within {0} s ({1} messages seen); the last step is above")]
    Timeout(u64, usize, usize),
}

/// A user id no roster member has: the stranger of the script.
pub const STRANGER_ID: i64 = 999_000_111;

/// What the sandbox is asked to play, in plain values (the command layer builds it from the
/// command line).
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The deployment folder whose bots play the session.
    pub config_dir: std::path::PathBuf,
    /// Start the clock here instead of the default Friday morning.
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// The clock's speed; 1.0 means "the sandbox's own" ([`SANDBOX_SPEED`]).
    pub clock_speed: f64,
    /// Give up waiting for the bots' answers after this many seconds (the whole session).
    pub timeout_seconds: u64,
    /// The fleet's options; the sandbox replaces the config folder, clock, URLs, secrets,
    /// database and pacing with its own.
    pub run: crate::fleet::RunOptions,
}

/// Plays the scripted session.
pub async fn play(settings: &SandboxSettings) -> Result<(), SandboxError> {
    let original =
        config::load(&settings.config_dir).map_err(|e| SandboxError::Config(e.to_string()))?;
    let scratch = tempfile::tempdir()?;
    let tokens = sandbox_tokens();
    let secrets_path = scratch.path().join("secrets.json");
    let clock = sandbox_clock(settings, &original);
    // Finance needs Xero: a copy of the deployment talks to the fake Xero on loopback.
    let finance = finance_deployment(&original, scratch.path(), &clock).await?;
    // HR rituals need Talenox: the same copy talks to a fake Talenox seeded for today.
    let hr = hr_deployment(&original, scratch.path(), &clock).await?;
    // GymBooker needs a booking system: the copy talks to a fake Mindbody.
    let gym = gym_deployment(&original, scratch.path(), &clock).await?;
    let config_dir = match (&finance, &hr, &gym) {
        (None, None, None) => settings.config_dir.clone(),
        _ => scratch_copy_dir(scratch.path()),
    };
    let config = config::load(&config_dir).map_err(|e| SandboxError::Config(e.to_string()))?;
    write_secrets(&config, &tokens, &secrets_path)?;
    if finance.is_some() {
        let first = herald_sim::xero::FakeXeroConfig::default().refresh_token;
        herald_sim::xero::FakeXero::write_secrets(&secrets_path, Some(&first))?;
    }
    if hr.is_some() {
        herald_sim::talenox::FakeTalenox::write_secrets(&secrets_path)?;
    }
    if gym.is_some() {
        let mut document: Value = serde_json::from_str(&std::fs::read_to_string(&secrets_path)?)
            .map_err(|e| SandboxError::Config(format!("the sandbox's secrets file: {e}")))?;
        document["mindbody"] = serde_json::json!({
            "api_key": herald_sim::mindbody::API_KEY,
            "password": herald_sim::mindbody::PASSWORD,
        });
        std::fs::write(&secrets_path, document.to_string())?;
    }

    let mut simulated = sim_config(&config, &tokens);
    simulated.clock = Some(sim_clock(&clock));
    let sim = Simulator::start(simulated).await?;
    println!("sandbox: Telegram simulator at {}", sim.base_url());
    println!(
        "sandbox: the clock starts at {} and runs {SANDBOX_SPEED}x faster than real time",
        local_stamp(&clock, &config)
    );

    let mut options = settings.run.clone();
    options.config_dir = config_dir.clone();
    options.clock = clock.clone();
    options.desk = Some(crate::approvals::DeskSettings {
        poll_every: Duration::from_secs(2),
        panic_pause: Duration::from_millis(100),
        retry_first: Duration::from_secs(1),
        max_attempts: 5,
        expire_after: chrono::Duration::days(7),
    });
    options.api_url = sim.base_url();
    options.secrets_override = Some(secrets_path);
    options.db_url = format!("sqlite://{}", scratch.path().join("herald.db").display());
    let fleet = crate::fleet::start(&options).await?;
    for bot in fleet.verified() {
        println!("sandbox: {} verified as @{}", bot.identity, bot.username);
    }

    let script = Script::new(&config);
    let expected = script.play(&sim);
    let mut transcript = Transcript {
        printer: Printer::new(&config),
        printed: 0,
        deadline: tokio::time::Instant::now() + Duration::from_secs(settings.timeout_seconds),
        timeout: settings.timeout_seconds,
    };
    let outcome = async {
        transcript
            .until(&sim, |sent| sent.len() >= expected)
            .await?;
        script.weekday(&sim, &clock, &mut transcript).await?;
        if finance.is_some() {
            script.friday_finance(&sim, &clock, &mut transcript).await?;
        }
        script.claims(&sim, &clock, &mut transcript).await?;
        if let Some(fake) = &gym {
            script.gym(&sim, fake, &mut transcript).await?;
        }
        if hr.is_some() {
            script.hr_rituals(&sim, &mut transcript).await?;
        }
        script.health(&sim, &mut transcript).await?;
        script.console(&sim, &mut transcript).await
    }
    .await;
    fleet.stop().await?;
    sim.shutdown();
    if let Some((_, xero)) = &finance {
        xero.shutdown();
    }
    if let Some(talenox) = &hr {
        talenox.shutdown();
    }
    if let Some(mindbody) = &gym {
        mindbody.shutdown();
    }
    outcome?;
    println!(
        "sandbox: done, {} messages posted, all bots stopped cleanly",
        transcript.printed
    );
    Ok(())
}

/// How much faster than real time the sandbox's clock runs (unless `--clock-speed` says).
pub const SANDBOX_SPEED: f64 = 240.0;

/// The sandbox's clock: `--clock-start` (and `--clock-speed`) if given, else Friday
/// 20 November 2026, 10:30 in the team's zone, at [`SANDBOX_SPEED`]: the 11:00 laser-chase
/// comes 7.5 s after the start, the noon leaderboard 15 s later.
fn sandbox_clock(settings: &SandboxSettings, config: &Config) -> crate::clock::Clock {
    use chrono::TimeZone;
    let speed = if settings.clock_speed == 1.0 {
        SANDBOX_SPEED
    } else {
        settings.clock_speed
    };
    let start = settings.clock_start.unwrap_or_else(|| {
        config
            .roster
            .timezone()
            .with_ymd_and_hms(2026, 11, 20, 10, 30, 0)
            .single()
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    });
    crate::clock::Clock::accelerated(start, speed)
}

/// The clock's time in the team's zone, as the transcript shows it: `Fri 10:42`.
fn local_stamp(clock: &crate::clock::Clock, config: &Config) -> String {
    clock
        .now()
        .with_timezone(&config.roster.timezone())
        .format("%a %d %b %H:%M")
        .to_string()
}

/// Prints what the bots post as it arrives.
struct Transcript<'a> {
    printer: Printer<'a>,
    printed: usize,
    deadline: tokio::time::Instant,
    timeout: u64,
}

impl Transcript<'_> {
    /// Prints new messages until `done` holds for everything sent so far.
    async fn until(
        &mut self,
        sim: &Simulator,
        done: impl Fn(&[SentRecord]) -> bool,
    ) -> Result<(), SandboxError> {
        loop {
            let sent = sim.sent();
            for record in &sent[self.printed..] {
                println!("{}", self.printer.line(record));
            }
            self.printed = sent.len();
            if done(&sent) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= self.deadline {
                return Err(SandboxError::Timeout(self.timeout, self.printed, 0));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Prints whatever arrives during `wait`.
    async fn pause(&mut self, sim: &Simulator, wait: Duration) -> Result<(), SandboxError> {
        let until = tokio::time::Instant::now() + wait;
        self.until(sim, |_| tokio::time::Instant::now() >= until)
            .await
    }
}

/// A copy of the deployment in `scratch` with finance switched on against a fake Xero seeded
/// with the fixtures' invoices and two awaiting approval: `[xero]`, `[approvals]` and an AR
/// brief at 10:35 on Fridays (the sandbox's own schedule, so the session stays short).
/// `None` when the deployment already has `[xero]` or `[approvals]` of its own.
async fn finance_deployment(
    config: &Config,
    scratch: &Path,
    clock: &crate::clock::Clock,
) -> Result<Option<(std::path::PathBuf, herald_sim::xero::FakeXero)>, SandboxError> {
    use herald_sim::xero::{FakeXero, FakeXeroConfig};
    let has_approvals = config.bot("claudia").is_some_and(|b| b.approvals.is_some());
    if config.deployment.xero.is_some() || has_approvals {
        println!(
            "sandbox: this deployment configures Xero itself; the Friday finance part is skipped"
        );
        return Ok(None);
    }
    let fake = FakeXero::start(FakeXeroConfig {
        clock: Some(sim_clock(clock)),
        ..FakeXeroConfig::default()
    })
    .await?;
    fake.seed_fixtures();
    let template = FakeXero::fixture_invoices().into_iter().next();
    for (n, contact) in [(61, "Lim & Co <Events>"), (62, "Harbour Café")] {
        let Some(mut invoice) = template.clone() else {
            break;
        };
        invoice.invoice_id = format!("5f1c2b9e-8d7a-4e6f-b5c4-0000000000{n}");
        invoice.number = format!("INV-00{n}");
        invoice.contact_name = contact.to_owned();
        invoice.status = herald_sim::xero::XeroStatus::Submitted;
        fake.insert_invoice(invoice);
    }
    let dir = scratch_copy(config, scratch)?;
    append(
        &dir.join("bots/herald.toml"),
        &fake.deployment_toml(&FakeXeroConfig::default().tenant_id),
    )?;
    append(
        &dir.join("bots/claudia.toml"),
        "\n[approvals]\nthread = \"approvals\"\n\n[[jobs]]\nname = \"ar-brief\"\nkind = \"ar_brief\"\ncron = \"35 10 * * FRI\"\ntimezone = \"Asia/Singapore\"\nthread = \"ar-brief\"\ntemplate = \"ar_brief.html\"\n",
    )?;
    Ok(Some((dir, fake)))
}

/// Where the sandbox's copy of the deployment lives in `scratch`.
fn scratch_copy_dir(scratch: &Path) -> std::path::PathBuf {
    scratch.join("deployment")
}

/// The copy of the deployment's `bots/` and `templates/` in `scratch` that the sandbox may
/// edit, made on first use.
fn scratch_copy(config: &Config, scratch: &Path) -> Result<std::path::PathBuf, SandboxError> {
    let dir = scratch_copy_dir(scratch);
    if dir.exists() {
        return Ok(dir);
    }
    for folder in ["bots", "templates"] {
        std::fs::create_dir_all(dir.join(folder))?;
        for entry in std::fs::read_dir(config.dir.join(folder))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), dir.join(folder).join(entry.file_name()))?;
            }
        }
    }
    Ok(dir)
}

/// The copy of the deployment with HR rituals switched on against a fake Talenox seeded for
/// the sandbox's day: a team pulse at 10:40 with every section (a birthday, a work anniversary,
/// someone out, a leave nag and a work pass 30 days from expiry) and cake reminders at 10:45
/// for a birthday three days later (the sandbox's own schedule, so the session stays short).
/// The roster's `[[leave]]` entries are in Talenox too, so the laser-chase spares the same
/// people. `None` when the deployment already has `[talenox]`.
async fn hr_deployment(
    config: &Config,
    scratch: &Path,
    clock: &crate::clock::Clock,
) -> Result<Option<herald_sim::talenox::FakeTalenox>, SandboxError> {
    use herald_sim::talenox::FakeTalenox;
    if config.deployment.talenox.is_some() {
        println!("sandbox: this deployment configures Talenox itself; the HR part is skipped");
        return Ok(None);
    }
    let today = clock
        .now()
        .with_timezone(&config.roster.timezone())
        .date_naive();
    let (employees, leave) = hr_seed(config, today);
    let fake = FakeTalenox::start().await?;
    fake.set_employees(employees);
    fake.set_leave(leave);
    let dir = scratch_copy(config, scratch)?;
    append(&dir.join("bots/herald.toml"), &fake.deployment_toml())?;
    append(
        &dir.join("bots/clawrence.toml"),
        "\n[[jobs]]\nname = \"hr-pulse\"\nkind = \"team_pulse\"\ncron = \"40 10 * * *\"\ntimezone = \"Asia/Singapore\"\nthread = \"pulse\"\n\n[[jobs]]\nname = \"cake-reminder\"\nkind = \"cake_reminder\"\ncron = \"45 10 * * *\"\ntimezone = \"Asia/Singapore\"\nthread = \"pulse\"\n",
    )?;
    Ok(Some(fake))
}

/// When the sandbox's gym booking window opens (team time, the sandbox's Friday), and when
/// its booking job runs, three minutes before.
const GYM_WINDOW_OPENS: &str = "10:50";
const GYM_JOB_CRON: &str = "47 10 * * *";

/// The copy of the deployment with GymBooker on against a fake Mindbody: the first approver
/// books Sundays at 06:30, 07:30 or 12:00, two days ahead, the window opening at
/// [`GYM_WINDOW_OPENS`]; 06:30 is full. `None` when the deployment has `[gym]` itself.
async fn gym_deployment(
    config: &Config,
    scratch: &Path,
    clock: &crate::clock::Clock,
) -> Result<Option<herald_sim::mindbody::FakeMindbody>, SandboxError> {
    use herald_sim::mindbody::{FakeMindbody, FakeMindbodyConfig, MindbodyClass};
    if config.bot("gymbooker").is_some_and(|b| b.gym.is_some()) {
        println!("sandbox: this deployment configures [gym] itself; the gym part is skipped");
        return Ok(None);
    }
    let Some(member) = config.roster.members_with_role(Role::Approver).next() else {
        return Ok(None);
    };
    let tz = config.roster.timezone();
    let today = clock.now().with_timezone(&tz).date_naive();
    let at = |day: chrono::NaiveDate, hm: &str| {
        chrono::NaiveTime::parse_from_str(hm, "%H:%M")
            .ok()
            .and_then(|t| day.and_time(t).and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let class_day = today + chrono::Duration::days(2);
    let (Some(opens), Some(first)) = (at(today, GYM_WINDOW_OPENS), at(class_day, "06:30")) else {
        return Ok(None);
    };
    let fake = FakeMindbody::start(FakeMindbodyConfig {
        clock: Some(sim_clock(clock)),
        ..FakeMindbodyConfig::default()
    })
    .await?;
    fake.add_class(
        MindbodyClass::new(1, first, "CrossFit")
            .window_opening_at(opens)
            .with_places(12, 12),
    );
    for (id, hm) in [(2, "07:30"), (3, "12:00")] {
        if let Some(starts) = at(class_day, hm) {
            fake.add_class(MindbodyClass::new(id, starts, "CrossFit").window_opening_at(opens));
        }
    }
    let day = chrono::Datelike::weekday(&class_day)
        .to_string()
        .to_uppercase();
    let dir = scratch_copy(config, scratch)?;
    append(
        &dir.join("bots/gymbooker.toml"),
        &format!(
            "\n[gym]\nprovider = \"mindbody\"\napi_url = \"{}\"\nsite_id = \"{}\"\n\
             api_key = {{ source = \"file\", provider = \"local\", id = \"/mindbody/api_key\" }}\n\
             username = \"{}\"\n\
             password = {{ source = \"file\", provider = \"local\", id = \"/mindbody/password\" }}\n\n\
             [[gym.bookings]]\nmember = \"{}\"\nclient_id = \"100015\"\ndays = [\"{day}\"]\n\
             times = [\"06:30\", \"07:30\", \"12:00\"]\ndays_ahead = 2\nwindow_opens = \"{GYM_WINDOW_OPENS}\"\n\n\
             [[jobs]]\nname = \"gym-booking\"\nkind = \"gym_booking\"\ncron = \"{GYM_JOB_CRON}\"\n\
             timezone = \"{tz}\"\nthread = \"gym\"\ntimeout_seconds = 240\n",
            fake.base_url(),
            herald_sim::mindbody::SITE_ID,
            herald_sim::mindbody::USERNAME,
            member.name,
        ),
    )?;
    Ok(Some(fake))
}

/// Talenox's employees (every roster member with a `talenox_name`) and leave for `today`.
fn hr_seed(config: &Config, today: chrono::NaiveDate) -> (Vec<Value>, Vec<Value>) {
    use chrono::Duration as Days;
    let roster = &config.roster;
    let people: Vec<(&crate::roster::Member, &str)> = roster
        .members()
        .iter()
        .filter_map(|m| m.talenox_name.as_deref().map(|t| (m, t)))
        .collect();
    let id = |i: usize| 211_000 + i as i64;
    let years_before = |day: chrono::NaiveDate, years: i32| {
        use chrono::Datelike;
        day.with_year(day.year() - years).unwrap_or(day)
    };
    let is = |m: &crate::roster::Member, role: Role| m.roles.contains(&role);
    // Who plays which part: the first person is the birthday, the second the anniversary, the
    // first member not expected in daily-updates (after those two) is out today, the first who
    // is expected there has a leave application waiting, the next holds a work pass, and a
    // member without the cake role has a birthday three days from now.
    let out_today = people
        .iter()
        .skip(2)
        .position(|(m, _)| !is(m, Role::FilesUpdates))
        .map(|p| p + 2);
    let waiting = people
        .iter()
        .skip(2)
        .position(|(m, _)| is(m, Role::FilesUpdates))
        .map(|p| p + 2);
    let pass = waiting.and_then(|w| {
        people
            .iter()
            .skip(w + 1)
            .position(|(m, _)| is(m, Role::FilesUpdates))
            .map(|p| p + w + 1)
    });
    let cake = people
        .iter()
        .enumerate()
        .skip(2)
        .position(|(i, (m, _))| !is(m, Role::Cake) && Some(i) != out_today)
        .map(|p| p + 2);
    let employees = people
        .iter()
        .enumerate()
        .map(|(i, (_, talenox_name))| {
            let (first, last) = talenox_name.split_once(' ').unwrap_or((talenox_name, ""));
            let birthdate = match i {
                0 => Some(years_before(today, 36)),
                _ if Some(i) == cake => Some(years_before(today + Days::days(3), 29)),
                _ => None,
            };
            let hired = if i == 1 {
                years_before(today, 3)
            } else {
                years_before(today, 1) - Days::days(40)
            };
            let work_pass = (Some(i) == pass).then(|| {
                serde_json::json!({
                    "type": "Employment Pass", "number": "G0000000X",
                    "issue_date": years_before(today, 2).to_string(),
                    "expiry_date": (today + Days::days(30)).to_string(),
                })
            });
            serde_json::json!({
                "id": id(i), "employee_id": format!("{}", 300 + i), "first_name": first,
                "last_name": last, "birthdate": birthdate.map(|d| d.to_string()),
                "hired_date": hired.to_string(), "resign_date": null, "work_pass": work_pass,
            })
        })
        .collect();
    let application = |n: i64,
                       i: usize,
                       status: &str,
                       from: chrono::NaiveDate,
                       to: chrono::NaiveDate,
                       applied: chrono::NaiveDate| {
        serde_json::json!({
            "id": 90_000 + n, "employee_id": id(i), "employee_name": people[i].1,
            "leave_type": "Annual Leave", "status": status,
            "start_date": from.to_string(), "end_date": to.to_string(),
            "start_half_day": false, "end_half_day": false,
            "approver_ids": [id(0)], "applied_at": format!("{applied}T02:00:00Z"),
        })
    };
    let mut leave = Vec::new();
    if let Some(i) = out_today {
        leave.push(application(
            1,
            i,
            "approved",
            today,
            today + Days::days(2),
            today - Days::days(10),
        ));
    }
    if let Some(i) = waiting {
        leave.push(application(
            2,
            i,
            "pending",
            today + Days::days(14),
            today + Days::days(16),
            today - Days::days(4),
        ));
    }
    for (n, l) in roster.leave().iter().enumerate() {
        if let Some(i) = people.iter().position(|(m, _)| m.name == l.member) {
            leave.push(application(
                10 + n as i64,
                i,
                "approved",
                l.from,
                l.to,
                l.from - Days::days(20),
            ));
        }
    }
    (employees, leave)
}

/// The callback data of a card's first button (*Approve*).
fn approve_button(card: &SentRecord) -> String {
    card.reply_markup
        .as_ref()
        .and_then(|m| m["inline_keyboard"][0][0]["callback_data"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The fakes read herald's clock: the simulator's `date` fields and the fake Xero's token
/// expiry follow the sandbox's accelerated time.
fn sim_clock(clock: &crate::clock::Clock) -> SimClock {
    let clock = clock.clone();
    SimClock::from_fn(move || clock.now())
}

fn append(path: &Path, text: &str) -> Result<(), SandboxError> {
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Fake tokens, one per identity, valid only against the simulator.
pub fn sandbox_tokens() -> BTreeMap<&'static str, String> {
    IDENTITY_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, format!("{}:sandbox-{name}", 700_000 + i)))
        .collect()
}

/// Writes the sandbox tokens where the deployment's secret refs point, mode 600.
pub fn write_secrets(
    config: &Config,
    tokens: &BTreeMap<&'static str, String>,
    path: &Path,
) -> Result<(), SandboxError> {
    let mut document = Value::Object(Default::default());
    for (name, bot) in &config.bots {
        let SecretRef::File { id, .. } = &bot.token else {
            return Err(SandboxError::Config(format!(
                "bots/{name}.toml: token: the sandbox needs file secret refs, found {}",
                bot.token
            )));
        };
        let token = tokens.get(name).cloned().unwrap_or_default();
        insert_at_pointer(&mut document, id, Value::String(token));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_600()
        .open(path)?;
    file.write_all(document.to_string().as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

trait Mode600 {
    fn mode_600(&mut self) -> &mut Self;
}

impl Mode600 for std::fs::OpenOptions {
    fn mode_600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Sets `value` at JSON `pointer`, creating objects on the way.
fn insert_at_pointer(document: &mut Value, pointer: &str, value: Value) {
    let mut node = document;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else { return };
        if i + 1 == parts.len() {
            map.insert(part.clone(), value);
            return;
        }
        node = map
            .entry(part.clone())
            .or_insert(Value::Object(Default::default()));
    }
}

/// A simulator that knows the deployment's bots (with `tokens`), group, topics and members,
/// plus one stranger ([`STRANGER_ID`]). Clawrence reads all group messages; the rest are in
/// privacy mode.
pub fn sim_config(config: &Config, tokens: &BTreeMap<&'static str, String>) -> SimConfig {
    let bots = config
        .bots
        .iter()
        .enumerate()
        .map(|(i, (name, bot))| {
            let token = tokens.get(name).cloned().unwrap_or_default();
            // As on Telegram, a bot's user id is the number its token starts with.
            let user_id = token
                .split(':')
                .next()
                .and_then(|id| id.parse().ok())
                .unwrap_or(7_000_000_000 + i as i64);
            SimBot {
                token,
                user_id,
                username: bot.username.clone(),
                first_name: (*name).to_owned(),
                can_read_all_group_messages: *name == "clawrence",
            }
        })
        .collect();
    let roster = &config.roster;
    let topics = roster
        .threads()
        .iter()
        .filter_map(|t| {
            t.message_thread_id.map(|id| SimTopic {
                thread_id: id,
                name: t.title.clone().unwrap_or_else(|| t.name.clone()),
            })
        })
        .collect();
    let mut users: Vec<SimUser> = roster
        .members()
        .iter()
        .map(|m| SimUser {
            user_id: m.telegram_id,
            first_name: m.name.clone(),
            last_name: None,
            username: m.handle.clone(),
        })
        .collect();
    users.push(SimUser {
        user_id: STRANGER_ID,
        first_name: "Stranger".into(),
        last_name: None,
        username: Some("curious_stranger".into()),
    });
    SimConfig {
        bots,
        group: SimGroup {
            chat_id: roster.chat_id(),
            title: roster.team_name().to_owned(),
            topics,
        },
        users,
        rate_limits: false,
        clock: None,
    }
}

/// The scripted session.
struct Script<'a> {
    config: &'a Config,
}

impl<'a> Script<'a> {
    fn new(config: &'a Config) -> Self {
        Self { config }
    }

    /// Injects the script's messages; returns how many bot messages they should produce.
    fn play(&self, sim: &Simulator) -> usize {
        let roster = &self.config.roster;
        let Some(operator) = roster.members_with_role(Role::Operator).next() else {
            println!("sandbox: the roster has no operator; skipping the DM part");
            return 0;
        };
        let mut expected = 0;
        for bot in self.config.bots.values() {
            let Some(thread) = bot.threads.first().and_then(|t| roster.thread(t)) else {
                continue;
            };
            let text = format!("/help@{}", bot.username);
            println!("{} in #{}: {text}", operator.name, thread.name);
            sim.user_says_in_topic(operator.telegram_id, thread.message_thread_id, &text);
            expected += 1;
        }
        let console = self.config.console();
        if let Some(bot) = self.config.bot(console) {
            println!("{} DMs @{}: /help", operator.name, bot.username);
            sim.user_dms(operator.telegram_id, &bot.username, "/help");
            expected += 1;
            println!("Stranger DMs @{}: hello?", bot.username);
            sim.user_dms(STRANGER_ID, &bot.username, "hello?");
            expected += 1;
        }
        expected
    }
}

impl Script<'_> {
    /// HR rituals from the fake Talenox: the 10:40 team pulse and the 10:45 cake reminders
    /// (printed as they arrive; this waits until both are there).
    async fn hr_rituals(
        &self,
        sim: &Simulator,
        transcript: &mut Transcript<'_>,
    ) -> Result<(), SandboxError> {
        let Some(clawrence) = self.config.bot("clawrence") else {
            return Ok(());
        };
        let cake = self.config.roster.members_with_role(Role::Cake).count();
        println!("sandbox: HR rituals: the team pulse ran at 10:40 and the cake reminders at 10:45, from the fake Talenox");
        transcript
            .until(sim, |s| {
                let mine = || s.iter().filter(|r| r.bot == clawrence.username);
                mine().any(|r| r.text.contains("Team pulse"))
                    && mine().filter(|r| r.text.contains("Cake alert")).count() >= cake.min(1)
            })
            .await
    }

    /// Health: a topic is deleted mid-session; the operator runs Happy's capability probe by
    /// hand (one DM: the thread is gone) and then the morning brief (which shows it too).
    async fn health(
        &self,
        sim: &Simulator,
        transcript: &mut Transcript<'_>,
    ) -> Result<(), SandboxError> {
        let roster = &self.config.roster;
        let (Some(operator), Some(console), Some(happy), Some(calls)) = (
            roster.members_with_role(Role::Operator).next(),
            self.config.bot(self.config.console()),
            self.config.bot("happy"),
            roster.thread("calls").and_then(|t| t.message_thread_id),
        ) else {
            return Ok(());
        };
        println!("sandbox: someone deletes the #calls topic (PakguPei posts there on Mondays)");
        sim.delete_topic(calls);
        for (job, needle) in [
            ("capability-probe", "Capability probe"),
            ("morning-brief", "Morning brief"),
        ] {
            println!("{} DMs @{}: /run {job}", operator.name, console.username);
            sim.user_dms(
                operator.telegram_id,
                &console.username,
                &format!("/run {job}"),
            );
            transcript
                .until(sim, |s| {
                    s.iter()
                        .any(|r| r.bot == happy.username && r.text.contains(needle))
                })
                .await?;
        }
        Ok(())
    }

    /// Friday finance: the AR brief from the fake Xero, and two invoice approval cards, one
    /// approved with its button and one by a reply.
    async fn friday_finance(
        &self,
        sim: &Simulator,
        clock: &crate::clock::Clock,
        transcript: &mut Transcript<'_>,
    ) -> Result<(), SandboxError> {
        let roster = &self.config.roster;
        let (Some(claudia), Some(approvals_thread)) =
            (self.config.bot("claudia"), roster.thread("approvals"))
        else {
            return Ok(());
        };
        let approvers: Vec<_> = roster.members_with_role(Role::Approver).collect();
        let [first, second, ..] = approvers.as_slice() else {
            println!("sandbox: fewer than two approvers; skipping the approvals");
            return Ok(());
        };
        println!("sandbox: Friday finance: two invoices awaited approval in the fake Xero (their cards are above); the AR brief ran at 10:35");
        let cards = |s: &[SentRecord]| -> Vec<SentRecord> {
            s.iter()
                .filter(|r| {
                    r.bot == claudia.username
                        && r.method == "sendMessage"
                        && r.thread_id == approvals_thread.message_thread_id
                        && r.reply_markup.is_some()
                })
                .cloned()
                .collect()
        };
        transcript.until(sim, |s| cards(s).len() >= 2).await?;
        let posted = cards(&sim.sent());
        let (Some(by_button), Some(by_reply)) = (posted.first(), posted.get(1)) else {
            return Ok(());
        };
        let data = approve_button(by_button);
        let at = local_stamp(clock, self.config);
        println!("[{at}] {} taps [Approve] on the first card", first.name);
        sim.user_taps(
            first.telegram_id,
            &claudia.username,
            by_button.chat_id,
            by_button.message_id,
            &data,
        );
        println!("[{at}] {} replies to the second card: approve", second.name);
        sim.user_replies(
            second.telegram_id,
            approvals_thread.message_thread_id,
            by_reply.message_id,
            "approve",
        );
        let confirmed = |s: &[SentRecord]| {
            s.iter()
                .filter(|r| r.bot == claudia.username && r.text.starts_with("✅ Invoice"))
                .count()
        };
        transcript.until(sim, |s| confirmed(s) >= 2).await?;
        transcript
            .until(sim, |s| {
                s.iter()
                    .any(|r| r.bot == claudia.username && r.text.contains("Unpaid receivables"))
            })
            .await?;
        Ok(())
    }

    /// An expense claim: a member sends Claims a receipt photo captioned `/claim ...` in
    /// #claims; an approver taps [Approve] on the card; Claims (and only Claims) confirms in
    /// the thread and tells the claimant by DM.
    async fn claims(
        &self,
        sim: &Simulator,
        clock: &crate::clock::Clock,
        transcript: &mut Transcript<'_>,
    ) -> Result<(), SandboxError> {
        let roster = &self.config.roster;
        let (Some(claims), Some(thread)) = (self.config.bot("claims"), roster.thread("claims"))
        else {
            return Ok(());
        };
        if claims.claims.is_none() {
            return Ok(());
        }
        let claimant = roster
            .members()
            .iter()
            .find(|m| !m.has_role(Role::Approver));
        let approver = roster.members_with_role(Role::Approver).next();
        let (Some(claimant), Some(approver)) = (claimant, approver) else {
            println!("sandbox: no member to claim or no approver; skipping the claim");
            return Ok(());
        };
        let caption = "/claim 45.20 SGD taxi to client meeting";
        println!(
            "[{}] {} sends a receipt photo in #{}: {caption}",
            local_stamp(clock, self.config),
            claimant.name,
            thread.name
        );
        sim.user_sends_file(
            claimant.telegram_id,
            herald_sim::SimPlace::Group(thread.message_thread_id),
            None,
            herald_sim::SimFile::Photo,
            Some(caption),
        );
        let card = |s: &[SentRecord]| {
            s.iter()
                .find(|r| {
                    r.bot == claims.username
                        && r.method == "sendMessage"
                        && r.reply_markup.is_some()
                        && r.text.contains("Claim C-")
                })
                .cloned()
        };
        transcript.until(sim, |s| card(s).is_some()).await?;
        let Some(card) = card(&sim.sent()) else {
            return Ok(());
        };
        let data = approve_button(&card);
        println!(
            "[{}] {} taps [Approve] on the claim's card",
            local_stamp(clock, self.config),
            approver.name
        );
        sim.user_taps(
            approver.telegram_id,
            &claims.username,
            card.chat_id,
            card.message_id,
            &data,
        );
        transcript
            .until(sim, |s| {
                let confirmed = s
                    .iter()
                    .any(|r| r.bot == claims.username && r.text.starts_with("✅ Claim"));
                let told = s
                    .iter()
                    .any(|r| r.bot == claims.username && r.chat_id == claimant.telegram_id);
                confirmed && told
            })
            .await
    }

    /// GymBooker: the job ran three minutes before the window, booked at its opening (06:30
    /// full, so 07:30) and DMed the member; prints how long after the opening the first
    /// booking request reached the fake Mindbody, in clock time.
    async fn gym(
        &self,
        sim: &Simulator,
        fake: &herald_sim::mindbody::FakeMindbody,
        transcript: &mut Transcript<'_>,
    ) -> Result<(), SandboxError> {
        let (Some(gymbooker), Some(member)) = (
            self.config.bot("gymbooker"),
            self.config.roster.members_with_role(Role::Approver).next(),
        ) else {
            return Ok(());
        };
        transcript
            .until(sim, |s| {
                s.iter().any(|r| {
                    r.bot == gymbooker.username
                        && r.chat_id == member.telegram_id
                        && r.text.starts_with('✅')
                })
            })
            .await?;
        let first = fake
            .requests()
            .into_iter()
            .find(|r| r.route == Some(herald_sim::mindbody::MindbodyRoute::AddClientToClass));
        let opening = fake.classes().first().map(|c| c.window_opens);
        if let (Some(first), Some(opening)) = (first, opening) {
            println!(
                "sandbox: GymBooker's first booking request reached the fake Mindbody {} ms after the window opened at {GYM_WINDOW_OPENS} (clock time, at the sandbox's speed)",
                (first.arrived_at - opening).num_milliseconds()
            );
        }
        Ok(())
    }

    /// A weekday of team rituals: members file daily updates (one by an edit), give volts
    /// (one by reply, one refused), then the 11:00 laser-chase and the 12:00 leaderboard.
    async fn weekday(
        &self,
        sim: &Simulator,
        clock: &crate::clock::Clock,
        transcript: &mut Transcript<'_>,
    ) -> Result<(), SandboxError> {
        let roster = &self.config.roster;
        let (Some(clawrence), Some(updates), Some(volts)) = (
            self.config.bot("clawrence"),
            roster.thread("daily-updates"),
            roster.thread("volts"),
        ) else {
            return Ok(());
        };
        let filers: Vec<_> = roster
            .members_with_role(Role::FilesUpdates)
            .filter(|m| m.handle.is_some())
            .collect();
        let [first, second, third, ..] = filers.as_slice() else {
            println!("sandbox: fewer than three files_updates members with a handle; skipping the weekday");
            return Ok(());
        };
        let at = || local_stamp(clock, self.config);
        let says = |who: &crate::roster::Member, thread: &crate::roster::Thread, text: &str| {
            println!("[{}] {} in #{}: {text}", at(), who.name, thread.name);
            sim.user_says_in_topic(who.telegram_id, thread.message_thread_id, text)
        };
        let by_clawrence =
            |s: &[SentRecord]| s.iter().filter(|r| r.bot == clawrence.username).count();

        println!("sandbox: a weekday in the team chat");
        let update = says(first, updates, "Closed the Q3 pack. Next: AR follow-ups.");
        says(second, updates, "Client calls all morning, notes by 3.");
        let draft = says(third, updates, "wip");
        println!(
            "[{}] {} edits their message: Reconciled the petty cash; filing claims next.",
            at(),
            third.name
        );
        sim.user_edits(
            third.telegram_id,
            draft,
            "Reconciled the petty cash; filing claims next.",
        );
        let handle = |m: &crate::roster::Member| m.handle.clone().unwrap_or_default();
        let before = by_clawrence(&sim.sent());
        says(
            first,
            volts,
            &format!("/volts @{} 3 covered my client calls", handle(second)),
        );
        println!(
            "[{}] {} replies to {}'s update: /volts 2 great update",
            at(),
            second.name,
            first.name
        );
        sim.user_replies(
            second.telegram_id,
            updates.message_thread_id,
            update,
            "/volts 2 great update",
        );
        says(
            third,
            volts,
            &format!("/volts @{} 5 I deserve it", handle(third)),
        );
        transcript
            .until(sim, |s| by_clawrence(s) >= before + 3)
            .await?;

        println!("sandbox: waiting for 11:00 (the laser-chase) and 12:00 (the leaderboard)");
        let posted_in = |s: &[SentRecord], thread: Option<i32>, needle: &str| {
            s.iter().any(|r| {
                r.bot == clawrence.username && r.thread_id == thread && r.text.contains(needle)
            })
        };
        transcript
            .until(sim, |s| {
                posted_in(s, updates.message_thread_id, "Laser-chase")
                    || posted_in(s, updates.message_thread_id, "Clean sweep")
            })
            .await?;
        transcript
            .until(sim, |s| {
                posted_in(s, volts.message_thread_id, "Volts leaderboard")
            })
            .await?;
        println!("[{}] sandbox: the weekday is done", at());
        Ok(())
    }

    /// The operator's console: /status, a /pause all in the middle of a burst, /resume, and
    /// an ambiguous send resolved with a button.
    async fn console(
        &self,
        sim: &Simulator,
        transcript: &mut Transcript<'_>,
    ) -> Result<(), SandboxError> {
        let roster = &self.config.roster;
        let (Some(operator), Some(console), Some(clawrence), Some(claudia)) = (
            roster.members_with_role(Role::Operator).next(),
            self.config.bot(self.config.console()),
            self.config.bot("clawrence"),
            self.config.bot("claudia"),
        ) else {
            return Ok(());
        };
        let said = |text: &str| {
            println!("{} DMs @{}: {text}", operator.name, console.username);
            sim.user_dms(operator.telegram_id, &console.username, text);
        };
        let from_console = |sent: &[SentRecord], needle: &str| {
            sent.iter()
                .any(|r| r.bot == console.username && r.text.contains(needle))
        };

        said("/status");
        transcript
            .until(sim, |s| from_console(s, "herald status"))
            .await?;

        // A burst: every member asks Clawrence for /help in #general at once. Replies to one
        // group go at one a second, so the pause lands in the middle.
        let general = roster.thread("general").and_then(|t| t.message_thread_id);
        let members: Vec<_> = roster.members().iter().collect();
        for member in &members {
            sim.user_says_in_topic(
                member.telegram_id,
                general,
                &format!("/help@{}", clawrence.username),
            );
        }
        println!(
            "sandbox: {} members ask @{} for /help in #general at once",
            members.len(),
            clawrence.username
        );
        let by_clawrence =
            |s: &[SentRecord]| s.iter().filter(|r| r.bot == clawrence.username).count();
        let before = by_clawrence(&sim.sent());
        transcript
            .until(sim, |s| by_clawrence(s) >= before + 2)
            .await?;
        said("/pause all");
        transcript
            .until(sim, |s| from_console(s, "Paused <b>all</b>"))
            .await?;
        transcript.pause(sim, Duration::from_secs(2)).await?;
        println!(
            "sandbox: 2 s later Clawrence has posted nothing more ({} of {} replies out)",
            by_clawrence(&sim.sent()) - before,
            members.len()
        );
        said("/resume all");
        transcript
            .until(sim, |s| by_clawrence(s) >= before + members.len())
            .await?;

        // One send whose reply is lost: ambiguous, and the operator settles it with a button.
        sim.inject_fault(
            &claudia.username,
            "sendMessage",
            herald_sim::Fault::ReplyLost,
        );
        let ar = roster.thread("ar-brief").and_then(|t| t.message_thread_id);
        println!(
            "{} in #ar-brief: /help@{} (the simulator loses Telegram's reply)",
            operator.name, claudia.username
        );
        sim.user_says_in_topic(
            operator.telegram_id,
            ar,
            &format!("/help@{}", claudia.username),
        );
        transcript
            .until(sim, |s| from_console(s, "Unsure whether"))
            .await?;
        let alert = sim
            .sent()
            .into_iter()
            .find(|r| r.bot == console.username && r.text.contains("Unsure whether"));
        let Some(alert) = alert else { return Ok(()) };
        let data = alert
            .reply_markup
            .as_ref()
            .and_then(|m| m["inline_keyboard"][0][1]["callback_data"].as_str())
            .unwrap_or_default()
            .to_owned();
        println!("{} taps [Mark sent]", operator.name);
        sim.user_taps(
            operator.telegram_id,
            &console.username,
            alert.chat_id,
            alert.message_id,
            &data,
        );
        transcript
            .until(sim, |s| {
                s.iter().any(|r| {
                    r.method == "editMessageText" && r.text.contains("Decided: <b>marked sent</b>")
                })
            })
            .await?;
        let answer = sim
            .callback_answers()
            .into_iter()
            .last()
            .and_then(|a| a.text)
            .unwrap_or_default();
        println!("sandbox: the tap was answered: {answer}");
        Ok(())
    }
}

/// Formats what a bot posted as one readable line.
struct Printer<'a> {
    config: &'a Config,
    identity_by_username: BTreeMap<String, &'static str>,
}

impl<'a> Printer<'a> {
    fn new(config: &'a Config) -> Self {
        let identity_by_username = config
            .bots
            .iter()
            .map(|(name, bot)| (bot.username.to_ascii_lowercase(), *name))
            .collect();
        Self {
            config,
            identity_by_username,
        }
    }

    fn line(&self, record: &SentRecord) -> String {
        let roster = &self.config.roster;
        let who = self
            .identity_by_username
            .get(&record.bot.to_ascii_lowercase())
            .copied()
            .unwrap_or("?");
        let place = if record.chat_id == roster.chat_id() {
            match roster.thread_by_id(record.thread_id) {
                Some(t) => format!("#{}", t.name),
                None => "#?".to_owned(),
            }
        } else {
            match roster.member_by_telegram_id(record.chat_id) {
                Some(m) => format!("DM {}", m.name),
                None => format!("DM {}", record.chat_id),
            }
        };
        let verb = if record.method == "editMessageText" {
            " (edit)"
        } else {
            ""
        };
        format!("{who} -> {place}{verb}: {}", one_line(&record.text))
    }
}

/// HTML to one readable line: tags dropped, entities decoded, line breaks shown as ` | `.
fn one_line(html: &str) -> String {
    crate::text::html_to_plain(html)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_insertion_builds_nested_objects() {
        let mut doc = Value::Object(Default::default());
        insert_at_pointer(&mut doc, "/telegram/claudia", Value::String("t".into()));
        insert_at_pointer(&mut doc, "/telegram/clawrence", Value::String("u".into()));
        assert_eq!(
            doc,
            serde_json::json!({"telegram": {"claudia": "t", "clawrence": "u"}})
        );
    }

    #[test]
    fn one_line_flattens_html() {
        assert_eq!(
            one_line("<b>Hi</b> &amp; bye\n\n/help: x"),
            "Hi & bye | /help: x"
        );
    }
}
