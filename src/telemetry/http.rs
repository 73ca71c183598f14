//! `herald run --http 127.0.0.1:9464`: `/healthz` (200 while the process runs), `/readyz`
//! (200 when [`Readiness`] says so, else 503 with a JSON body naming what is not ready) and
//! `/metrics` (OpenMetrics text, [`super::metrics`]).
//!
//! A plain HTTP/1.1 server on hyper (already in the build through reqwest), off unless asked
//! for, on loopback unless `--http-public` (or `public = true` in `[http]`) says otherwise: the
//! metrics name jobs and capabilities, and nothing here is authenticated. Each connection is
//! its own task, at most [`MAX_CONNECTIONS`] at once, with a header deadline, so a stuck
//! scraper costs one connection and nothing else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use super::listen::HttpSettings;
use super::metrics::{self, ScrapeState};
use super::readiness::Readiness;

/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send its request headers.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// How long the server waits after a failed `accept` before the next.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Why the health endpoints could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for --http on {listen}: {source}")]
pub struct BindError {
    listen: SocketAddr,
    source: std::io::Error,
}

/// The bound listener, before it serves.
pub struct HealthServer {
    listener: TcpListener,
    readiness: Readiness,
}

impl HealthServer {
    /// Binds `settings.listen` (a taken port fails here, before anything else started).
    pub async fn bind(settings: HttpSettings, readiness: Readiness) -> Result<Self, BindError> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| BindError {
                listen: settings.listen,
                source,
            })?;
        Ok(Self {
            listener,
            readiness,
        })
    }

    /// The address it listens on (the port, when 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves in a task of its own until [`ServedHealth::stop`] (or until dropped).
    pub fn spawn(self) -> ServedHealth {
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.serve(stop.clone()));
        ServedHealth {
            stop,
            task: Some(task),
        }
    }

    /// Serves until `stop`; connections still open then are closed.
    pub async fn serve(self, stop: CancellationToken) {
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        if let Some(addr) = self.local_addr() {
            tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
        }
        loop {
            let permit = tokio::select! {
                _ = stop.cancelled() => break,
                permit = limit.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = self.listener.accept() => accepted,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let (stream, _) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: this connection is lost, the server goes on
                    // after a pause (accepting again at once would fail again, in a busy loop).
                    tracing::warn!(error = %e, "could not accept a health connection");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_PAUSE) => continue,
                    }
                }
            };
            let readiness = self.readiness.clone();
            connections.spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let readiness = readiness.clone();
                    async move { Ok::<_, Infallible>(answer(&request, &readiness).await) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_DEADLINE)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "a health connection ended with an error");
                }
            });
        }
        connections.shutdown().await;
    }
}

/// The health endpoints being served; dropped (a start that failed), they stop at once.
pub struct ServedHealth {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServedHealth {
    /// Stops serving and waits until the listener is closed.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "the health endpoints' task failed");
            }
        }
    }
}

impl Drop for ServedHealth {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type Answer = Response<Full<Bytes>>;

async fn answer(request: &Request<Incoming>, readiness: &Readiness) -> Answer {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match request.uri().path() {
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let report = readiness.check();
            let status = if report.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::to_string(&report).unwrap_or_else(|_| "{}".to_owned());
            respond(status, "application/json", body + "\n")
        }
        "/metrics" => match scrape(readiness).await {
            Ok(text) => respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        },
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: herald serves /healthz, /readyz and /metrics\n",
        ),
    }
}

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
enum ScrapeError {
    #[error("metrics could not be read from the database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("metrics could not be written: {0}")]
    Encode(#[from] std::fmt::Error),
}

/// The counters, plus what is read now: the outbox, the lease, readiness, the last probe.
async fn scrape(readiness: &Readiness) -> Result<String, ScrapeError> {
    let mut state = ScrapeState {
        ready: readiness.check().ready,
        lease: readiness.lease(),
        ..ScrapeState::default()
    };
    if let Some(store) = readiness.store() {
        let mut conn = store.reader().acquire().await?;
        state.outbox = crate::outbox::depth(&mut conn).await?;
        if let Some(snapshot) = crate::health::latest(&mut conn).await? {
            state.capabilities = snapshot
                .report
                .checks
                .into_iter()
                .map(|check| (check.capability, check.verdict.severity()))
                .collect();
        }
    }
    Ok(metrics::encode(metrics::process(), &state)?)
}

fn plain(status: StatusCode, text: &str) -> Answer {
    respond(status, "text/plain; charset=utf-8", text.to_owned())
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
