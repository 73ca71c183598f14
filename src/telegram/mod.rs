//! A thin Bot API transport over reqwest. herald owns this layer (rather than teloxide's
//! `Bot`) because the outbox must tell "certainly not sent" from "maybe sent" precisely, must
//! own rate limiting, and must never let a token reach a log or an error: the URL holding
//! the token is stripped from every error. teloxide's types parse what comes back.

pub mod html;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::config::secrets::Token;

/// Telegram's production API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// How a call ended when it did not succeed. The variants are the outbox protocol's cases.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The request never left: connection refused, DNS, TLS. Safe to retry.
    #[error("not sent: {0}")]
    NotSent(String),
    /// Telegram said slow down. Not sent; retry after the given seconds.
    #[error("rate limited: retry after {0} s")]
    RetryAfter(u64),
    /// Telegram refused the request (4xx other than 429); `description` is Telegram's.
    #[error("rejected ({code}): {description}")]
    Rejected {
        code: u16,
        description: String,
        migrate_to_chat_id: Option<i64>,
    },
    /// The request may or may not have taken effect: timeout after writing, connection reset,
    /// 5xx, or a reply that could not be read.
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
}

/// What Telegram says (tdlib's wording, after `Bad Request: `) when a request is refused for
/// what it is, or for where it goes: the same request will be refused the same way every
/// time, so it is never retried.
const PERMANENT_REJECTIONS: &[&str] = &[
    "message is too long",
    "MESSAGE_TOO_LONG",
    "can't parse entities",
    "message text is empty",
    "text must be non-empty",
    "chat not found",
    "message thread not found",
    "TOPIC_DELETED",
    "group chat was upgraded to a supergroup chat",
    "BUTTON_DATA_INVALID",
    "can't parse reply keyboard markup JSON object",
    "can't parse inline keyboard button",
    "message to edit not found",
    "message can't be edited",
    "query is too old and response timeout expired or query ID is invalid",
    "PEER_ID_INVALID",
];

impl CallError {
    /// A refusal that will happen the same way every time the same request is made: every
    /// 403 (`bot was blocked by the user`, `user is deactivated`, `bot was kicked from the
    /// supergroup chat`, `bot can't initiate conversation with a user`...), a 401 (the token
    /// is no longer valid), and the 400s in [`PERMANENT_REJECTIONS`]. Others (an unknown 400,
    /// a 409) may pass on a later try.
    pub fn is_permanent(&self) -> bool {
        match self {
            CallError::Rejected {
                code: 401 | 403, ..
            } => true,
            CallError::Rejected { description, .. } => PERMANENT_REJECTIONS
                .iter()
                .any(|known| description.contains(known)),
            _ => false,
        }
    }

    /// Telegram's 409: another consumer is polling the same token.
    pub fn is_conflict(&self) -> bool {
        matches!(self, CallError::Rejected { code: 409, .. })
    }

    pub fn is_unauthorized(&self) -> bool {
        matches!(self, CallError::Rejected { code: 401, .. })
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    result: Option<Value>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
    migrate_to_chat_id: Option<i64>,
}

/// The most updates one `getUpdates` returns (Telegram's maximum).
pub const UPDATES_PER_CALL: usize = 100;

/// What `getMe` says about a bot.
#[derive(Debug, Clone, Deserialize)]
pub struct BotUser {
    pub id: i64,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub can_read_all_group_messages: bool,
}

/// The HTTP client shared by every bot; each call names the token it uses.
#[derive(Clone)]
pub struct TelegramClient {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for TelegramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramClient")
            .field("base", &self.base)
            .finish()
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(String);

/// A file uploaded with a call (`sendDocument`'s `document`).
pub struct Upload {
    /// The parameter that carries the file (`document`).
    pub field: &'static str,
    pub file_name: String,
    pub content: Vec<u8>,
}

impl Upload {
    /// The multipart form of `body`'s fields and the file.
    fn form(self, body: &Value) -> reqwest::multipart::Form {
        let mut form = reqwest::multipart::Form::new();
        if let Some(fields) = body.as_object() {
            for (name, value) in fields {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                form = form.text(name.clone(), text);
            }
        }
        let part = reqwest::multipart::Part::bytes(self.content).file_name(self.file_name);
        form.part(self.field, part)
    }
}

impl TelegramClient {
    /// A client for the Bot API at `base` (`https://api.telegram.org`, or a simulator).
    pub fn new(base: &str) -> Result<Self, ClientBuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientBuildError(e.without_url().to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Calls `method` with a JSON body and returns the `result`, classified on failure.
    pub async fn call(
        &self,
        token: &Token,
        method: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        self.call_observed(token, method, body, timeout, || {})
            .await
    }

    /// As [`TelegramClient::call`], and `answered` runs once Telegram's answer has begun
    /// (status and headers in, body not yet read): from then on the request has certainly
    /// reached Telegram. The caller decides what that moment means to it (the sender's
    /// crash point); the transport only reports it.
    pub async fn call_observed(
        &self,
        token: &Token,
        method: &str,
        body: &Value,
        timeout: Duration,
        answered: impl FnOnce(),
    ) -> Result<Value, CallError> {
        self.send_observed(token, method, body, None, timeout, answered)
            .await
    }

    /// As [`TelegramClient::call_observed`], uploading `upload` with the call when given: the
    /// body's fields then go as `multipart/form-data` parts (objects as JSON text), as the Bot
    /// API takes a new file.
    pub async fn send_observed(
        &self,
        token: &Token,
        method: &str,
        body: &Value,
        upload: Option<Upload>,
        timeout: Duration,
        answered: impl FnOnce(),
    ) -> Result<Value, CallError> {
        let url = format!("{}/bot{}/{}", self.base, token.expose(), method);
        let request = self.http.post(url).timeout(timeout);
        let request = match upload {
            None => request.json(body),
            Some(upload) => request.multipart(upload.form(body)),
        };
        let response = request.send().await.map_err(classify_transport_error)?;
        answered();
        let status = response.status();
        let retry_after_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Ambiguous(format!("reply cut: {}", e.without_url())))?;
        interpret(status.as_u16(), retry_after_header, &bytes)
    }

    /// Calls `method` and parses its `result` as `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        token: &Token,
        method: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let value = self.call(token, method, body, timeout).await?;
        serde_json::from_value(value)
            .map_err(|e| CallError::Ambiguous(format!("unexpected {method} result: {e}")))
    }

    pub async fn get_me(&self, token: &Token, timeout: Duration) -> Result<BotUser, CallError> {
        self.call_as(token, "getMe", &serde_json::json!({}), timeout)
            .await
    }

    /// Long-polls for updates. Returns raw JSON so one malformed update can't hide the rest.
    /// Without an `offset` nothing is confirmed (`herald discover`): Telegram confirms every
    /// update below the offset it is given.
    pub async fn get_updates(
        &self,
        token: &Token,
        offset: Option<i64>,
        poll_seconds: u64,
    ) -> Result<Vec<Value>, CallError> {
        let mut body = serde_json::json!({
            "timeout": poll_seconds,
            "limit": UPDATES_PER_CALL,
            "allowed_updates": ["message", "edited_message", "callback_query"],
        });
        if let Some(offset) = offset {
            body["offset"] = offset.into();
        }
        self.call_as(
            token,
            "getUpdates",
            &body,
            Duration::from_secs(poll_seconds + 10),
        )
        .await
    }
}

fn classify_transport_error(e: reqwest::Error) -> CallError {
    let e = e.without_url();
    if e.is_connect() || e.is_builder() {
        CallError::NotSent(describe(&e))
    } else {
        // Timeout after connecting, reset, broken body: the request may have been written.
        CallError::Ambiguous(describe(&e))
    }
}

/// An error and its sources on one line, with no URL in it.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Turns an HTTP reply into a result, following the Bot API envelope.
fn interpret(
    status: u16,
    retry_after_header: Option<u64>,
    body: &[u8],
) -> Result<Value, CallError> {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(_) if status >= 500 => {
            return Err(CallError::Ambiguous(format!("HTTP {status} from Telegram")))
        }
        Err(_) if status == 429 => {
            return Err(CallError::RetryAfter(retry_after_header.unwrap_or(1)))
        }
        Err(e) => {
            return Err(CallError::Ambiguous(format!(
                "unreadable reply (HTTP {status}): {e}"
            )))
        }
    };
    if envelope.ok {
        return envelope
            .result
            .ok_or_else(|| CallError::Ambiguous("reply has ok=true but no result".into()));
    }
    let code = envelope.error_code.unwrap_or(status);
    let description = envelope
        .description
        .unwrap_or_else(|| format!("HTTP {status}"));
    let parameters = envelope.parameters;
    if code == 429 {
        let seconds = parameters
            .as_ref()
            .and_then(|p| p.retry_after)
            .or(retry_after_header)
            .unwrap_or(1);
        return Err(CallError::RetryAfter(seconds));
    }
    if code >= 500 {
        return Err(CallError::Ambiguous(format!("{code}: {description}")));
    }
    Err(CallError::Rejected {
        code,
        description,
        migrate_to_chat_id: parameters.and_then(|p| p.migrate_to_chat_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/telegram/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `answered` runs once Telegram's answer began, and never for a request that did not
    /// leave: the caller's crash point sits exactly where a request certainly arrived.
    #[tokio::test]
    async fn the_caller_hears_when_an_answer_began_and_only_then() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the JSON body (it ends with `}`).
            while !request.ends_with(b"}") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client hung up early");
                request.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"ok":true,"result":{"message_id":7}}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(reply.as_bytes()).await.unwrap();
        });
        let client = TelegramClient::new(&base).unwrap();
        let token = Token::new("1:test".into());
        let heard = AtomicUsize::new(0);
        let result = client
            .call_observed(
                &token,
                "sendMessage",
                &serde_json::json!({"chat_id": 1, "text": "x"}),
                Duration::from_secs(10),
                || {
                    heard.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await
            .unwrap();
        assert_eq!(result["message_id"], 7);
        assert_eq!(heard.load(Ordering::SeqCst), 1);
        server.await.unwrap();

        // Nobody listens any more: the request never leaves, and nothing is heard.
        let refused = client
            .call_observed(
                &token,
                "sendMessage",
                &serde_json::json!({}),
                Duration::from_secs(10),
                || {
                    heard.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(refused, CallError::NotSent(_)), "{refused:?}");
        assert_eq!(heard.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn ok_envelope_yields_result() {
        let result = interpret(200, None, &fixture("telegram_sendMessage_ok.json")).unwrap();
        assert_eq!(result["message_id"], 105);
    }

    #[test]
    fn rate_limit_carries_retry_after() {
        let err = interpret(429, Some(35), &fixture("telegram_error_429.json")).unwrap_err();
        assert_eq!(err, CallError::RetryAfter(35));
        let err = interpret(429, Some(7), b"<html>slow down</html>").unwrap_err();
        assert_eq!(err, CallError::RetryAfter(7));
    }

    #[test]
    fn client_errors_are_rejections_with_telegrams_description() {
        for (file, code) in [
            ("telegram_error_400_thread_not_found.json", 400),
            ("telegram_error_400_cant_parse_entities.json", 400),
            ("telegram_error_403_blocked.json", 403),
            ("telegram_error_403_not_member.json", 403),
            ("telegram_error_401_unauthorized.json", 401),
            ("telegram_error_409_conflict.json", 409),
        ] {
            match interpret(code, None, &fixture(file)).unwrap_err() {
                CallError::Rejected {
                    code: got,
                    description,
                    ..
                } => {
                    assert_eq!(got, code, "{file}");
                    assert!(!description.is_empty());
                }
                other => panic!("{file}: {other:?}"),
            }
        }
    }

    #[test]
    fn rejections_that_repeat_are_permanent() {
        let rejected = |code, description: &str| CallError::Rejected {
            code,
            description: description.to_owned(),
            migrate_to_chat_id: None,
        };
        for (code, description) in [
            (400, "Bad Request: message is too long"),
            (400, "Bad Request: MESSAGE_TOO_LONG"),
            (
                400,
                "Bad Request: can't parse entities: Unsupported start tag \"br\" at byte offset 35",
            ),
            (400, "Bad Request: message text is empty"),
            (400, "Bad Request: chat not found"),
            (400, "Bad Request: message thread not found"),
            (
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
            ),
            (403, "Forbidden: bot was blocked by the user"),
            (403, "Forbidden: user is deactivated"),
            (403, "Forbidden: bot is not a member of the supergroup chat"),
            (
                403,
                "Forbidden: bot can't initiate conversation with a user",
            ),
            (401, "Unauthorized"),
        ] {
            assert!(rejected(code, description).is_permanent(), "{description}");
        }
        for error in [
            rejected(
                400,
                "Bad Request: not enough rights to send text messages to the chat",
            ),
            rejected(409, "Conflict: terminated by other getUpdates request"),
            CallError::RetryAfter(3),
            CallError::NotSent("connection refused".into()),
            CallError::Ambiguous("timeout".into()),
        ] {
            assert!(!error.is_permanent(), "{error}");
        }
    }

    #[test]
    fn migration_reports_the_new_chat_id() {
        match interpret(400, None, &fixture("telegram_error_400_migrated.json")).unwrap_err() {
            CallError::Rejected {
                migrate_to_chat_id, ..
            } => assert_eq!(migrate_to_chat_id, Some(-1002233445566)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_and_garbage_are_ambiguous() {
        assert!(matches!(
            interpret(502, None, b"<html>Bad Gateway</html>"),
            Err(CallError::Ambiguous(_))
        ));
        assert!(matches!(
            interpret(
                500,
                None,
                br#"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#
            ),
            Err(CallError::Ambiguous(_))
        ));
        assert!(matches!(
            interpret(200, None, b"{\"ok\":tr"),
            Err(CallError::Ambiguous(_))
        ));
    }
}
