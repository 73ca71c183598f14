//! Fuzz through the real pollers (issue 11): 20,000 seeded random updates to the seven bots
//! of an in-process fleet, through the Telegram simulator: valid commands (DMs and topics,
//! with hostile arguments), plain messages with hostile texts (huge, emoji, `<b>`, `&`),
//! edits, button taps with random data (on real bot messages and forged), malformed JSON
//! shapes (negative `from.id`, `"chat": {"id": "abc"}`, missing fields, wrong types) and
//! unknown update kinds.
//!
//! What must hold: no panic escapes and no handler fails (every update is recorded `handled`
//! or `unreadable`), every button tap is answered, the simulator refused nothing for length or
//! entities, and afterwards `/help` is answered by all seven bots. The counts are printed
//! (`cargo test --test fuzz -- --nocapture`). `HERALD_FUZZ_UPDATES` changes how many
//! updates are sent (20,000 by default); the seed is fixed, so a run is reproducible.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Deployment;
use herald::identity::IDENTITY_NAMES;
use herald::roster::Role;
use herald_sim::Simulator;
use serde_json::{json, Value};

/// Longest wait for the fleet to drain what was sent.
const DRAIN: Duration = Duration::from_secs(900);
const SEED: u64 = 0x11_5EED_F022;

/// SplitMix64: small, fast and deterministic; no wall-clock seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Pieces hostile texts are made of.
const PIECES: &[&str] = &[
    "<b>",
    "</b>",
    "&",
    "&amp;",
    "&#",
    "<",
    ">",
    "\"",
    "'",
    "<a href=\"javascript:x\">",
    "<br>",
    "👨‍👩‍👧‍👦",
    "🇸🇬",
    "👍🏽",
    "e\u{301}",
    "漢字",
    "\u{200d}",
    "\u{feff}",
    "@",
    "/",
    "\n",
    "  ",
    "x",
    "volts",
    "12",
    "-3",
    "9999999999999999999999",
];

fn hostile(rng: &mut Rng) -> String {
    let mut text = String::new();
    match rng.below(10) {
        // Huge: close to (or past) Telegram's 4096, emoji-heavy.
        0 => {
            let piece = PIECES[rng.below(PIECES.len())];
            let target = 3_000 + rng.below(2_000);
            while text.chars().count() < target {
                text.push_str(piece);
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        _ => {
            for _ in 0..1 + rng.below(12) {
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
    }
    text
}

/// Commands herald knows, with arguments to fill in. `/pause`, `/resume` and `/run` are left
/// out: they stop or start the bots' posting, which is what other tests are about.
const COMMANDS: &[&str] = &[
    "/help",
    "/status",
    "/log",
    "/log 5",
    "/pending",
    "/ambiguous",
    "/failed",
    "/preview team-pulse",
    "/preview {}",
    "/volts @{} 2 {}",
    "/volts 3 {}",
    "/volts @{} 1 {}",
    "/update {}",
    "/update",
    "/{}",
    "/zzz",
    "/HELP@{}",
];

/// A command; `names` are what may follow an `@` (bot usernames and members' handles).
fn command(rng: &mut Rng, names: &[String]) -> String {
    let template = *rng.pick(COMMANDS);
    let mut text = String::new();
    let mut parts = template.split("{}").peekable();
    while let Some(part) = parts.next() {
        text.push_str(part);
        if parts.peek().is_some() {
            if template.contains('@') && text.ends_with('@') && rng.chance(50) {
                text.push_str(rng.pick(names).as_str());
            } else {
                text.push_str(&hostile(rng));
            }
        }
    }
    if rng.chance(10) {
        // Addressed to a bot by suffix.
        if let Some(space) = text.find(' ') {
            text.insert_str(space, &format!("@{}", rng.pick(names)));
        } else {
            text.push_str(&format!("@{}", rng.pick(names)));
        }
    }
    text
}

fn callback_data(rng: &mut Rng) -> Option<String> {
    Some(match rng.below(9) {
        0 => return None,
        1 => String::new(),
        2 => format!("ob:resend:{}", rng.below(50)),
        3 => format!(
            "ob:{}:{}",
            rng.pick(&["sent", "retry", "dismiss", "x"]),
            hostile(rng)
        ),
        4 => format!("ap:a:{}", rng.next()),
        5 => format!("ap:r:{}", hostile(rng)),
        6 => "zzz:unknown".to_owned(),
        7 => "ob:resend:abc".to_owned(),
        _ => hostile(rng),
    })
}

/// A user object, sometimes broken.
fn user(rng: &mut Rng, id: i64) -> Value {
    match rng.below(6) {
        0 => json!({"id": -id, "is_bot": false, "first_name": "Neg"}),
        1 => json!({"id": id.to_string(), "is_bot": false, "first_name": "Str"}),
        2 => json!({"id": id}),
        _ => json!({"id": id, "is_bot": false, "first_name": "Fuzz"}),
    }
}

/// A malformed or unknown update (no `update_id`: the simulator sets it).
fn malformed(rng: &mut Rng, id: i64, chat: i64, counter: usize) -> (Value, Option<String>) {
    let text = if rng.chance(50) {
        json!(hostile(rng))
    } else {
        json!("/help")
    };
    let update = match rng.below(12) {
        0 => {
            json!({"message": {"message_id": 1, "from": user(rng, id), "chat": {"id": "abc", "type": "private"}, "date": 1, "text": text}})
        }
        1 => {
            json!({"message": {"message_id": 1, "from": {"id": -id, "is_bot": false, "first_name": "N"}, "chat": {"id": chat, "type": "supergroup", "title": "T"}, "date": 1, "text": text}})
        }
        2 => {
            json!({"message": {"message_id": 1, "chat": {"id": chat, "type": "private"}, "text": text}})
        }
        3 => json!({"message": "not an object"}),
        4 => {
            json!({"message": {"message_id": 1, "from": user(rng, id), "chat": {"id": id, "type": "private", "first_name": "F"}, "date": 1, "text": 42}})
        }
        5 => {
            json!({"edited_message": {"message_id": -7, "from": user(rng, id), "chat": {"id": chat}, "date": "yesterday", "text": text}})
        }
        6 => json!({"story_reaction": {"id": 1, "chat": {"id": chat}, "user": {"id": id}}}),
        7 => {
            json!({"poll": {"id": "p", "question": hostile(rng), "options": [], "total_voter_count": 0, "is_closed": false, "is_anonymous": true, "type": "regular", "allows_multiple_answers": false}})
        }
        8 => {
            json!({"my_chat_member": {"chat": {"id": chat, "type": "supergroup", "title": "T"}, "from": user(rng, id), "date": 1}})
        }
        9 => json!({}),
        10 => {
            json!({"message": {"message_id": 1, "from": user(rng, id), "chat": {"id": id, "type": "private", "first_name": "F"}, "date": 1, "text": text, "entities": [{"offset": -1, "length": 999, "type": "bot_command"}]}})
        }
        _ => {
            let query_id = format!("fuzz-bad-{counter}");
            let mut query = json!({"id": query_id, "from": user(rng, id), "chat_instance": "1"});
            if let Some(data) = callback_data(rng) {
                query["data"] = json!(data);
            }
            if rng.chance(50) {
                query["message"] = json!({"message_id": "x", "chat": {"id": chat}});
            }
            return (json!({"callback_query": query}), Some(query_id));
        }
    };
    (update, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_random_updates_through_the_real_pollers() {
    let total: usize = std::env::var("HERALD_FUZZ_UPDATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let deployment = Deployment::example();
    // Commands are counted per member and minute; the fuzz wants them handled, not refused.
    deployment.edit(
        "herald.toml",
        "commands_per_minute = 10",
        "commands_per_minute = 1000000",
    );
    let sim: Simulator = deployment.simulator().await;
    let mut options = deployment.run_options(&sim);
    // The fuzz is about handling, not about the disk: where a RAM-backed folder exists the
    // database lives there, so 20,000 updates are not 50,000 fsyncs.
    let ram = std::path::Path::new("/dev/shm");
    let _ram_dir = ram
        .is_dir()
        .then(|| tempfile::tempdir_in(ram).expect("tempdir in /dev/shm"));
    if let Some(dir) = &_ram_dir {
        options.db_url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
    }
    options.sender.limits.chat_gap = Duration::ZERO;
    options.sender.limits.group_max = 1_000_000;
    options.sender.limits.bot_max = 1_000_000;
    let fleet = herald::fleet::start(&options).await.expect("fleet starts");
    let config = deployment.config();
    let pool = fleet.store().reader().clone();
    let usernames: Vec<String> = IDENTITY_NAMES
        .iter()
        .map(|b| config.bots[*b].username.clone())
        .collect();
    let members: Vec<i64> = config
        .roster
        .members()
        .iter()
        .map(|m| m.telegram_id)
        .collect();
    let names: Vec<String> = usernames
        .iter()
        .cloned()
        .chain(
            config
                .roster
                .members()
                .iter()
                .filter_map(|m| m.handle.clone()),
        )
        .collect();
    let operator = config
        .roster
        .members_with_role(Role::Operator)
        .next()
        .expect("an operator")
        .telegram_id;
    let stranger = 4_400_000_001_i64;
    let chat = config.roster.chat_id();
    let threads: Vec<Option<i32>> = config
        .roster
        .threads()
        .iter()
        .map(|t| t.message_thread_id)
        .collect();

    let mut rng = Rng(SEED);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut taps: Vec<String> = Vec::new();
    let mut group_messages: Vec<(i64, i64)> = Vec::new();
    for n in 0..total {
        let bot = rng.pick(&usernames).clone();
        let who = if rng.chance(10) {
            stranger
        } else if rng.chance(30) {
            operator
        } else {
            *rng.pick(&members)
        };
        let kind = match rng.below(100) {
            0..=29 => "command",
            30..=44 => "hostile text",
            45..=54 => "edit",
            55..=74 => "tap",
            75..=94 => "malformed",
            _ => "unknown kind",
        };
        match kind {
            "command" | "hostile text" => {
                let text = if kind == "command" {
                    command(&mut rng, &names)
                } else {
                    hostile(&mut rng)
                };
                if rng.chance(50) || who == stranger {
                    sim.user_dms(who, &bot, &text);
                } else {
                    let thread = *rng.pick(&threads);
                    let id = sim.user_says_in_topic(who, thread, &text);
                    group_messages.push((who, id));
                }
            }
            "edit" if !group_messages.is_empty() => {
                let (who, id) = *rng.pick(&group_messages);
                let text = if rng.chance(30) {
                    command(&mut rng, &names)
                } else {
                    hostile(&mut rng)
                };
                sim.user_edits(who, id, &text);
            }
            "edit" => {
                counts.insert(
                    "edit (none yet)",
                    counts.get("edit (none yet)").unwrap_or(&0) + 1,
                );
                continue;
            }
            "tap" => {
                let data = callback_data(&mut rng);
                // Drawn first, so the sequence does not depend on what was sent by now.
                let on_real_message = rng.chance(50);
                let on = sim
                    .sent_by(&bot)
                    .into_iter()
                    .rev()
                    .find(|r| r.method == "sendMessage");
                match (on, data) {
                    (Some(message), Some(data)) if on_real_message => {
                        taps.push(sim.user_taps(
                            who,
                            &bot,
                            message.chat_id,
                            message.message_id,
                            &data,
                        ));
                    }
                    (_, data) => {
                        let query_id = format!("fuzz-{n}");
                        let mut query = json!({
                            "id": query_id,
                            "from": {"id": who, "is_bot": false, "first_name": "Fuzz"},
                            "chat_instance": "-42",
                        });
                        if let Some(data) = data {
                            query["data"] = json!(data);
                        }
                        sim.push_raw_update(&bot, json!({"callback_query": query}));
                        taps.push(query_id);
                    }
                }
            }
            "malformed" => {
                let (update, query) = malformed(&mut rng, who, chat, n);
                sim.push_raw_update(&bot, update);
                taps.extend(query);
            }
            _ => {
                let name = format!("fuzz_kind_{}", rng.below(5));
                sim.push_raw_update(&bot, json!({ name: {"id": n, "from": {"id": who}} }));
            }
        }
        *counts.entry(kind).or_default() += 1;
        // Let the pollers keep up with the producer now and then, as a real chat would.
        if n % 500 == 499 {
            tokio::task::yield_now().await;
        }
    }

    // Drained: every update confirmed (so handled and committed) and every outbox row settled.
    let waiting = || async {
        let pending: usize = usernames.iter().map(|b| sim.pending_updates(b)).sum();
        let unsent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")
                .fetch_one(&pool)
                .await
                .expect("outbox");
        (pending, unsent)
    };
    let drained = common::try_wait_until(DRAIN, || async { waiting().await == (0, 0) }).await;
    let (pending, unsent) = waiting().await;
    assert!(
        drained,
        "not drained: {pending} updates and {unsent} rows waiting"
    );

    let outcomes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT outcome, count(*) FROM processed_updates GROUP BY outcome ORDER BY outcome",
    )
    .fetch_all(&pool)
    .await
    .expect("outcomes");
    let decisions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT decision, count(*) AS n FROM audit WHERE kind = 'inbound' GROUP BY decision ORDER BY n DESC",
    )
    .fetch_all(&pool)
    .await
    .expect("decisions");
    let failures: Vec<(Option<String>, String, Option<String>)> = sqlx::query_as(
        "SELECT bot, decision, detail FROM audit WHERE kind = 'inbound' AND decision LIKE 'failed%' LIMIT 20",
    )
    .fetch_all(&pool)
    .await
    .expect("failures");
    let answered: std::collections::HashSet<String> = sim
        .callback_answers()
        .into_iter()
        .map(|a| a.callback_query_id)
        .collect();
    let unanswered: Vec<&String> = taps.iter().filter(|t| !answered.contains(*t)).collect();
    let rejections = sim.rejections();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rejections {
        *refused
            .entry(format!("{} {}", r.method, r.description))
            .or_default() += 1;
    }
    println!("fuzz: {total} updates sent (seed {SEED:#x}) and drained");
    println!("fuzz: sent by kind: {counts:?}");
    println!("fuzz: outcomes: {outcomes:?}");
    println!("fuzz: inbound decisions: {decisions:#?}");
    println!(
        "fuzz: {} taps, {} answered; {} messages sent by the bots; refusals: {refused:#?}",
        taps.len(),
        taps.len() - unanswered.len(),
        sim.sent().len()
    );

    assert!(
        failures.is_empty(),
        "handlers failed or panicked: {failures:#?}"
    );
    assert!(unanswered.is_empty(), "taps never answered: {unanswered:?}");
    let bad: Vec<_> = rejections
        .iter()
        .filter(|r| {
            let d = r.description.to_ascii_lowercase();
            d.contains("too long") || d.contains("entities") || d.contains("entity")
        })
        .collect();
    assert!(bad.is_empty(), "refused for length or entities: {bad:#?}");

    // Every bot still serves.
    let member = deployment.member();
    let before = sim.sent().len();
    for bot in &usernames {
        sim.user_dms(member, bot, "/help");
    }
    sim.wait_for(
        |sent| {
            usernames.iter().all(|bot| {
                sent[before..]
                    .iter()
                    .any(|r| r.bot.eq_ignore_ascii_case(bot) && r.chat_id == member)
            })
        },
        Duration::from_secs(60),
    )
    .await
    .expect("/help is answered by every bot afterwards");
    fleet.stop().await.expect("clean stop");
}
