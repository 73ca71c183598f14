//! Integration tests of the Telegram simulator (crate `herald-sim`) over real HTTP.
//!
//! They exist because every other integration test, the benchmarks and `herald sandbox` trust
//! the simulator to behave like the Bot API: same envelopes and wordings as the fixtures in
//! `tests/fixtures/telegram`, same forum-topic shapes (checked by deserializing with teloxide), same
//! privacy-mode visibility, limits and failure modes.

mod common;

use std::time::{Duration, Instant};

use herald_sim::{Fault, SimBot, SimConfig, SimGroup, SimTopic, SimUser, Simulator};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};

const CLAUDIA: &str = "7001:claudia-secret-token";
const CLAWRENCE: &str = "7002:clawrence-secret-token";
const LAWRENCE: &str = "7003:lawrence-secret-token";
const GROUP: i64 = -1_002_233_445_566;
const APPROVALS: i32 = 27;
const TEAM: i32 = 31;
const RAVI: i64 = 987_654_321;
const WEI_LING: i64 = 123_456_789;
const STRANGER: i64 = 555_000_111;

fn bot(token: &str, user_id: i64, username: &str, reads_all: bool) -> SimBot {
    SimBot {
        token: token.into(),
        user_id,
        username: username.into(),
        first_name: username.trim_end_matches("_bot").into(),
        can_read_all_group_messages: reads_all,
    }
}

fn config() -> SimConfig {
    SimConfig {
        bots: vec![
            bot(CLAUDIA, 7001, "claudia_bot", false),
            bot(CLAWRENCE, 7002, "clawrence_bot", false),
            bot(LAWRENCE, 7003, "lawrence_bot", true),
        ],
        group: SimGroup {
            chat_id: GROUP,
            title: "Acme Ops".into(),
            topics: vec![
                SimTopic {
                    thread_id: APPROVALS,
                    name: "Invoice approvals".into(),
                },
                SimTopic {
                    thread_id: TEAM,
                    name: "Team".into(),
                },
            ],
        },
        users: vec![
            SimUser {
                user_id: RAVI,
                first_name: "Ravi".into(),
                last_name: Some("Kumar".into()),
                username: Some("ravik".into()),
            },
            SimUser {
                user_id: WEI_LING,
                first_name: "Wei Ling".into(),
                last_name: Some("Tan".into()),
                username: Some("weiling_tan".into()),
            },
        ],
        rate_limits: false,
        clock: None,
    }
}

fn fixture(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/telegram/");
    let text = std::fs::read_to_string(format!("{path}{name}"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn fixture_raw(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/telegram/");
    std::fs::read_to_string(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The structure of a JSON value: keys and value kinds, not values. Arrays by first element.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
    }
}

/// Keys of a JSON object in wire order.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct ResultKeys {
    result: Keys,
}

#[derive(Deserialize)]
struct MessageKeys {
    message: Keys,
}

#[derive(Clone)]
struct Tg {
    http: reqwest::Client,
    base: String,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    raw: String,
    body: Value,
}

impl Tg {
    fn new(sim: &Simulator) -> Tg {
        Tg::with_timeout(sim, Duration::from_secs(15))
    }

    fn with_timeout(sim: &Simulator, timeout: Duration) -> Tg {
        Tg {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("client"),
            base: sim.base_url(),
        }
    }

    async fn try_post(&self, token: &str, method: &str, body: Value) -> reqwest::Result<Resp> {
        let url = format!("{}/bot{token}/{method}", self.base);
        Self::read(self.http.post(url).json(&body).send().await?).await
    }

    async fn post(&self, token: &str, method: &str, body: Value) -> Resp {
        self.try_post(token, method, body)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    async fn get(&self, token: &str, method_and_query: &str) -> Resp {
        let url = format!("{}/bot{token}/{method_and_query}", self.base);
        let resp = self.http.get(url).send().await.expect("get");
        Self::read(resp).await.expect("read")
    }

    async fn read(resp: reqwest::Response) -> reqwest::Result<Resp> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.text().await?;
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            raw,
            body,
        })
    }

    async fn send(&self, token: &str, body: Value) -> Resp {
        self.post(token, "sendMessage", body).await
    }

    /// Drains a bot's queue: all pending updates, confirmed.
    async fn updates(&self, token: &str) -> Vec<Value> {
        let r = self.post(token, "getUpdates", json!({"timeout": 0})).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        let list = r.body["result"].as_array().cloned().unwrap_or_default();
        if let Some(last) = list.last() {
            let next = last["update_id"].as_i64().expect("update_id") + 1;
            self.post(token, "getUpdates", json!({"offset": next, "timeout": 0}))
                .await;
        }
        list
    }

    /// Texts of a bot's pending updates (messages, edits and callback data), confirmed.
    async fn texts(&self, token: &str) -> Vec<String> {
        self.updates(token)
            .await
            .iter()
            .map(|u| {
                let m = if u["message"].is_object() {
                    &u["message"]["text"]
                } else if u["edited_message"].is_object() {
                    &u["edited_message"]["text"]
                } else {
                    &u["callback_query"]["data"]
                };
                m.as_str().unwrap_or("?").to_owned()
            })
            .collect()
    }
}

async fn start() -> (Simulator, Tg) {
    let sim = Simulator::start(config()).await.expect("simulator starts");
    let tg = Tg::new(&sim);
    (sim, tg)
}

/// Reads an update as teloxide does: from JSON text. (teloxide 0.17's `Update` cannot be read
/// with `serde_json::from_value`: every kind silently becomes `UpdateKind::Error`, even for the
/// fixtures; see `teloxide_update_needs_json_text`.)
fn teloxide_update(v: &Value) -> teloxide::types::Update {
    let u: teloxide::types::Update = serde_json::from_str(&v.to_string())
        .unwrap_or_else(|e| panic!("teloxide rejects {v}: {e}"));
    assert!(
        !matches!(u.kind, teloxide::types::UpdateKind::Error(_)),
        "teloxide could not read {v}"
    );
    u
}

fn card_markup() -> Value {
    json!({"inline_keyboard": [[
        {"text": "✅ Approve", "callback_data": "inv:approve:5f1c2b9e"},
        {"text": "❌ Reject", "callback_data": "inv:reject:5f1c2b9e"}
    ]]})
}

// ----- getMe, auth, routing ------------------------------------------------------------------

#[tokio::test]
async fn get_me_ok_any_case_and_401_for_unknown_tokens() {
    let (sim, tg) = start().await;
    let r = tg.get(CLAUDIA, "getMe").await;
    assert_eq!(r.status, 200);
    let want = fixture("telegram_getMe_ok.json");
    assert_eq!(shape(&r.body), shape(&want));
    let keys: ResultKeys = serde_json::from_str(&r.raw).unwrap();
    let want_keys: ResultKeys =
        serde_json::from_str(&fixture_raw("telegram_getMe_ok.json")).unwrap();
    assert_eq!(keys.result.0, want_keys.result.0);
    assert_eq!(r.body["result"]["username"], "claudia_bot");
    assert_eq!(r.body["result"]["can_read_all_group_messages"], false);
    let me: teloxide::types::Me = serde_json::from_value(r.body["result"].clone()).unwrap();
    assert_eq!(me.username(), "claudia_bot");

    let r = tg.post(LAWRENCE, "GetMe", json!({})).await;
    assert_eq!(r.body["result"]["can_read_all_group_messages"], true);

    assert_eq!(sim.calls("getme"), 2);
    // Every request counts, rejected ones included.
    for method in ["getMe", "sendMessage", "getUpdates", "noSuchMethod"] {
        let r = tg.post("7001:wrong", method, json!({})).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.body, fixture("telegram_error_401_unauthorized.json"));
    }
    assert_eq!(sim.calls("GETME"), 3);
    let r = tg.post(CLAUDIA, "noSuchMethod", json!({})).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );
    let r = tg.post(CLAUDIA, "deleteWebhook", json!({})).await;
    assert_eq!(r.body, json!({"ok": true, "result": true}));
    let r = tg.post(CLAUDIA, "getWebhookInfo", json!({})).await;
    let info: teloxide::types::WebhookInfo =
        serde_json::from_value(r.body["result"].clone()).unwrap();
    assert!(info.url.is_none());
    sim.shutdown();
}

#[test]
fn teloxide_update_needs_json_text() {
    // Documents the teloxide 0.17 quirk `teloxide_update` works around.
    let text = fixture_raw("telegram_update_message_in_topic.json");
    let from_text: teloxide::types::Update = serde_json::from_str(&text).unwrap();
    assert!(matches!(
        from_text.kind,
        teloxide::types::UpdateKind::Message(_)
    ));
    let from_value: teloxide::types::Update =
        serde_json::from_value(fixture("telegram_update_message_in_topic.json")).unwrap();
    assert!(matches!(
        from_value.kind,
        teloxide::types::UpdateKind::Error(_)
    ));
}

// ----- getUpdates ----------------------------------------------------------------------------

#[tokio::test]
async fn get_updates_offset_confirms_and_get_with_query_works() {
    let (sim, tg) = start().await;
    let r = tg.get(LAWRENCE, "getUpdates?timeout=0").await;
    assert_eq!(r.body, fixture("telegram_getUpdates_empty.json"));

    sim.user_says_in_topic(RAVI, None, "one");
    sim.user_says_in_topic(RAVI, Some(TEAM), "two");
    sim.user_says_in_topic(RAVI, Some(TEAM), "three");
    let r = tg.get(LAWRENCE, "getUpdates?timeout=0").await;
    let first = r.body["result"].as_array().unwrap().clone();
    assert_eq!(first.len(), 3);
    let ids: Vec<i64> = first
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");

    // Not confirmed yet: the same batch again; `limit` caps it.
    let r = tg.get(LAWRENCE, "getUpdates?timeout=0&limit=2").await;
    assert_eq!(r.body["result"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["result"][0]["update_id"], json!(ids[0]));

    // An offset confirms everything below it.
    let r = tg
        .get(LAWRENCE, &format!("getUpdates?offset={}&timeout=0", ids[1]))
        .await;
    assert_eq!(r.body["result"].as_array().unwrap().len(), 2);
    assert_eq!(sim.pending_updates("lawrence_bot"), 2);
    let r = tg
        .post(
            LAWRENCE,
            "getUpdates",
            json!({"offset": ids[2] + 1, "timeout": 0}),
        )
        .await;
    assert_eq!(r.body["result"], json!([]));
    assert_eq!(sim.pending_updates("@Lawrence_Bot"), 0);
    sim.shutdown();
}

#[tokio::test]
async fn long_poll_wakes_on_injection_and_times_out_empty() {
    let (sim, tg) = start().await;
    let t0 = Instant::now();
    let r = tg.post(LAWRENCE, "getUpdates", json!({"timeout": 1})).await;
    assert_eq!(r.body["result"], json!([]));
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );

    // A poll that would wait an hour ends when an update arrives.
    let polls = sim.polls("lawrence_bot");
    let poller = tg.clone();
    let pending = tokio::spawn(async move {
        poller
            .post(LAWRENCE, "getUpdates", json!({"timeout": 3600}))
            .await
    });
    common::wait_until("the long poll to begin", || {
        std::future::ready(sim.polls("lawrence_bot") > polls)
    })
    .await;
    sim.user_says_in_topic(WEI_LING, Some(APPROVALS), "wake up");
    let r = tokio::time::timeout(common::PATIENCE, pending)
        .await
        .expect("the long poll woke")
        .unwrap();
    assert_eq!(r.body["result"][0]["message"]["text"], "wake up");
    sim.shutdown();
}

#[tokio::test]
async fn concurrent_get_updates_terminate_the_older_with_409() {
    let (sim, tg) = start().await;
    let poller = tg.clone();
    let older = tokio::spawn(async move {
        poller
            .post(CLAUDIA, "getUpdates", json!({"timeout": 3600}))
            .await
    });
    common::wait_until("the older poll to begin", || {
        std::future::ready(sim.polls("claudia_bot") == 1)
    })
    .await;
    let newer = tg.post(CLAUDIA, "getUpdates", json!({"timeout": 1})).await;
    let older = older.await.unwrap();
    assert_eq!(older.status, 409);
    assert_eq!(older.body, fixture("telegram_error_409_conflict.json"));
    assert_eq!(newer.status, 200);
    assert_eq!(newer.body["result"], json!([]));
    sim.shutdown();
}

#[tokio::test]
async fn shutdown_ends_long_polls_and_stops_serving() {
    let (sim, tg) = start().await;
    let poller = tg.clone();
    let pending = tokio::spawn(async move {
        poller
            .post(CLAUDIA, "getUpdates", json!({"timeout": 3600}))
            .await
    });
    common::wait_until("the long poll to begin", || {
        std::future::ready(sim.polls("claudia_bot") == 1)
    })
    .await;
    sim.shutdown();
    let r = tokio::time::timeout(common::PATIENCE, pending)
        .await
        .expect("the long poll ended at the shutdown")
        .unwrap();
    assert_eq!(r.body["result"], json!([]));
    // The listener closes once the shutdown has been seen: from then on nobody listens.
    let fresh = Tg::new(&sim);
    common::wait_until("the simulator to stop listening", || async {
        fresh
            .try_post(CLAUDIA, "getMe", json!({}))
            .await
            .is_err_and(|e| e.is_connect())
    })
    .await;
}

// ----- who sees what -------------------------------------------------------------------------

#[tokio::test]
async fn privacy_mode_visibility() {
    let (sim, tg) = start().await;
    sim.user_says_in_topic(RAVI, None, "hello everyone");
    sim.user_says_in_topic(RAVI, Some(TEAM), "/help");
    sim.user_says_in_topic(RAVI, Some(APPROVALS), "/ar_brief@claudia_bot");
    sim.user_says_in_topic(RAVI, Some(TEAM), "/volts@CLAWRENCE_BOT please");
    sim.user_says_in_topic(RAVI, Some(TEAM), "hey @clawrence_bot, cake?");
    sim.user_says_in_topic(RAVI, Some(TEAM), "mail me at x@claudia_bot.com");

    let card = tg
        .send(
            CLAUDIA,
            json!({"chat_id": GROUP, "message_thread_id": APPROVALS, "text": "card"}),
        )
        .await;
    let card_id = card.body["result"]["message_id"].as_i64().unwrap();
    sim.user_replies(WEI_LING, Some(APPROVALS), card_id, "approve");
    sim.user_dms(RAVI, "clawrence_bot", "dm for clawrence");

    assert_eq!(
        tg.texts(CLAUDIA).await,
        vec!["/help", "/ar_brief@claudia_bot", "approve"]
    );
    assert_eq!(
        tg.texts(CLAWRENCE).await,
        vec![
            "/help",
            "/volts@CLAWRENCE_BOT please",
            "hey @clawrence_bot, cake?",
            "dm for clawrence"
        ]
    );
    assert_eq!(
        tg.texts(LAWRENCE).await,
        vec![
            "hello everyone",
            "/help",
            "/ar_brief@claudia_bot",
            "/volts@CLAWRENCE_BOT please",
            "hey @clawrence_bot, cake?",
            "mail me at x@claudia_bot.com",
            "approve"
        ]
    );

    // Edits follow the same rules, on the new text; a tap goes to the sender only.
    let plain = sim.user_says_in_topic(RAVI, Some(TEAM), "typo");
    sim.user_edits(RAVI, plain, "fixed, cc @claudia_bot");
    sim.user_taps(WEI_LING, "claudia_bot", GROUP, card_id, "inv:approve:1");
    assert_eq!(
        tg.texts(CLAUDIA).await,
        vec!["fixed, cc @claudia_bot", "inv:approve:1"]
    );
    assert_eq!(tg.texts(CLAWRENCE).await, Vec::<String>::new());
    assert_eq!(
        tg.texts(LAWRENCE).await,
        vec!["typo", "fixed, cc @claudia_bot"]
    );
    sim.shutdown();
}

// ----- shapes --------------------------------------------------------------------------------

#[tokio::test]
async fn topic_reply_general_callback_and_dm_shapes_match_fixtures_and_teloxide() {
    let (sim, tg) = start().await;
    let cmd = sim.user_says_in_topic(RAVI, Some(APPROVALS), "/ar_brief@claudia_bot");
    let request = fixture("telegram_sendMessage_request.json");
    let card = tg.send(CLAUDIA, request).await;
    assert_eq!(card.status, 200, "{}", card.raw);
    let card_id = card.body["result"]["message_id"].as_i64().unwrap();
    let reply = sim.user_replies(WEI_LING, Some(APPROVALS), card_id, "approve @claudia_bot");
    let query_id = sim.user_taps(
        WEI_LING,
        "claudia_bot",
        GROUP,
        card_id,
        "inv:approve:5f1c2b9e",
    );
    let general = sim.user_says_in_topic(RAVI, None, "hello from General @claudia_bot");
    sim.user_edits(RAVI, general, "hello again from General @claudia_bot");
    let dm = sim.user_dms(RAVI, "claudia_bot", "/status");
    assert!(cmd < card_id && card_id < reply && reply < general);

    let r = tg.post(CLAUDIA, "getUpdates", json!({"timeout": 0})).await;
    let raw_updates: Value = serde_json::from_str(&r.raw).unwrap();
    let ups = raw_updates["result"].as_array().unwrap();
    assert_eq!(ups.len(), 6);

    // A message in a topic: thread id, is_topic_message, reply_to_message = creation message.
    let topic = &ups[0];
    assert_eq!(
        shape(topic),
        shape(&fixture("telegram_update_message_in_topic.json"))
    );
    let m = &topic["message"];
    assert_eq!(m["message_thread_id"], APPROVALS);
    assert_eq!(m["is_topic_message"], true);
    assert_eq!(m["reply_to_message"]["message_id"], APPROVALS);
    assert_eq!(
        m["reply_to_message"]["forum_topic_created"]["name"],
        "Invoice approvals"
    );
    assert_eq!(
        m["entities"],
        json!([{"offset": 0, "length": 21, "type": "bot_command"}])
    );
    // Field order as on the wire.
    let ours: Vec<String> = {
        let first = &r.raw[r.raw.find("\"message\":").unwrap() + 10..];
        let keys: Keys = serde_json::Deserializer::from_str(first)
            .into_iter::<Keys>()
            .next()
            .unwrap()
            .unwrap();
        keys.0
    };
    let want: MessageKeys =
        serde_json::from_str(&fixture_raw("telegram_update_message_in_topic.json")).unwrap();
    assert_eq!(ours, want.message.0);

    // A real reply: reply_to_message is the bot's card, not the creation message.
    let rep = &ups[1]["message"];
    assert_eq!(rep["message_thread_id"], APPROVALS);
    assert_eq!(rep["reply_to_message"]["message_id"], card_id);
    assert_ne!(
        rep["reply_to_message"]["message_id"],
        rep["message_thread_id"]
    );
    assert!(rep["reply_to_message"].get("reply_to_message").is_none());
    let mut want = fixture("telegram_update_reply.json");
    want["message"]["entities"] = json!([{"offset": 8, "length": 12, "type": "mention"}]);
    assert_eq!(shape(&ups[1]), shape(&want));

    // The callback carries the card (with its own reply_to_message) and the data.
    assert_eq!(ups[2]["callback_query"]["id"], query_id.as_str());
    assert_eq!(
        shape(&ups[2]),
        shape(&fixture("telegram_update_callback_query.json"))
    );

    // General: no thread id, no reply_to_message.
    let gen = &ups[3]["message"];
    assert!(gen.get("message_thread_id").is_none());
    assert!(gen.get("reply_to_message").is_none());
    assert!(gen.get("is_topic_message").is_none());
    let mut want = fixture("telegram_update_message_in_general.json");
    want["message"]["entities"] = json!([{"offset": 0, "length": 1, "type": "mention"}]);
    assert_eq!(shape(&ups[3]), shape(&want));

    // The edit, and the DM in a private chat whose id is the user's.
    assert_eq!(ups[4]["edited_message"]["message_id"], general);
    assert!(ups[4]["edited_message"]["edit_date"].is_number());
    let d = &ups[5]["message"];
    assert_eq!(d["message_id"], dm);
    assert_eq!(d["chat"]["id"], RAVI);
    assert_eq!(d["chat"]["type"], "private");

    // teloxide reads every one of them.
    use teloxide::types::UpdateKind;
    let parsed: Vec<teloxide::types::Update> = ups.iter().map(teloxide_update).collect();
    match &parsed[0].kind {
        UpdateKind::Message(m) => {
            assert_eq!(m.thread_id.map(|t| t.0 .0), Some(APPROVALS));
            assert!(m.is_topic_message);
            let creation = m.reply_to_message().expect("creation message");
            assert_eq!(creation.id.0, APPROVALS);
            assert!(creation.forum_topic_created().is_some());
        }
        other => panic!("{other:?}"),
    }
    match &parsed[1].kind {
        UpdateKind::Message(m) => {
            assert_eq!(
                m.reply_to_message().map(|r| i64::from(r.id.0)),
                Some(card_id)
            );
            assert_eq!(m.text(), Some("approve @claudia_bot"));
        }
        other => panic!("{other:?}"),
    }
    match &parsed[2].kind {
        UpdateKind::CallbackQuery(q) => {
            assert_eq!(q.data.as_deref(), Some("inv:approve:5f1c2b9e"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parsed[3].kind, UpdateKind::Message(ref m) if m.thread_id.is_none()));
    assert!(matches!(parsed[4].kind, UpdateKind::EditedMessage(_)));
    assert!(matches!(parsed[5].kind, UpdateKind::Message(ref m) if m.chat.is_private()));
    sim.shutdown();
}

#[tokio::test]
async fn send_message_matches_the_fixture_and_is_recorded() {
    let (sim, tg) = start().await;
    let request = fixture("telegram_sendMessage_request.json");
    let r = tg.send(CLAUDIA, request.clone()).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let want = fixture("telegram_sendMessage_ok.json");
    assert_eq!(shape(&r.body), shape(&want));
    let keys: ResultKeys = serde_json::from_str(&r.raw).unwrap();
    let want_keys: ResultKeys =
        serde_json::from_str(&fixture_raw("telegram_sendMessage_ok.json")).unwrap();
    assert_eq!(keys.result.0, want_keys.result.0);
    // Visible text, formatting entities and keyboard exactly as Telegram answers them.
    for field in [
        "text",
        "entities",
        "reply_markup",
        "message_thread_id",
        "is_topic_message",
    ] {
        assert_eq!(r.body["result"][field], want["result"][field], "{field}");
    }
    assert_eq!(
        r.body["result"]["reply_to_message"]["message_id"],
        APPROVALS
    );
    let msg: teloxide::types::Message = serde_json::from_value(r.body["result"].clone()).unwrap();
    assert_eq!(msg.text(), want["result"]["text"].as_str());

    let sent = sim.sent();
    assert_eq!(sent.len(), 1);
    let rec = &sent[0];
    assert_eq!(rec.bot, "claudia_bot");
    assert_eq!(rec.method, "sendMessage");
    assert_eq!(rec.chat_id, GROUP);
    assert_eq!(rec.thread_id, Some(APPROVALS));
    assert_eq!(rec.text, request["text"].as_str().unwrap());
    assert_eq!(rec.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(rec.reply_markup, Some(request["reply_markup"].clone()));
    assert_eq!(
        rec.message_id,
        r.body["result"]["message_id"].as_i64().unwrap()
    );
    assert_eq!(sim.sent_by("@CLAUDIA_bot").len(), 1);
    assert!(sim.sent_by("clawrence_bot").is_empty());

    // Message ids increase per chat; a reply by `reply_parameters` or the legacy field.
    let a = tg
        .send(CLAUDIA, json!({"chat_id": GROUP, "text": "a", "reply_parameters": {"message_id": rec.message_id}}))
        .await;
    assert_eq!(a.body["result"]["message_id"], json!(rec.message_id + 1));
    assert_eq!(
        a.body["result"]["reply_to_message"]["message_id"],
        json!(rec.message_id)
    );
    // Replying to a topic message lands in the topic.
    assert_eq!(a.body["result"]["message_thread_id"], APPROVALS);
    let b = tg
        .send(
            CLAUDIA,
            json!({"chat_id": GROUP, "text": "b", "reply_to_message_id": 99_999}),
        )
        .await;
    assert_eq!(
        b.body["description"],
        "Bad Request: message to be replied not found"
    );
    assert_eq!(sim.sent()[1].reply_to_message_id, Some(rec.message_id));

    // Form bodies work too (JSON objects as strings).
    let form = tg
        .http
        .post(format!("{}/bot{CLAUDIA}/SendMessage", tg.base))
        .form(&[
            ("chat_id", GROUP.to_string()),
            ("message_thread_id", TEAM.to_string()),
            ("text", "<i>form</i>".into()),
            ("parse_mode", "HTML".into()),
            ("reply_markup", card_markup().to_string()),
        ])
        .send()
        .await
        .unwrap();
    let form = Tg::read(form).await.unwrap();
    assert_eq!(form.status, 200, "{}", form.raw);
    assert_eq!(form.body["result"]["text"], "form");
    assert_eq!(form.body["result"]["message_thread_id"], TEAM);
    sim.shutdown();
}

#[tokio::test]
async fn chat_and_thread_errors() {
    let (sim, tg) = start().await;
    let r = tg
        .send(
            CLAUDIA,
            json!({"chat_id": GROUP, "message_thread_id": 4242, "text": "x"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, fixture("telegram_error_400_thread_not_found.json"));
    let r = tg
        .send(CLAUDIA, json!({"chat_id": -100_999, "text": "x"}))
        .await;
    assert_eq!(r.body["description"], "Bad Request: chat not found");
    let r = tg
        .send(CLAUDIA, json!({"chat_id": STRANGER, "text": "x"}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body["description"],
        "Forbidden: bot can't initiate conversation with a user"
    );
    // Listed users are reachable; a stranger after writing to the bot (to that bot only).
    let r = tg
        .send(CLAUDIA, json!({"chat_id": RAVI, "text": "hi Ravi"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["result"]["chat"]["type"], "private");
    sim.user_dms(STRANGER, "claudia_bot", "hello?");
    let r = tg
        .send(CLAUDIA, json!({"chat_id": STRANGER, "text": "x"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = tg
        .send(CLAWRENCE, json!({"chat_id": STRANGER, "text": "x"}))
        .await;
    assert_eq!(r.status, 403);
    let r = tg
        .send(CLAUDIA, json!({"chat_id": GROUP, "text": "   "}))
        .await;
    assert_eq!(r.body["description"], "Bad Request: message text is empty");
    let r = tg.send(CLAUDIA, json!({"chat_id": GROUP})).await;
    assert_eq!(r.body["description"], "Bad Request: message text is empty");
    assert!(sim.sent().len() == 2);
    sim.shutdown();
}

// ----- HTML and limits -----------------------------------------------------------------------

#[tokio::test]
async fn html_errors_and_a_valid_complex_message() {
    let (sim, tg) = start().await;
    let html = |text: &str| json!({"chat_id": GROUP, "text": text, "parse_mode": "HTML"});
    let prefix = "Bad Request: can't parse entities: ";

    let r = tg
        .send(
            CLAUDIA,
            html("🧾 <b>Invoice approval needed</b><br>next line"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        fixture("telegram_error_400_cant_parse_entities.json")
    );

    let r = tg.send(CLAUDIA, html("<b>unclosed")).await;
    assert_eq!(
        r.body["description"],
        format!("{prefix}Can't find end tag corresponding to start tag \"b\"")
    );
    // As on Telegram, an `&` that starts no entity is kept as it is (herald escapes anyway).
    let r = tg.send(CLAUDIA, html("Tan & Sons &nbsp;&amp")).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["result"]["text"], "Tan & Sons &nbsp;&");
    let r = tg.send(CLAUDIA, html("1 < 2")).await;
    assert!(r.body["description"].as_str().unwrap().starts_with(prefix));
    // Without parse_mode the same text is plain and fine.
    let r = tg
        .send(
            CLAUDIA,
            json!({"chat_id": GROUP, "text": "Tan & Sons <br>"}),
        )
        .await;
    assert_eq!(r.body["result"]["text"], "Tan & Sons <br>");

    let complex = concat!(
        "<b>AR brief</b> · <i>week 32</i>\n",
        "<blockquote expandable><u>Overdue</u>: <code>INV-0060</code> Tan &amp; Sons &lt;SG&gt;</blockquote>\n",
        "<pre><code class=\"language-text\">total  4,360.00</code></pre>",
        "<a href=\"https://go.xero.com/x?a=1&amp;b=2\">open</a> <tg-spoiler>psst</tg-spoiler> ",
        "<s>old</s> <span class=\"tg-spoiler\">s</span> &#128512; &#x1F600;"
    );
    let r = tg.send(CLAUDIA, html(complex)).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let text = r.body["result"]["text"].as_str().unwrap();
    assert!(text.starts_with("AR brief · week 32\nOverdue: INV-0060 Tan & Sons <SG>\ntotal"));
    assert!(text.ends_with("😀 😀"));
    assert_eq!(
        r.body["result"]["entities"][0],
        json!({"offset": 0, "length": 8, "type": "bold"})
    );
    let msg: teloxide::types::Message = serde_json::from_value(r.body["result"].clone()).unwrap();
    assert!(msg.entities().is_some_and(|e| e.len() >= 9));
    assert_eq!(sim.sent().len(), 3);
    sim.shutdown();
}

#[tokio::test]
async fn length_limit_counts_visible_utf16_text() {
    let (sim, tg) = start().await;
    let send = |text: String, html: bool| {
        let mut body = json!({"chat_id": RAVI, "text": text});
        if html {
            body["parse_mode"] = json!("HTML");
        }
        body
    };
    let r = tg.send(CLAUDIA, send("a".repeat(4096), false)).await;
    assert_eq!(r.status, 200);
    let r = tg.send(CLAUDIA, send("a".repeat(4097), false)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["description"], "Bad Request: message is too long");
    // Tags and entities are not counted; the visible text is.
    let r = tg
        .send(CLAUDIA, send(format!("<b>{}</b>", "a".repeat(4096)), true))
        .await;
    assert_eq!(r.status, 200, "{}", r.body["description"]);
    let r = tg.send(CLAUDIA, send("&amp;".repeat(4096), true)).await;
    assert_eq!(r.status, 200);
    let r = tg.send(CLAUDIA, send("&amp;".repeat(4097), true)).await;
    assert_eq!(r.body["description"], "Bad Request: message is too long");
    // UTF-16 units: an emoji outside the BMP counts twice.
    let r = tg.send(CLAUDIA, send("😀".repeat(2048), false)).await;
    assert_eq!(r.status, 200);
    let r = tg
        .send(CLAUDIA, send(format!("{}a", "😀".repeat(2048)), false))
        .await;
    assert_eq!(r.status, 400);
    sim.shutdown();
}

#[tokio::test]
async fn callback_data_over_64_bytes_is_rejected() {
    let (sim, tg) = start().await;
    let keyboard = |data: String| json!({"chat_id": GROUP, "text": "card", "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": data}]]}});
    let r = tg.send(CLAUDIA, keyboard("x".repeat(65))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        fixture("telegram_error_400_button_data_invalid.json")
    );
    // 64 bytes, multi-byte characters counted in bytes.
    let r = tg.send(CLAUDIA, keyboard("é".repeat(32))).await;
    assert_eq!(r.status, 200);
    let r = tg
        .send(CLAUDIA, keyboard(format!("{}x", "é".repeat(32))))
        .await;
    assert_eq!(r.status, 400);
    assert!(sim.sent().len() == 1);
    sim.shutdown();
}

// ----- edits and callbacks -------------------------------------------------------------------

#[tokio::test]
async fn edit_message_text_rules() {
    let (sim, tg) = start().await;
    let card = tg
        .send(CLAUDIA, json!({"chat_id": GROUP, "message_thread_id": APPROVALS, "text": "<b>INV-1</b> pending", "parse_mode": "HTML", "reply_markup": card_markup()}))
        .await;
    let id = card.body["result"]["message_id"].as_i64().unwrap();
    let edit = |text: &str, markup: Option<Value>| {
        let mut body =
            json!({"chat_id": GROUP, "message_id": id, "text": text, "parse_mode": "HTML"});
        if let Some(m) = markup {
            body["reply_markup"] = m;
        }
        body
    };
    let r = tg
        .post(
            CLAUDIA,
            "editMessageText",
            edit("<b>INV-1</b> pending", Some(card_markup())),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, fixture("telegram_error_400_not_modified.json"));
    // Same text, keyboard dropped: modified.
    let r = tg
        .post(
            CLAUDIA,
            "EditMessageText",
            edit("<b>INV-1</b> pending", None),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body["result"].get("reply_markup").is_none());
    assert!(r.body["result"]["edit_date"].is_number());
    let r = tg
        .post(
            CLAUDIA,
            "editMessageText",
            edit("<b>INV-1</b> approved ✅", None),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["result"]["text"], "INV-1 approved ✅");
    assert_eq!(r.body["result"]["message_thread_id"], APPROVALS);

    let r = tg
        .post(CLAWRENCE, "editMessageText", edit("mine now", None))
        .await;
    assert_eq!(
        r.body["description"],
        "Bad Request: message can't be edited"
    );
    let human = sim.user_says_in_topic(RAVI, None, "hi");
    let r = tg
        .post(
            CLAUDIA,
            "editMessageText",
            json!({"chat_id": GROUP, "message_id": human, "text": "x"}),
        )
        .await;
    assert_eq!(
        r.body["description"],
        "Bad Request: message can't be edited"
    );
    let r = tg
        .post(
            CLAUDIA,
            "editMessageText",
            json!({"chat_id": GROUP, "message_id": 99_999, "text": "x"}),
        )
        .await;
    assert_eq!(
        r.body["description"],
        "Bad Request: message to edit not found"
    );
    let r = tg
        .post(CLAUDIA, "editMessageText", edit("<b>broken", None))
        .await;
    assert!(r.body["description"]
        .as_str()
        .unwrap()
        .starts_with("Bad Request: can't parse entities:"));

    let sent = sim.sent();
    let methods: Vec<&str> = sent.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        vec!["sendMessage", "editMessageText", "editMessageText"]
    );
    assert_eq!(sent[2].message_id, id);
    assert_eq!(sent[2].text, "<b>INV-1</b> approved ✅");
    assert_eq!(sent[2].thread_id, Some(APPROVALS));
    sim.shutdown();
}

#[tokio::test]
async fn answer_callback_query_once() {
    let (sim, tg) = start().await;
    let card = tg
        .send(CLAUDIA, json!({"chat_id": GROUP, "message_thread_id": APPROVALS, "text": "card", "reply_markup": card_markup()}))
        .await;
    let id = card.body["result"]["message_id"].as_i64().unwrap();
    let query = sim.user_taps(WEI_LING, "claudia_bot", GROUP, id, "inv:approve:5f1c2b9e");
    // Another bot cannot answer it.
    let r = tg
        .post(
            CLAWRENCE,
            "answerCallbackQuery",
            json!({"callback_query_id": query}),
        )
        .await;
    assert_eq!(r.body, fixture("telegram_error_400_query_too_old.json"));
    let r = tg
        .post(
            CLAUDIA,
            "answerCallbackQuery",
            json!({"callback_query_id": query, "text": "Approved", "show_alert": true}),
        )
        .await;
    assert_eq!(r.body, fixture("telegram_answerCallbackQuery_ok.json"));
    let r = tg
        .post(
            CLAUDIA,
            "answerCallbackQuery",
            json!({"callback_query_id": query}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, fixture("telegram_error_400_query_too_old.json"));
    let r = tg
        .post(
            CLAUDIA,
            "answerCallbackQuery",
            json!({"callback_query_id": "123"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let answers = sim.callback_answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].bot, "claudia_bot");
    assert_eq!(answers[0].callback_query_id, query);
    assert_eq!(answers[0].text.as_deref(), Some("Approved"));
    assert!(answers[0].show_alert);
    sim.shutdown();
}

#[tokio::test]
async fn set_my_commands_is_recorded() {
    let (sim, tg) = start().await;
    assert_eq!(sim.my_commands("claudia_bot"), None);
    let r = tg
        .post(
            CLAUDIA,
            "setMyCommands",
            json!({"commands": [
            {"command": "ar_brief", "description": "Friday AR brief"},
            {"command": "help", "description": "What I do"}
        ], "scope": {"type": "default"}}),
        )
        .await;
    assert_eq!(r.body, json!({"ok": true, "result": true}));
    assert_eq!(
        sim.my_commands("claudia_bot"),
        Some(vec![
            ("ar_brief".to_owned(), "Friday AR brief".to_owned()),
            ("help".to_owned(), "What I do".to_owned())
        ])
    );
    let r = tg
        .post(
            CLAUDIA,
            "setMyCommands",
            json!({"commands": [{"command": "Bad Command", "description": "x"}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = tg.post(CLAUDIA, "getMyCommands", json!({})).await;
    assert_eq!(r.body["result"][0]["command"], "ar_brief");
    sim.shutdown();
}

// ----- rate limits ---------------------------------------------------------------------------

#[tokio::test]
async fn rate_limits_answer_429_only_when_on() {
    let (sim, tg) = start().await;
    let msg = |n: usize| json!({"chat_id": GROUP, "text": format!("m{n}")});
    for n in 0..5 {
        assert_eq!(tg.send(CLAUDIA, msg(n)).await.status, 200);
    }
    assert_eq!(sim.too_many_requests(), 0);

    // The limits' clock stands still unless moved: a second passes since the five sends.
    sim.set_rate_limits(true);
    sim.freeze_rate_limit_clock();
    sim.advance_rate_limit_clock(Duration::from_secs(1));
    assert_eq!(tg.send(CLAUDIA, msg(5)).await.status, 200);
    let r = tg.send(CLAUDIA, msg(6)).await;
    assert_eq!(r.status, 429);
    assert_eq!(shape(&r.body), shape(&fixture("telegram_error_429.json")));
    let retry = r.body["parameters"]["retry_after"].as_u64().unwrap();
    assert!(retry >= 1);
    assert_eq!(
        r.body["description"],
        format!("Too Many Requests: retry after {retry}")
    );
    assert_eq!(
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some(retry.to_string().as_str())
    );
    // Edits count too.
    let last = sim.sent_by("claudia_bot")[5].message_id;
    let r = tg
        .post(
            CLAUDIA,
            "editMessageText",
            json!({"chat_id": GROUP, "message_id": last, "text": "edited"}),
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(sim.too_many_requests(), 2);
    // Per chat: another chat and another bot are not limited; the 429s were not recorded.
    assert_eq!(
        tg.send(CLAUDIA, json!({"chat_id": RAVI, "text": "dm"}))
            .await
            .status,
        200
    );
    assert_eq!(tg.send(CLAWRENCE, msg(7)).await.status, 200);
    assert_eq!(sim.sent().len(), 8);
    // A second after the last accepted send the chat is free again: the 429s did not count.
    sim.advance_rate_limit_clock(Duration::from_secs(1));
    assert_eq!(tg.send(CLAUDIA, msg(8)).await.status, 200);
    assert_eq!(sim.too_many_requests(), 2);
    sim.shutdown();
}

// ----- faults --------------------------------------------------------------------------------

#[tokio::test]
async fn server_error_faults_are_not_recorded() {
    let (sim, tg) = start().await;
    let body = json!({"chat_id": GROUP, "text": "x"});
    sim.inject_fault("claudia_bot", "SENDMESSAGE", Fault::ServerError(502));
    sim.inject_fault("claudia_bot", "sendMessage", Fault::ServerError(500));
    let r = tg.send(CLAUDIA, body.clone()).await;
    assert_eq!(r.status, 502);
    assert!(r.raw.contains("502 Bad Gateway"));
    assert_eq!(r.body, Value::Null, "an HTML body is not JSON");
    let r = tg.send(CLAUDIA, body.clone()).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["ok"], false);
    assert_eq!(r.body["error_code"], 500);
    assert!(sim.sent().is_empty());
    // Faults are per bot and method, once each.
    assert_eq!(tg.send(CLAUDIA, body.clone()).await.status, 200);
    sim.inject_fault("claudia_bot", "getMe", Fault::ServerError(503));
    assert_eq!(tg.send(CLAUDIA, body).await.status, 200);
    assert_eq!(tg.get(CLAWRENCE, "getMe").await.status, 200);
    assert_eq!(tg.get(CLAUDIA, "getMe").await.status, 503);
    assert_eq!(sim.sent().len(), 2);
    sim.shutdown();
}

#[tokio::test]
async fn api_faults_give_the_envelope_asked_for() {
    let (sim, tg) = start().await;
    let body = json!({"chat_id": GROUP, "text": "x"});
    sim.inject_fault(
        "claudia_bot",
        "sendMessage",
        Fault::Api {
            code: 429,
            description: "Too Many Requests: retry after 35".into(),
            retry_after: Some(35),
            migrate_to_chat_id: None,
        },
    );
    sim.inject_fault(
        "claudia_bot",
        "sendMessage",
        Fault::Api {
            code: 400,
            description: "Bad Request: group chat was upgraded to a supergroup chat".into(),
            retry_after: None,
            migrate_to_chat_id: Some(-1_002_233_445_566),
        },
    );
    sim.inject_fault(
        "claudia_bot",
        "sendMessage",
        Fault::api(403, "Forbidden: bot was blocked by the user"),
    );
    let r = tg.send(CLAUDIA, body.clone()).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body, fixture("telegram_error_429.json"));
    assert_eq!(r.headers.get("retry-after").unwrap(), "35");
    assert_eq!(sim.too_many_requests(), 1);
    let r = tg.send(CLAUDIA, body.clone()).await;
    assert_eq!(r.body, fixture("telegram_error_400_migrated.json"));
    let r = tg.send(CLAUDIA, body.clone()).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, fixture("telegram_error_403_blocked.json"));
    assert!(sim.sent().is_empty());
    assert_eq!(tg.send(CLAUDIA, body).await.status, 200);
    sim.shutdown();
}

#[tokio::test]
async fn timeout_fault_holds_and_posts_nothing() {
    let (sim, tg) = start().await;
    let impatient = Tg::with_timeout(&sim, Duration::from_millis(300));
    sim.inject_fault(
        "claudia_bot",
        "sendMessage",
        Fault::Timeout(Duration::from_millis(1200)),
    );
    let e = impatient
        .try_post(
            CLAUDIA,
            "sendMessage",
            json!({"chat_id": GROUP, "text": "slow"}),
        )
        .await
        .expect_err("the client gives up");
    assert!(e.is_timeout(), "{e}");
    assert!(sim.sent().is_empty());

    // A patient client gets an answer after the hold, and still nothing was posted: a held
    // request is answered without being carried out, whoever waits for it.
    sim.inject_fault(
        "claudia_bot",
        "sendMessage",
        Fault::Timeout(Duration::from_millis(300)),
    );
    let t0 = Instant::now();
    let r = tg
        .send(CLAUDIA, json!({"chat_id": GROUP, "text": "slow"}))
        .await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);
    assert!(sim.sent().is_empty());
    let r = tg
        .send(CLAUDIA, json!({"chat_id": GROUP, "text": "normal"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(sim.sent().len(), 1);
    sim.shutdown();
}

#[tokio::test]
async fn reply_lost_records_then_drops_the_connection() {
    let (sim, tg) = start().await;
    sim.inject_fault("claudia_bot", "sendMessage", Fault::ReplyLost);
    let e = tg
        .try_post(CLAUDIA, "sendMessage", json!({"chat_id": GROUP, "message_thread_id": APPROVALS, "text": "<b>posted</b>", "parse_mode": "HTML"}))
        .await
        .expect_err("no answer");
    // Not a timeout and not a connect failure: the request went out and no answer came.
    assert!(!e.is_timeout(), "{e}");
    assert!(!e.is_connect(), "{e}");
    let sent = sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "<b>posted</b>");
    assert_eq!(sent[0].thread_id, Some(APPROVALS));
    // The next call works (on a new connection) and gets the next message id.
    let r = tg
        .send(CLAUDIA, json!({"chat_id": GROUP, "text": "again"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["result"]["message_id"],
        json!(sent[0].message_id + 1)
    );
    sim.shutdown();
}

// ----- teloxide as the client ----------------------------------------------------------------

#[tokio::test]
async fn teloxide_bot_talks_to_the_simulator() {
    use teloxide::prelude::*;
    use teloxide::types::{MessageId, ParseMode, ThreadId, UpdateKind};

    let (sim, _tg) = start().await;
    let url = reqwest::Url::parse(&sim.base_url()).unwrap();
    let bot = Bot::new(CLAUDIA).set_api_url(url);
    let me = bot.get_me().await.expect("getMe");
    assert_eq!(me.username(), "claudia_bot");

    let sent = bot
        .send_message(ChatId(GROUP), "<b>hello</b> team")
        .parse_mode(ParseMode::Html)
        .message_thread_id(ThreadId(MessageId(APPROVALS)))
        .await
        .expect("sendMessage");
    assert_eq!(sent.text(), Some("hello team"));
    assert_eq!(sent.thread_id, Some(ThreadId(MessageId(APPROVALS))));
    let edited = bot
        .edit_message_text(ChatId(GROUP), sent.id, "<i>bye</i>")
        .parse_mode(ParseMode::Html)
        .await
        .expect("editMessageText");
    assert_eq!(edited.text(), Some("bye"));
    let e = bot
        .send_message(ChatId(GROUP), "<br>")
        .parse_mode(ParseMode::Html)
        .await
        .expect_err("bad html");
    assert!(matches!(e, teloxide::RequestError::Api(_)), "{e:?}");

    sim.user_says_in_topic(RAVI, Some(APPROVALS), "/ar_brief@claudia_bot");
    let updates = bot.get_updates().await.expect("getUpdates");
    assert_eq!(updates.len(), 1);
    assert!(
        matches!(&updates[0].kind, UpdateKind::Message(m) if m.text() == Some("/ar_brief@claudia_bot"))
    );
    assert_eq!(sim.calls("sendmessage"), 2);
    sim.shutdown();
}

// ----- raw updates and refusals ---------------------------------------------------------------

#[tokio::test]
async fn raw_updates_are_served_as_pushed_and_refusals_are_recorded() {
    let (sim, tg) = start().await;
    // A malformed message from a stranger in private: served as given, update_id first.
    let first = sim.push_raw_update(
        "claudia_bot",
        json!({"message": {"message_id": 1, "from": {"id": -5}, "chat": {"id": STRANGER, "type": "private"}, "text": "hi"}, "update_id": 1}),
    );
    // A tap with made-up data and id: it can be answered once, like a real one.
    let second = sim.push_raw_update(
        "claudia_bot",
        json!({"callback_query": {"id": "fuzz-1", "from": {"id": RAVI}, "data": "zzz:unknown"}}),
    );
    assert_eq!(second, first + 1);
    let r = tg.post(CLAUDIA, "getUpdates", json!({"timeout": 0})).await;
    let raw = r.raw.clone();
    assert!(
        raw.contains(&format!("{{\"update_id\":{first},\"message\"")),
        "update_id first, the rest as pushed: {raw}"
    );
    let list = r.body["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["message"]["from"]["id"], -5);
    assert_eq!(list[1]["callback_query"]["data"], "zzz:unknown");

    let answer = json!({"callback_query_id": "fuzz-1", "text": "This button is no longer active."});
    assert_eq!(
        tg.post(CLAUDIA, "answerCallbackQuery", answer.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        tg.post(CLAUDIA, "answerCallbackQuery", answer).await.status,
        400
    );
    // The private message opened the chat: the bot may answer the stranger.
    let sent = tg
        .send(CLAUDIA, json!({"chat_id": STRANGER, "text": "Sorry"}))
        .await;
    assert_eq!(sent.status, 200, "{}", sent.raw);
    let bad = tg
        .send(
            CLAUDIA,
            json!({"chat_id": STRANGER, "text": "<b>open", "parse_mode": "HTML"}),
        )
        .await;
    assert_eq!(bad.status, 400);

    let rejections = sim.rejections();
    assert_eq!(rejections.len(), 2, "{rejections:#?}");
    assert_eq!(rejections[0].method, "answerCallbackQuery");
    assert_eq!(rejections[1].method, "sendMessage");
    assert_eq!(rejections[1].code, 400);
    assert!(rejections[1]
        .description
        .starts_with("Bad Request: can't parse entities"));
    assert_eq!(sim.callback_answers().len(), 1);
}
