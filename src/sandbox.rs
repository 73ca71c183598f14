//! `herald sandbox`: the embedded default. Starts the Telegram simulator on loopback, the
//! deployment's bots with sandbox tokens (written to a throwaway secrets file), a throwaway
//! database, plays a scripted session and prints every message a bot posts as one line.
//! Needs no token and no network.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{GlobalOptions, SandboxArgs};
use crate::config::secrets::SecretRef;
use crate::config::{self, Config};
use crate::identity::IDENTITY_NAMES;
use crate::outbox::sender::SenderSettings;
use crate::roster::Role;
use crate::sim::{SentRecord, SimBot, SimConfig, SimGroup, SimTopic, SimUser, Simulator};

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
    #[error("the bots did not answer within {0} s; {1} of {2} replies seen")]
    Timeout(u64, usize, usize),
}

/// A user id no roster member has: the stranger of the script.
pub const STRANGER_ID: i64 = 999_000_111;

/// Plays the scripted session.
pub async fn play(global: &GlobalOptions, args: &SandboxArgs) -> Result<(), SandboxError> {
    let config = config::load(&global.config).map_err(|e| SandboxError::Config(e.to_string()))?;
    let scratch = tempfile::tempdir()?;
    let tokens = sandbox_tokens();
    let secrets_path = scratch.path().join("secrets.json");
    write_secrets(&config, &tokens, &secrets_path)?;

    let sim = Simulator::start(sim_config(&config, &tokens)).await?;
    println!("sandbox: Telegram simulator at {}", sim.base_url());

    let mut options = global.run_options(1, false);
    options.api_url = sim.base_url();
    options.secrets_override = Some(secrets_path);
    options.db_url = format!("sqlite://{}", scratch.path().join("herald.db").display());
    options.sender = SenderSettings {
        idle_poll: Duration::from_millis(100),
        ..SenderSettings::default()
    };
    let fleet = crate::fleet::start(&options).await?;
    for bot in fleet.verified() {
        println!("sandbox: {} verified as @{}", bot.identity, bot.username);
    }

    let script = Script::new(&config);
    let expected = script.play(&sim);
    let printer = Printer::new(&config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_seconds);
    let mut printed = 0;
    loop {
        let sent = sim.sent();
        for record in &sent[printed..] {
            println!("{}", printer.line(record));
        }
        printed = sent.len();
        if printed >= expected {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            fleet.stop().await?;
            sim.shutdown();
            return Err(SandboxError::Timeout(
                args.timeout_seconds,
                printed,
                expected,
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.stop().await?;
    sim.shutdown();
    println!("sandbox: done, {printed} messages posted, all bots stopped cleanly");
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
        .map(|(i, (name, bot))| SimBot {
            token: tokens.get(name).cloned().unwrap_or_default(),
            user_id: 7_000_000_000 + i as i64,
            username: bot.username.clone(),
            first_name: (*name).to_owned(),
            can_read_all_group_messages: *name == "clawrence",
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
