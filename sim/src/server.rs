//! The HTTP face of the simulator: `{base}/bot{token}/{method}` on loopback, via axum.
//!
//! Exists to turn requests into calls on [`State`] and answers into Telegram's envelopes, and to
//! play the faults a test asked for. Tokens are in the path, so the path is never logged.
//!
//! Connections are accepted through [`SimListener`], whose streams carry a kill switch: the
//! `ReplyLost` fault flips it after the request was fully processed, and the stream then fails
//! every write, so hyper drops the connection before a single byte of the answer is sent. The
//! client sees the connection closed after its request was written (reqwest reports a
//! "connection closed before message completed" error), which is what a lost reply looks like.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use axum::Router;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::api::{ApiError, Params};
use super::state::{PollCheck, State};
use super::wire::{ErrEnvelope, OkEnvelope, ResponseParameters, WebhookInfo};
use super::Fault;

/// State shared by the server and every [`super::Simulator`] handle.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// One per bot, bumped whenever its update queue or poller changes.
    pub watchers: Arc<[watch::Sender<u64>]>,
    /// `true` once [`super::Simulator::shutdown`] was called.
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    /// Locks the state. A panic elsewhere must not wedge the simulator, so poison is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves until [`Shared::shutdown`] turns true.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    let result = axum::serve(
        SimListener(listener),
        app.into_make_service_with_connect_info::<ConnKill>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    })
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "telegram simulator stopped with an error");
    }
}

/// A TCP listener whose connections can be killed from a handler (a reply lost after the
/// request was processed); the fake Mindbody serves through it too.
pub(crate) struct SimListener(pub TcpListener);

impl axum::serve::Listener for SimListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let io = KillableStream {
                        inner: stream,
                        kill: Arc::new(AtomicBool::new(false)),
                    };
                    return (io, addr);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream that fails every write once its kill switch is on.
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn lost() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "simulated lost reply")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(lost()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(lost()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(lost()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The kill switch of the connection a request arrived on.
#[derive(Clone)]
pub(crate) struct ConnKill(Arc<AtomicBool>);

impl ConnKill {
    /// From now on every write on the connection fails: the answer never leaves.
    pub(crate) fn trip(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnKill {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        ConnKill(Arc::clone(&stream.io().kill))
    }
}

/// `/bot{token}/{method}` -> (token, method).
fn split_path(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix('/')?;
    let (first, method) = rest.split_once('/')?;
    let token = first.strip_prefix("bot")?;
    if token.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((percent_decode(token), method))
}

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn ok<T: Serialize>(result: &T) -> Response {
    json_response(StatusCode::OK, &OkEnvelope { ok: true, result })
}

fn err(e: &ApiError) -> Response {
    let parameters =
        (e.retry_after.is_some() || e.migrate_to_chat_id.is_some()).then_some(ResponseParameters {
            migrate_to_chat_id: e.migrate_to_chat_id,
            retry_after: e.retry_after,
        });
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = json_response(
        status,
        &ErrEnvelope {
            ok: false,
            error_code: e.code,
            description: &e.description,
            parameters,
        },
    );
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A 5xx: nginx's HTML page for 502/503/504 (what sits in front of the Bot API), a
/// Telegram-style envelope otherwise.
fn server_error(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if matches!(code, 502..=504) {
        let reason = status.canonical_reason().unwrap_or("Error");
        let page = format!(
            "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        );
        return (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
            page,
        )
            .into_response();
    }
    let description = status.canonical_reason().unwrap_or("Internal Server Error");
    err(&ApiError::new(status.as_u16(), description))
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnKill>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((token, method)) = split_path(uri.path()) else {
        return err(&ApiError::not_found());
    };
    let method_lower = method.to_ascii_lowercase();
    let (bot, fault, username) = {
        let mut st = shared.lock();
        st.count_call(&method_lower);
        let Some(bot) = st.bot_by_token(&token) else {
            tracing::debug!(method, "telegram simulator: unknown token");
            return err(&ApiError::unauthorized());
        };
        let fault = st.take_fault(bot, &method_lower);
        (bot, fault, st.username(bot).to_owned())
    };
    tracing::debug!(bot = %username, method, fault = ?fault, "telegram simulator request");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params = match Params::parse(uri.query(), content_type, &body) {
        Ok(p) => p,
        Err(e) => return err(&e),
    };
    match fault {
        None => dispatch(&shared, bot, &method_lower, &params, true).await,
        Some(Fault::ServerError(code)) => server_error(code),
        Some(Fault::Api {
            code,
            description,
            retry_after,
            migrate_to_chat_id,
        }) => {
            if code == 429 {
                shared.lock().count_too_many();
            }
            err(&ApiError {
                code,
                description,
                retry_after,
                migrate_to_chat_id,
            })
        }
        Some(Fault::Timeout(hold)) => {
            let mut stop = shared.shutdown.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(hold) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            dispatch(&shared, bot, &method_lower, &params, false).await
        }
        Some(Fault::ReplyLost) => {
            let _delivered = dispatch(&shared, bot, &method_lower, &params, true).await;
            conn.trip();
            Response::new(Body::empty())
        }
    }
}

/// Runs one method. `commit == false` computes the answer without changing anything.
async fn dispatch(
    shared: &Arc<Shared>,
    bot: usize,
    method: &str,
    params: &Params,
    commit: bool,
) -> Response {
    let now = Instant::now();
    match method {
        "getme" => ok(&shared.lock().get_me(bot)),
        "getupdates" => get_updates(shared, bot, params).await,
        "sendmessage" => {
            let answer = shared.lock().send_message(bot, params, commit, now);
            recorded(shared, bot, "sendMessage", answer, commit)
        }
        "senddocument" => {
            let answer = shared.lock().send_document(bot, params, commit, now);
            recorded(shared, bot, "sendDocument", answer, commit)
        }
        "editmessagetext" => {
            let answer = shared.lock().edit_message_text(bot, params, commit, now);
            recorded(shared, bot, "editMessageText", answer, commit)
        }
        "answercallbackquery" => {
            let answer = shared.lock().answer_callback(bot, params, commit);
            recorded(shared, bot, "answerCallbackQuery", answer, commit)
        }
        "setmycommands" => match shared.lock().set_my_commands(bot, params, commit) {
            Ok(b) => ok(&b),
            Err(e) => err(&e),
        },
        "getmycommands" => ok(&shared.lock().get_my_commands(bot)),
        "getchatmember" => match shared.lock().get_chat_member(bot, params) {
            Ok(member) => ok(&member),
            Err(e) => err(&e),
        },
        // Shows a status for a few seconds, posts nothing: not in `sent`, nor in `rejections`.
        "sendchataction" => match shared.lock().send_chat_action(bot, params) {
            Ok(b) => ok(&b),
            Err(e) => err(&e),
        },
        "deletewebhook" => ok(&true),
        "getwebhookinfo" => ok(&WebhookInfo {
            url: "",
            has_custom_certificate: false,
            pending_update_count: shared.lock().pending(bot),
        }),
        _ => err(&ApiError::not_found()),
    }
}

/// The answer to a call that changes something; a refusal is recorded (see
/// [`super::Simulator::rejections`]) unless nothing was to be committed anyway.
fn recorded<T: Serialize>(
    shared: &Arc<Shared>,
    bot: usize,
    method: &str,
    answer: Result<T, ApiError>,
    commit: bool,
) -> Response {
    match answer {
        Ok(value) => ok(&value),
        Err(e) => {
            if commit {
                shared.lock().reject(bot, method, &e);
            }
            err(&e)
        }
    }
}

/// Longest long poll granted, in seconds.
const MAX_POLL_SECS: i64 = 50;

/// `getUpdates` with long polling. A newer request for the same bot ends this one with 409.
async fn get_updates(shared: &Arc<Shared>, bot: usize, params: &Params) -> Response {
    let offset = params.int("offset").ok().flatten();
    let limit = params
        .int("limit")
        .ok()
        .flatten()
        .filter(|l| *l > 0)
        .map_or(100, |l| l.min(100));
    let limit = usize::try_from(limit).unwrap_or(100);
    // Capped so that no request can overflow the deadline.
    let timeout = params
        .int("timeout")
        .ok()
        .flatten()
        .unwrap_or(0)
        .clamp(0, MAX_POLL_SECS);
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(u64::try_from(timeout).unwrap_or(0));

    let mut changes = shared.watchers[bot].subscribe();
    let mut stop = shared.shutdown.subscribe();
    let ticket = shared.lock().poll_begin(bot, offset);
    loop {
        let check = shared.lock().poll_check(bot, ticket, limit);
        match check {
            PollCheck::Conflict => return err(&ApiError::conflict()),
            PollCheck::Shutdown(batch) => return ok(&batch),
            PollCheck::Batch(batch) => {
                if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                    return ok(&batch);
                }
            }
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return ok(&Vec::<()>::new());
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            split_path("/bot123:ABC/getMe"),
            Some(("123:ABC".to_owned(), "getMe"))
        );
        assert_eq!(
            split_path("/bot123%3AABC/SendMessage"),
            Some(("123:ABC".to_owned(), "SendMessage"))
        );
        assert_eq!(split_path("/123/getMe"), None);
        assert_eq!(split_path("/bot123/"), None);
        assert_eq!(split_path("/file/bot123/x/y"), None);
        assert_eq!(percent_decode("%4"), "%4");
    }
}
