//! The health probes of the simulator over real HTTP: `getChatMember` and `sendChatAction`, and
//! the changes to the group that make them (and `sendMessage`) fail as on Telegram: a bot
//! removed, kicked or restricted, a deleted topic, a user who never started a bot, privacy mode.
//!
//! They exist because `herald audit` trusts these answers to tell a healthy bot from a broken
//! one; each case goes both ways (works, breaks, works again) with Telegram's exact wordings.

use herald_sim::{SimBot, SimConfig, SimGroup, SimTopic, SimUser, Simulator};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALPHA: &str = "8001:alpha-secret-token";
const BETA: &str = "8002:beta-secret-token";
const ALPHA_ID: i64 = 8001;
const BETA_ID: i64 = 8002;
const GROUP: i64 = -1_002_233_445_566;
const APPROVALS: i32 = 27;
const TEAM: i32 = 31;
const RAVI: i64 = 987_654_321;
const WEI_LING: i64 = 123_456_789;
const STRANGER: i64 = 555_000_111;

const NOT_MEMBER: &str = "Forbidden: bot is not a member of the supergroup chat";
const KICKED: &str = "Forbidden: bot was kicked from the supergroup chat";
const THREAD_NOT_FOUND: &str = "Bad Request: message thread not found";
const CANT_INITIATE: &str = "Forbidden: bot can't initiate conversation with a user";

fn bot(token: &str, user_id: i64, username: &str, reads_all: bool) -> SimBot {
    SimBot {
        token: token.into(),
        user_id,
        username: username.into(),
        first_name: username.trim_end_matches("_bot").into(),
        can_read_all_group_messages: reads_all,
    }
}

fn user(user_id: i64, first_name: &str) -> SimUser {
    SimUser {
        user_id,
        first_name: first_name.into(),
        last_name: None,
        username: None,
    }
}

/// `alpha_bot` in privacy mode, `beta_bot` reading everything; two topics; two users.
async fn start() -> Simulator {
    let config = SimConfig {
        bots: vec![
            bot(ALPHA, ALPHA_ID, "alpha_bot", false),
            bot(BETA, BETA_ID, "beta_bot", true),
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
        users: vec![user(RAVI, "Ravi"), user(WEI_LING, "Wei Ling")],
        rate_limits: false,
        clock: None,
    };
    Simulator::start(config).await.expect("simulator starts")
}

/// One HTTP/1.1 request on a fresh connection: (status, body as JSON).
async fn request(
    sim: &Simulator,
    token: &str,
    method: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let base = sim.base_url();
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /bot{token}/{method} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(body.as_bytes()).await.expect("writes");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("reads");
    let text = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{method}: {e}: {body}"));
    (status, value)
}

/// A JSON call; the result on success, else (`error_code`, `description`) after checking that
/// the HTTP status equals `error_code`.
async fn call(
    sim: &Simulator,
    token: &str,
    method: &str,
    params: Value,
) -> Result<Value, (u16, String)> {
    let (status, v) = request(sim, token, method, "application/json", &params.to_string()).await;
    envelope(status, v)
}

/// The same with a form body.
async fn call_form(
    sim: &Simulator,
    token: &str,
    method: &str,
    form: &str,
) -> Result<Value, (u16, String)> {
    let (status, v) = request(
        sim,
        token,
        method,
        "application/x-www-form-urlencoded",
        form,
    )
    .await;
    envelope(status, v)
}

fn envelope(status: u16, v: Value) -> Result<Value, (u16, String)> {
    if v["ok"] == json!(true) {
        assert_eq!(status, 200);
        return Ok(v["result"].clone());
    }
    assert_eq!(v["ok"], json!(false), "{v}");
    let code = v["error_code"].as_u64().expect("error_code") as u16;
    assert_eq!(status, code, "HTTP status = error_code");
    Err((
        code,
        v["description"].as_str().expect("description").to_owned(),
    ))
}

fn refused(code: u16, description: &str) -> Result<Value, (u16, String)> {
    Err((code, description.to_owned()))
}

async fn member(sim: &Simulator, token: &str, user_id: i64) -> Result<Value, (u16, String)> {
    call(
        sim,
        token,
        "getChatMember",
        json!({"chat_id": GROUP, "user_id": user_id}),
    )
    .await
}

async fn status_of(sim: &Simulator, token: &str, user_id: i64) -> String {
    let m = member(sim, token, user_id)
        .await
        .expect("getChatMember succeeds");
    m["status"].as_str().expect("a status").to_owned()
}

async fn say(
    sim: &Simulator,
    token: &str,
    chat_id: i64,
    thread: Option<i32>,
) -> Result<Value, (u16, String)> {
    let mut params = json!({"chat_id": chat_id, "text": "probe"});
    if let Some(t) = thread {
        params["message_thread_id"] = json!(t);
    }
    call(sim, token, "sendMessage", params).await
}

async fn typing(
    sim: &Simulator,
    token: &str,
    chat_id: i64,
    thread: Option<i32>,
) -> Result<Value, (u16, String)> {
    let mut params = json!({"chat_id": chat_id, "action": "typing"});
    if let Some(t) = thread {
        params["message_thread_id"] = json!(t);
    }
    call(sim, token, "sendChatAction", params).await
}

/// Texts of the updates waiting for a bot, confirmed as read.
async fn update_texts(sim: &Simulator, token: &str) -> Vec<String> {
    let updates = call(sim, token, "getUpdates", json!({"timeout": 0}))
        .await
        .expect("getUpdates");
    let updates = updates.as_array().expect("an array").clone();
    if let Some(last) = updates.last() {
        let next = last["update_id"].as_i64().expect("update_id") + 1;
        call(
            sim,
            token,
            "getUpdates",
            json!({"offset": next, "timeout": 0}),
        )
        .await
        .expect("getUpdates confirms");
    }
    updates
        .iter()
        .filter_map(|u| u["message"]["text"].as_str().map(str::to_owned))
        .collect()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn get_chat_member_answers_as_telegram() {
    let sim = start().await;
    let ravi = member(&sim, ALPHA, RAVI).await.unwrap();
    assert_eq!(keys(&ravi), ["user", "status"]);
    assert_eq!(ravi["status"], "member");
    assert_eq!(ravi["user"]["id"], RAVI);
    assert_eq!(ravi["user"]["is_bot"], false);
    assert_eq!(ravi["user"]["first_name"], "Ravi");

    // Itself and the other bot: members; someone not in the group: left.
    let me = member(&sim, ALPHA, ALPHA_ID).await.unwrap();
    assert_eq!(me["status"], "member");
    assert_eq!(
        me["user"],
        json!({"id": ALPHA_ID, "is_bot": true, "first_name": "alpha", "username": "alpha_bot"})
    );
    assert_eq!(status_of(&sim, ALPHA, BETA_ID).await, "member");
    let stranger = member(&sim, ALPHA, STRANGER).await.unwrap();
    assert_eq!(stranger["status"], "left");
    assert_eq!(stranger["user"]["id"], STRANGER);

    // Form bodies work too.
    let form = call_form(
        &sim,
        ALPHA,
        "getchatmember",
        &format!("chat_id={GROUP}&user_id={RAVI}"),
    )
    .await
    .unwrap();
    assert_eq!(form["status"], "member");

    // Promoted: administrator with its rights; demoted: member again.
    sim.promote_bot("alpha_bot", true);
    let admin = member(&sim, ALPHA, ALPHA_ID).await.unwrap();
    assert_eq!(admin["status"], "administrator");
    assert_eq!(&keys(&admin)[..3], ["user", "status", "can_be_edited"]);
    assert_eq!(admin["can_manage_topics"], true);
    assert_eq!(admin["is_anonymous"], false);
    assert_eq!(status_of(&sim, BETA, ALPHA_ID).await, "administrator");
    sim.promote_bot("alpha_bot", false);
    assert_eq!(status_of(&sim, ALPHA, ALPHA_ID).await, "member");

    // Not the group: a private chat, an unknown group; bad parameters.
    let not_found = refused(400, "Bad Request: chat not found");
    assert_eq!(
        call(
            &sim,
            ALPHA,
            "getChatMember",
            json!({"chat_id": RAVI, "user_id": RAVI})
        )
        .await,
        not_found
    );
    assert_eq!(
        call(
            &sim,
            ALPHA,
            "getChatMember",
            json!({"chat_id": -1_009_999, "user_id": RAVI})
        )
        .await,
        not_found
    );
    assert_eq!(
        call(&sim, ALPHA, "getChatMember", json!({"chat_id": GROUP})).await,
        refused(400, "Bad Request: invalid user_id specified")
    );
    assert_eq!(
        call(&sim, ALPHA, "getChatMember", json!({"user_id": RAVI})).await,
        refused(400, "Bad Request: chat_id is empty")
    );
    assert_eq!(sim.calls("getChatMember"), 12);
}

#[tokio::test]
async fn a_bot_out_of_the_group_is_refused_and_hears_nothing_until_added_back() {
    let sim = start().await;
    let posted = say(&sim, BETA, GROUP, Some(TEAM)).await.unwrap();
    let posted_id = posted["message_id"].as_i64().unwrap();
    assert!(typing(&sim, BETA, GROUP, None).await.is_ok());
    sim.user_says_in_topic(RAVI, Some(TEAM), "before");
    assert_eq!(update_texts(&sim, BETA).await, ["before"]);

    for (kicked, description, status) in [(false, NOT_MEMBER, "left"), (true, KICKED, "kicked")] {
        sim.remove_bot_from_group("beta_bot", kicked);
        let out = refused(403, description);
        assert_eq!(say(&sim, BETA, GROUP, Some(TEAM)).await, out);
        assert_eq!(say(&sim, BETA, GROUP, None).await, out);
        let edit = json!({"chat_id": GROUP, "message_id": posted_id, "text": "edited"});
        assert_eq!(call(&sim, BETA, "editMessageText", edit).await, out);
        assert_eq!(typing(&sim, BETA, GROUP, Some(TEAM)).await, out);
        assert_eq!(member(&sim, BETA, BETA_ID).await, out);
        assert_eq!(member(&sim, BETA, RAVI).await, out);
        // The other bot sees where it stands.
        assert_eq!(status_of(&sim, ALPHA, BETA_ID).await, status);
        // No group updates any more; private chats still work.
        sim.user_says_in_topic(RAVI, Some(TEAM), "while out");
        assert!(update_texts(&sim, BETA).await.is_empty());
        assert!(say(&sim, BETA, RAVI, None).await.is_ok());
        assert!(typing(&sim, BETA, RAVI, None).await.is_ok());

        sim.add_bot_to_group("beta_bot");
        assert!(say(&sim, BETA, GROUP, Some(TEAM)).await.is_ok());
        assert!(typing(&sim, BETA, GROUP, Some(TEAM)).await.is_ok());
        assert_eq!(status_of(&sim, BETA, BETA_ID).await, "member");
        sim.user_says_in_topic(RAVI, Some(TEAM), "back");
        assert_eq!(update_texts(&sim, BETA).await, ["back"]);
    }
    // The refused sendMessage/editMessageText are rejections; nothing else is.
    let rejected: Vec<_> = sim.rejections().into_iter().map(|r| r.method).collect();
    assert_eq!(
        rejected,
        ["sendMessage", "sendMessage", "editMessageText"].repeat(2)
    );
}

#[tokio::test]
async fn a_restricted_bot_cannot_send_text_to_the_group() {
    let sim = start().await;
    assert!(say(&sim, ALPHA, GROUP, None).await.is_ok());

    sim.restrict_bot("alpha_bot", false);
    let m = member(&sim, ALPHA, ALPHA_ID).await.unwrap();
    assert_eq!(m["status"], "restricted");
    assert_eq!(
        &keys(&m)[..4],
        ["user", "status", "until_date", "can_send_messages"]
    );
    assert_eq!(m["can_send_messages"], false);
    assert_eq!(m["can_send_media_messages"], false);
    assert_eq!(m["until_date"], 0);
    assert_eq!(m["is_member"], true);
    let no_rights = refused(
        400,
        "Bad Request: not enough rights to send text messages to the chat",
    );
    assert_eq!(say(&sim, ALPHA, GROUP, None).await, no_rights);
    assert_eq!(say(&sim, ALPHA, GROUP, Some(APPROVALS)).await, no_rights);
    // Private chats are not the group's business; the restricted bot still hears commands.
    assert!(say(&sim, ALPHA, RAVI, None).await.is_ok());
    sim.user_says_in_topic(RAVI, None, "/status");
    assert_eq!(update_texts(&sim, ALPHA).await, ["/status"]);

    sim.restrict_bot("alpha_bot", true);
    let m = member(&sim, ALPHA, ALPHA_ID).await.unwrap();
    assert_eq!(
        (m["status"].clone(), m["can_send_messages"].clone()),
        (json!("restricted"), json!(true))
    );
    assert!(say(&sim, ALPHA, GROUP, None).await.is_ok());

    sim.restrict_bot("alpha_bot", false);
    sim.add_bot_to_group("alpha_bot");
    assert_eq!(status_of(&sim, ALPHA, ALPHA_ID).await, "member");
    assert!(say(&sim, ALPHA, GROUP, None).await.is_ok());
}

#[tokio::test]
async fn a_deleted_topic_is_not_found_any_more() {
    let sim = start().await;
    assert_eq!(
        typing(&sim, ALPHA, GROUP, Some(APPROVALS)).await,
        Ok(json!(true))
    );
    let posted = say(&sim, ALPHA, GROUP, Some(APPROVALS)).await.unwrap();
    let posted_id = posted["message_id"].as_i64().unwrap();

    sim.delete_topic(APPROVALS);
    let gone = refused(400, THREAD_NOT_FOUND);
    assert_eq!(typing(&sim, ALPHA, GROUP, Some(APPROVALS)).await, gone);
    assert_eq!(say(&sim, ALPHA, GROUP, Some(APPROVALS)).await, gone);
    // Its messages went with it.
    let edit = json!({"chat_id": GROUP, "message_id": posted_id, "text": "edited"});
    assert_eq!(
        call(&sim, ALPHA, "editMessageText", edit).await,
        refused(400, "Bad Request: message to edit not found")
    );
    // The other topic and General are fine.
    assert!(typing(&sim, ALPHA, GROUP, Some(TEAM)).await.is_ok());
    assert!(say(&sim, ALPHA, GROUP, Some(TEAM)).await.is_ok());
    assert!(typing(&sim, ALPHA, GROUP, None).await.is_ok());
    assert!(say(&sim, ALPHA, GROUP, None).await.is_ok());
    // A thread that never existed, and a thread in a private chat.
    assert_eq!(typing(&sim, ALPHA, GROUP, Some(999)).await, gone);
    assert_eq!(typing(&sim, ALPHA, RAVI, Some(TEAM)).await, gone);
}

#[tokio::test]
async fn send_chat_action_checks_the_action_and_posts_nothing() {
    let sim = start().await;
    for action in [
        "typing",
        "TYPING",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ] {
        let p = json!({"chat_id": GROUP, "action": action, "message_thread_id": TEAM});
        assert_eq!(
            call(&sim, ALPHA, "sendChatAction", p).await,
            Ok(json!(true)),
            "{action}"
        );
    }
    let wrong = refused(400, "Bad Request: wrong parameter action in request");
    let p = json!({"chat_id": GROUP, "action": "dancing"});
    assert_eq!(call(&sim, ALPHA, "sendChatAction", p).await, wrong);
    assert_eq!(
        call(&sim, ALPHA, "sendChatAction", json!({"chat_id": GROUP})).await,
        wrong
    );
    let form = call_form(
        &sim,
        ALPHA,
        "sendchataction",
        &format!("chat_id={RAVI}&action=typing"),
    )
    .await;
    assert_eq!(form, Ok(json!(true)));

    // Private chats: the refusals of sendMessage.
    let p = json!({"chat_id": STRANGER, "action": "typing"});
    assert_eq!(
        call(&sim, ALPHA, "sendChatAction", p).await,
        refused(403, CANT_INITIATE)
    );
    sim.user_blocks(WEI_LING, "alpha_bot");
    assert_eq!(
        typing(&sim, ALPHA, WEI_LING, None).await,
        refused(403, "Forbidden: bot was blocked by the user")
    );
    sim.deactivate_user(RAVI);
    assert_eq!(
        typing(&sim, ALPHA, RAVI, None).await,
        refused(403, "Forbidden: user is deactivated")
    );
    assert_eq!(
        typing(&sim, ALPHA, BETA_ID, None).await,
        refused(403, "Forbidden: bot can't send messages to bots")
    );

    assert!(sim.sent().is_empty());
    assert!(sim.rejections().is_empty());
    assert_eq!(sim.calls("sendChatAction"), 19);
    assert_eq!(sim.calls("sendchataction"), 19);
}

#[tokio::test]
async fn a_user_who_never_started_the_bot_cannot_be_written_to_until_they_write() {
    let sim = start().await;
    assert!(say(&sim, ALPHA, RAVI, None).await.is_ok());

    sim.user_never_started(RAVI, "alpha_bot");
    let cant = refused(403, CANT_INITIATE);
    assert_eq!(say(&sim, ALPHA, RAVI, None).await, cant);
    assert_eq!(typing(&sim, ALPHA, RAVI, None).await, cant);
    // Only that bot, only that user.
    assert!(say(&sim, BETA, RAVI, None).await.is_ok());
    assert!(say(&sim, ALPHA, WEI_LING, None).await.is_ok());

    sim.user_dms(RAVI, "alpha_bot", "/start");
    assert!(say(&sim, ALPHA, RAVI, None).await.is_ok());
    assert_eq!(typing(&sim, ALPHA, RAVI, None).await, Ok(json!(true)));

    // Marked again after the DM: refused again, until the next one.
    sim.user_never_started(RAVI, "alpha_bot");
    assert_eq!(say(&sim, ALPHA, RAVI, None).await, cant);
    sim.user_dms(RAVI, "alpha_bot", "hello");
    assert!(say(&sim, ALPHA, RAVI, None).await.is_ok());
}

#[tokio::test]
async fn privacy_mode_can_be_switched() {
    let sim = start().await;
    let reads_all = |me: Value| me["can_read_all_group_messages"].clone();
    assert_eq!(
        reads_all(call(&sim, ALPHA, "getMe", json!({})).await.unwrap()),
        false
    );
    sim.user_says_in_topic(RAVI, Some(TEAM), "plain one");
    assert!(update_texts(&sim, ALPHA).await.is_empty());

    sim.set_privacy_mode("alpha_bot", false);
    assert_eq!(
        reads_all(call(&sim, ALPHA, "getMe", json!({})).await.unwrap()),
        true
    );
    sim.user_says_in_topic(RAVI, Some(TEAM), "plain two");
    assert_eq!(update_texts(&sim, ALPHA).await, ["plain two"]);

    sim.set_privacy_mode("alpha_bot", true);
    sim.set_privacy_mode("beta_bot", true);
    assert_eq!(
        reads_all(call(&sim, BETA, "getMe", json!({})).await.unwrap()),
        false
    );
    sim.user_says_in_topic(RAVI, Some(TEAM), "plain three");
    sim.user_says_in_topic(RAVI, Some(TEAM), "/report");
    assert_eq!(update_texts(&sim, ALPHA).await, ["/report"]);
    assert_eq!(
        update_texts(&sim, BETA).await,
        ["plain one", "plain two", "/report"]
    );

    // An administrator hears everything whatever its privacy mode, as on Telegram.
    sim.promote_bot("alpha_bot", true);
    sim.user_says_in_topic(RAVI, Some(TEAM), "plain four");
    assert_eq!(update_texts(&sim, ALPHA).await, ["plain four"]);
}
