//! The Xero client against the fake Xero (`herald_sim::xero`) on loopback: refresh-token
//! rotation saved before use (and across a crash), 401/429/5xx/HTML/validation handling,
//! paging, idempotent authorisation, the headers of every request, the `[xero]` config checks,
//! and `herald xero connect` end to end (the real binary).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::clock::Clock;
use herald::commands::check::{check, CheckOptions};
use herald::config::model::{DeploymentFile, SecretProvider};
use herald::config::{SecretRef, SecretStore, Token};
use herald::sources::xero::model::parse_invoices;
use herald::sources::xero::{
    Invoice, InvoiceStatus, RefreshTokenStore, SecretFileRefreshToken, XeroClient, XeroCredentials,
    XeroError, XeroSettings,
};
use herald_sim::xero::{FakeXero, FakeXeroConfig, XeroFault, XeroInvoice, XeroRoute, XeroStatus};

const TENANT: &str = "70784a63-d24b-46a9-a4db-0e70a274b056";
const DRAFT: &str = "5f1c2b9e-8d7a-4e6f-b5c4-3a2b1c0d9e8f";

async fn fake() -> FakeXero {
    let fake = FakeXero::start(FakeXeroConfig::default())
        .await
        .expect("fake xero starts");
    fake.seed_fixtures();
    fake
}

fn settings(fake: &FakeXero) -> XeroSettings {
    XeroSettings {
        api_url: fake.api_url(),
        identity_url: fake.identity_url(),
        connections_url: fake.connections_url(),
        tenant_id: TENANT.to_owned(),
        timeout: Duration::from_secs(10),
    }
}

fn credentials() -> XeroCredentials {
    let defaults = FakeXeroConfig::default();
    XeroCredentials {
        client_id: Token::new(defaults.client_id),
        client_secret: Token::new(defaults.client_secret),
    }
}

/// An in-memory refresh token store whose saves can be made to fail.
struct Memory {
    token: Mutex<String>,
    fail: AtomicBool,
    saves: AtomicUsize,
}

impl Memory {
    fn new(token: &str) -> Arc<Memory> {
        Arc::new(Memory {
            token: Mutex::new(token.to_owned()),
            fail: AtomicBool::new(false),
            saves: AtomicUsize::new(0),
        })
    }

    fn current(&self) -> String {
        self.token.lock().unwrap().clone()
    }
}

impl RefreshTokenStore for Memory {
    fn load(&self) -> Result<Token, String> {
        Ok(Token::new(self.current()))
    }

    fn save(&self, token: &Token) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("disk full (test)".into());
        }
        *self.token.lock().unwrap() = token.expose().to_owned();
        self.saves.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn memory_client(fake: &FakeXero) -> (XeroClient, Arc<Memory>) {
    let store = Memory::new(&fake.refresh_token());
    let client = XeroClient::new(
        settings(fake),
        credentials(),
        store.clone(),
        Clock::system(),
    )
    .expect("client");
    (client, store)
}

/// A private secrets file holding the Xero credentials, and a store over it.
struct SecretsDir {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SecretsDir {
    fn new(refresh_token: &str) -> SecretsDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.json");
        let defaults = FakeXeroConfig::default();
        let doc = serde_json::json!({ "xero": {
            "client_id": defaults.client_id,
            "client_secret": defaults.client_secret,
            "refresh_token": refresh_token,
        }});
        std::fs::write(&path, doc.to_string()).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        SecretsDir { _dir: dir, path }
    }

    /// A new store, as a restarted process would have (nothing cached).
    fn store(&self) -> Arc<SecretStore> {
        let mut secret_providers = BTreeMap::new();
        secret_providers.insert(
            "local".to_owned(),
            SecretProvider {
                path: self.path.display().to_string(),
                allow_symlink: false,
            },
        );
        let deployment = DeploymentFile {
            secret_providers,
            ..Default::default()
        };
        Arc::new(SecretStore::new(&deployment, Path::new("/"), None))
    }

    fn on_disk(&self) -> String {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&self.path).expect("read"))
                .expect("json");
        doc.pointer("/xero/refresh_token")
            .and_then(|v| v.as_str())
            .expect("a refresh token on disk")
            .to_owned()
    }

    fn client(&self, fake: &FakeXero) -> XeroClient {
        let reference = SecretRef::File {
            provider: "local".into(),
            id: "/xero/refresh_token".into(),
        };
        let store = SecretFileRefreshToken::new(self.store(), reference).expect("file ref");
        XeroClient::new(
            settings(fake),
            credentials(),
            Arc::new(store),
            Clock::system(),
        )
        .expect("client")
    }
}

/// A fixture invoice under a new id, number and contact.
fn invoice_like(n: usize) -> XeroInvoice {
    let mut invoice = FakeXero::fixture_invoices().remove(0);
    invoice.invoice_id = format!("00000000-0000-4000-8000-{n:012}");
    invoice.number = format!("INV-{:04}", 100 + n);
    invoice.contact_name = format!("Customer {n}");
    invoice
}

fn assert_clean(text: &str, fake: &FakeXero) {
    let defaults = FakeXeroConfig::default();
    for secret in [
        defaults.client_secret.as_str(),
        defaults.refresh_token.as_str(),
        "fake-refresh-",
        "fake-access-",
        fake.refresh_token().as_str(),
    ] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

#[tokio::test]
async fn the_rotated_refresh_token_is_saved_before_use_and_survives_a_crash() {
    let fake = fake().await;
    let initial = fake.refresh_token();
    let secrets = SecretsDir::new(&initial);

    // Refresh, then "crash": drop the client without ever using the access token.
    let client = secrets.client(&fake);
    client.refresh_now().await.expect("refreshes");
    drop(client);
    assert_eq!(
        fake.count(XeroRoute::Invoices),
        0,
        "nothing used the access token"
    );
    let rotated = fake.refresh_token();
    assert_ne!(rotated, initial);
    assert_eq!(
        secrets.on_disk(),
        rotated,
        "the new refresh token is on disk"
    );
    let mode = std::fs::metadata(&secrets.path)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A restarted process reads it from disk and it works.
    let restarted = secrets.client(&fake);
    let invoices = restarted
        .invoices(&[], None)
        .await
        .expect("works after restart");
    assert_eq!(invoices.len(), 4);
    assert_eq!(fake.refreshes(), 2);
    assert_eq!(secrets.on_disk(), fake.refresh_token());

    // The old one is rejected, with the reconnect error.
    let stale = secrets
        .client(&fake)
        .starting_from(Token::new(initial.clone()));
    let err = stale.refresh_now().await.expect_err("old token refused");
    assert!(matches!(err, XeroError::ReconnectNeeded), "{err}");
    assert!(err.needs_reconnect());
    assert!(err.to_string().contains("herald xero connect"), "{err}");
    assert_clean(&err.to_string(), &fake);
}

#[tokio::test]
async fn a_refresh_token_that_cannot_be_saved_fails_the_call_before_any_api_request() {
    let fake = fake().await;
    let (client, store) = memory_client(&fake);
    store.fail.store(true, Ordering::SeqCst);
    let err = client.invoices(&[], None).await.expect_err("save failed");
    assert!(
        matches!(err, XeroError::RefreshTokenNotSaved { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("could not save it (disk full (test))"),
        "{text}"
    );
    assert_clean(&text, &fake);
    assert_eq!(fake.refreshes(), 1);
    assert_eq!(
        fake.count(XeroRoute::Invoices),
        0,
        "the new access token was never used"
    );

    // Once saving works again, the rotated token kept in memory carries on.
    store.fail.store(false, Ordering::SeqCst);
    let invoices = client.invoices(&[], None).await.expect("recovers");
    assert_eq!(invoices.len(), 4);
    assert_eq!(store.current(), fake.refresh_token());
    assert_eq!(store.saves.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_request_retried_once() {
    let fake = fake().await;
    let (client, _) = memory_client(&fake);
    client.invoices(&[], None).await.expect("first call");
    assert_eq!(fake.refreshes(), 1);
    // Cached: no second refresh.
    client.invoice(DRAFT).await.expect("second call");
    assert_eq!(fake.refreshes(), 1);

    fake.clear_requests();
    fake.expire_access_tokens();
    let invoices = client.invoices(&[], None).await.expect("after expiry");
    assert_eq!(invoices.len(), 4);
    assert_eq!(fake.refreshes(), 2, "exactly one refresh");
    let statuses: Vec<(Option<XeroRoute>, u16)> = fake
        .requests()
        .iter()
        .map(|r| (r.route, r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (Some(XeroRoute::Invoices), 401),
            (Some(XeroRoute::Token), 200),
            (Some(XeroRoute::Invoices), 200),
        ]
    );

    // A second 401 in a row is an error, after one refresh only.
    fake.fail_next(XeroRoute::Invoice, XeroFault::TokenExpired, 2);
    let err = client.invoice(DRAFT).await.expect_err("401 twice");
    assert!(matches!(err, XeroError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("TokenExpired"), "{err}");
    assert_eq!(fake.refreshes(), 3);
    assert_clean(&err.to_string(), &fake);
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let fake = fake().await;
    let (client, _) = memory_client(&fake);
    let client = Arc::new(client);
    let calls = (0..8).map(|_| {
        let client = Arc::clone(&client);
        async move { client.invoices(&["AUTHORISED"], None).await }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.expect("ok").len(), 3);
    }
    assert_eq!(fake.refreshes(), 1);
    assert_eq!(fake.count(XeroRoute::Token), 1);
}

#[tokio::test]
async fn the_access_token_is_renewed_a_minute_before_it_expires() {
    let fake = fake().await;
    let start = "2026-08-07T01:00:00Z".parse().expect("instant");
    let clock = Clock::manual(start);
    let client = XeroClient::new(
        settings(&fake),
        credentials(),
        Memory::new(&fake.refresh_token()),
        clock.clone(),
    )
    .expect("client");
    client.invoices(&[], None).await.expect("call");
    clock.advance(chrono::Duration::seconds(1800 - 61));
    client.invoices(&[], None).await.expect("call");
    assert_eq!(fake.refreshes(), 1, "still fresh 61 s before expiry");
    clock.advance(chrono::Duration::seconds(2));
    client.invoices(&[], None).await.expect("call");
    assert_eq!(fake.refreshes(), 2, "renewed 59 s before expiry");
}

/// A client on a manual clock: its `Retry-After` waits end only when the test moves it.
fn manual_clock_client(fake: &FakeXero) -> (XeroClient, Clock) {
    let clock = Clock::manual("2026-11-20T02:00:00Z".parse().expect("instant"));
    let client = XeroClient::new(
        settings(fake),
        credentials(),
        Memory::new(&fake.refresh_token()),
        clock.clone(),
    )
    .expect("client");
    (client, clock)
}

#[tokio::test]
async fn a_429_waits_retry_after_then_succeeds() {
    let fake = fake().await;
    let (client, clock) = manual_clock_client(&fake);
    client.connections().await.expect("warm up the token");
    fake.clear_requests();
    fake.fail_next(
        XeroRoute::Invoices,
        XeroFault::RateLimited { retry_after: 30 },
        1,
    );
    let mut call = std::pin::pin!(client.invoices(&[], None));
    tokio::select! {
        result = &mut call => panic!("finished without waiting: {result:?}"),
        () = clock.until_sleeping(1) => {}
    }
    let statuses =
        |fake: &FakeXero| -> Vec<u16> { fake.requests().iter().map(|r| r.status).collect() };
    assert_eq!(statuses(&fake), vec![429], "nothing sent while waiting");
    clock.advance(chrono::Duration::seconds(29));
    assert!(
        futures::poll!(&mut call).is_pending(),
        "29 s of a 30 s Retry-After: still waiting"
    );
    assert_eq!(statuses(&fake), vec![429]);
    clock.advance(chrono::Duration::seconds(1));
    let invoices = call.await.expect("after the wait");
    assert_eq!(invoices.len(), 4);
    assert_eq!(statuses(&fake), vec![429, 200]);
}

#[tokio::test]
async fn a_retry_after_over_the_cap_fails_the_call_and_names_the_wait() {
    let fake = fake().await;
    let (client, clock) = manual_clock_client(&fake);
    client.connections().await.expect("warm up the token");
    fake.clear_requests();

    // A daily limit: Xero asks for an hour. Nothing waits, nothing is sent again.
    fake.fail_next(
        XeroRoute::Invoices,
        XeroFault::RateLimited { retry_after: 3600 },
        1,
    );
    let err = tokio::select! {
        result = client.invoices(&[], None) => result.expect_err("over the cap"),
        () = clock.until_sleeping(1) => panic!("waited out a 3600 s Retry-After"),
    };
    assert!(
        matches!(err, XeroError::RetryAfterTooLong { seconds: 3600, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("Xero asked to wait 3600 s, more than the 60 s cap (GET Invoices page 1, rate limit: minute)"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429], "not sent again");

    // The token endpoint's 429 is capped the same way, and names the refresh.
    fake.expire_access_tokens();
    fake.fail_next(
        XeroRoute::Token,
        XeroFault::RateLimited { retry_after: 61 },
        1,
    );
    let err = tokio::select! {
        result = client.invoice(DRAFT) => result.expect_err("over the cap"),
        () = clock.until_sleeping(1) => panic!("waited out a 61 s Retry-After"),
    };
    assert!(
        err.to_string()
            .starts_with("Xero asked to wait 61 s, more than the 60 s cap (the token refresh"),
        "{err}"
    );
    assert_clean(&err.to_string(), &fake);

    // Exactly the cap is waited out.
    fake.fail_next(
        XeroRoute::Token,
        XeroFault::RateLimited { retry_after: 60 },
        1,
    );
    let mut call = std::pin::pin!(client.invoice(DRAFT));
    tokio::select! {
        result = &mut call => panic!("finished without waiting: {result:?}"),
        () = clock.until_sleeping(1) => {}
    }
    clock.advance(chrono::Duration::seconds(60));
    let invoice = call.await.expect("after a 60 s wait");
    assert_eq!(invoice.invoice_id, DRAFT);
}

#[tokio::test]
async fn server_errors_html_pages_and_transport_failures_are_named() {
    let fake = fake().await;
    let (client, _) = memory_client(&fake);

    fake.fail_next(XeroRoute::Invoices, XeroFault::ServerError, 1);
    let err = client.invoices(&[], None).await.expect_err("500");
    assert!(
        matches!(err, XeroError::Server { status: 500, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("Xero failed with HTTP 500: An error occurred in Xero."),
        "{err}"
    );

    fake.fail_next(XeroRoute::Invoice, XeroFault::HtmlPage(502), 1);
    let err = client.invoice(DRAFT).await.expect_err("html");
    assert_eq!(
        err.to_string(),
        "Xero returned an HTML error page (status 502)"
    );

    fake.fail_next(XeroRoute::Token, XeroFault::HtmlPage(503), 1);
    fake.expire_access_tokens();
    let err = client
        .invoice(DRAFT)
        .await
        .expect_err("html from the token endpoint");
    assert_eq!(
        err.to_string(),
        "Xero returned an HTML error page (status 503)"
    );

    let err = client.invoice("no-such-invoice").await.expect_err("404");
    assert_eq!(
        err.to_string(),
        "Xero has no invoice no-such-invoice (HTTP 404)"
    );

    // Nothing listens: a transport error naming the call.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut nowhere = settings(&fake);
    nowhere.identity_url = format!("http://127.0.0.1:{port}");
    let client =
        XeroClient::new(nowhere, credentials(), Memory::new("x"), Clock::system()).expect("client");
    let err = client.invoices(&[], None).await.expect_err("refused");
    assert!(matches!(err, XeroError::Transport { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot reach Xero for the token refresh: "),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
}

#[tokio::test]
async fn a_slow_xero_times_out_and_a_retry_with_the_same_key_changes_nothing_twice() {
    let fake = fake().await;
    let mut quick = settings(&fake);
    quick.timeout = Duration::from_secs(1);
    let client = XeroClient::new(
        quick,
        credentials(),
        Memory::new(&fake.refresh_token()),
        Clock::system(),
    )
    .expect("client");
    client.connections().await.expect("warm up");

    fake.fail_next(
        XeroRoute::Invoices,
        XeroFault::Hang(Duration::from_secs(3)),
        1,
    );
    let err = client.invoices(&[], None).await.expect_err("timeout");
    assert!(matches!(err, XeroError::Timeout { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "Xero did not answer GET Invoices page 1 within 1 s"
    );

    // The authorisation went through although the client gave up: retrying with the same key
    // gets the recorded answer, and the invoice changed once.
    fake.fail_next(
        XeroRoute::Authorise,
        XeroFault::Hang(Duration::from_millis(1500)),
        1,
    );
    let err = client
        .authorise(DRAFT, "card-7")
        .await
        .expect_err("timeout");
    assert!(matches!(err, XeroError::Timeout { .. }), "{err}");
    common::try_wait_until(common::PATIENCE, || {
        std::future::ready(fake.authorisations() > 0)
    })
    .await;
    assert_eq!(
        fake.authorisations(),
        1,
        "processed after the client gave up"
    );
    let retried = client.authorise(DRAFT, "card-7").await.expect("replayed");
    assert_eq!(retried.status, InvoiceStatus::Authorised);
    assert_eq!(fake.authorisations(), 1);
}

#[tokio::test]
async fn invalid_grant_asks_the_operator_to_reconnect() {
    let fake = fake().await;
    let (client, _) = memory_client(&fake);
    fake.set_refresh_token("someone-else-reconnected");
    let err = client.invoices(&[], None).await.expect_err("invalid_grant");
    assert!(matches!(err, XeroError::ReconnectNeeded), "{err}");
    let text = err.to_string();
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(
        text.contains("pipe it into `herald xero connect`"),
        "{text}"
    );
    assert_clean(&text, &fake);

    // Wrong client credentials are a different error.
    let mut bad = credentials();
    bad.client_secret = Token::new("wrong-secret".into());
    let client = XeroClient::new(
        settings(&fake),
        bad,
        Memory::new(&fake.refresh_token()),
        Clock::system(),
    )
    .expect("client");
    let err = client
        .invoices(&[], None)
        .await
        .expect_err("invalid_client");
    assert!(
        matches!(err, XeroError::TokenRefused { status: 400, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(!err.to_string().contains("wrong-secret"));
}

/// The fake's invoices and herald's parser meet only on the wire: what herald reads from the
/// fake is what herald reads from the recorded answers the fake was seeded from.
#[tokio::test]
async fn herald_reads_the_fakes_invoices_as_it_reads_the_recorded_answers() {
    let fake = fake().await;
    let (client, _) = memory_client(&fake);
    let served = client.invoices(&[], None).await.expect("invoices");
    let recorded: Vec<Invoice> = [
        include_str!("fixtures/xero/xero_invoices_page1.json"),
        include_str!("fixtures/xero/xero_invoice_draft_get.json"),
    ]
    .into_iter()
    .flat_map(|body| parse_invoices(body.as_bytes()).expect("a fixture").invoices)
    .collect();
    assert_eq!(served.len(), 4);
    assert_eq!(served, recorded);
    let draft = client.invoice(DRAFT).await.expect("the draft");
    assert_eq!(draft.status, InvoiceStatus::Draft);
    assert_eq!(Some(&draft), recorded.last());
}

#[tokio::test]
async fn invoices_are_paged_until_the_page_count() {
    let fake = fake().await;
    fake.set_page_size(2);
    fake.insert_invoice(invoice_like(1));
    let (client, _) = memory_client(&fake);
    client.connections().await.expect("warm up");
    fake.clear_requests();

    let invoices = client.invoices(&[], None).await.expect("pages");
    assert_eq!(invoices.len(), 5);
    let ids: Vec<String> = invoices.iter().map(|i| i.invoice_id.clone()).collect();
    let expected: Vec<String> = fake
        .invoices()
        .iter()
        .map(|i| i.invoice_id.clone())
        .collect();
    assert_eq!(ids, expected, "every invoice once, in Xero's order");
    // Five invoices at two a page: pages 1, 2 and 3 (pageCount 3), no fourth request.
    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.route == Some(XeroRoute::Invoices))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(pages, vec!["page=1", "page=2", "page=3"]);

    // Four: exactly two pages.
    fake.set_page_size(4);
    fake.clear_requests();
    fake.insert_invoice(invoice_like(2));
    fake.insert_invoice(invoice_like(3));
    fake.insert_invoice(invoice_like(4));
    let invoices = client.invoices(&[], None).await.expect("pages");
    assert_eq!(invoices.len(), 8);
    assert_eq!(fake.count(XeroRoute::Invoices), 2);

    // Filters travel as Statuses= and where=Type=="...".
    fake.clear_requests();
    let authorised = client
        .invoices(&["AUTHORISED"], Some("ACCREC"))
        .await
        .expect("filtered");
    assert_eq!(authorised.len(), 7, "the draft is left out");
    assert!(authorised
        .iter()
        .all(|i| i.status == InvoiceStatus::Authorised));
    let query = &fake.requests()[0].query;
    assert_eq!(
        query,
        "page=1&Statuses=AUTHORISED&where=Type%3D%3D%22ACCREC%22"
    );
    let drafts = client
        .invoices(&["DRAFT", "SUBMITTED"], None)
        .await
        .expect("drafts");
    assert_eq!(drafts.len(), 1);
    assert!(client
        .invoices(&["AUTHORISED"], Some("ACCPAY"))
        .await
        .expect("none")
        .is_empty());
    let err = client
        .invoices(&["authorised"], None)
        .await
        .expect_err("lower case");
    assert!(matches!(err, XeroError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn authorise_sends_an_idempotency_key_and_one_key_changes_state_once() {
    let fake = fake().await;
    let (client, _) = memory_client(&fake);
    let draft = client.invoice(DRAFT).await.expect("draft");
    assert_eq!(draft.status, InvoiceStatus::Draft);

    let first = client
        .authorise(DRAFT, "card-42-approve")
        .await
        .expect("authorised");
    assert_eq!(first.status, InvoiceStatus::Authorised);
    assert_eq!(first.number, "INV-0060");
    let again = client
        .authorise(DRAFT, "card-42-approve")
        .await
        .expect("same answer");
    assert_eq!(again, first, "the first answer, replayed");
    assert_eq!(fake.authorisations(), 1, "one state change");
    let keys: Vec<Option<String>> = fake
        .requests()
        .iter()
        .filter(|r| r.route == Some(XeroRoute::Authorise))
        .map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(keys, vec![Some("card-42-approve".to_owned()); 2]);
    // The body is the shape of the fixture request.
    let fixture: serde_json::Value = serde_json::from_str(include_str!(
        "fixtures/xero/xero_invoice_authorise_request.json"
    ))
    .expect("fixture");
    let sent = fake
        .requests()
        .into_iter()
        .find(|r| r.route == Some(XeroRoute::Authorise))
        .and_then(|r| r.body)
        .expect("an authorise body");
    assert_eq!(sent, fixture);

    // A new key on an invoice that is no longer a draft: Xero's validation message.
    let err = client
        .authorise(DRAFT, "card-42-approve-again")
        .await
        .expect_err("already authorised");
    assert!(matches!(err, XeroError::Validation { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "Xero rejected the request: Invoice not of valid status for modification"
    );
    assert_eq!(fake.authorisations(), 1);

    // Approved in Xero while the card was open.
    let mut other = FakeXero::fixture_invoices().pop().expect("the draft");
    other.invoice_id = "11111111-2222-4333-8444-555555555555".into();
    other.number = "INV-0061".into();
    fake.insert_invoice(other.clone());
    assert!(fake.set_status(&other.invoice_id, XeroStatus::Authorised));
    let err = client
        .authorise(&other.invoice_id, "card-43-approve")
        .await
        .expect_err("approved elsewhere");
    assert!(matches!(err, XeroError::Validation { .. }), "{err}");
    let now = client.invoice(&other.invoice_id).await.expect("read back");
    assert_eq!(now.status, InvoiceStatus::Authorised);
    assert_eq!(fake.authorisations(), 1);

    // A retry after a lost answer (here: a 500 before processing) with the same key works.
    let mut third = FakeXero::fixture_invoices().pop().expect("the draft");
    third.invoice_id = "22222222-3333-4444-8555-666666666666".into();
    fake.insert_invoice(third.clone());
    fake.fail_next(XeroRoute::Authorise, XeroFault::ServerError, 1);
    assert!(client
        .authorise(&third.invoice_id, "card-44")
        .await
        .is_err());
    let done = client
        .authorise(&third.invoice_id, "card-44")
        .await
        .expect("retried");
    assert_eq!(done.status, InvoiceStatus::Authorised);
    assert_eq!(fake.authorisations(), 2);

    let err = client.authorise(DRAFT, "").await.expect_err("empty key");
    assert!(matches!(err, XeroError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn every_api_request_carries_the_tenant_accept_and_a_bearer_token() {
    let fake = fake().await;
    fake.add_connection("0d7a1c2e-0000-4000-8000-000000000001", "Acme Holdings");
    let (client, _) = memory_client(&fake);
    client.invoices(&["AUTHORISED"], None).await.expect("list");
    client.invoice(DRAFT).await.expect("one");
    client.authorise(DRAFT, "k-1").await.expect("authorise");
    let connections = client.connections().await.expect("connections");
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0].tenant_id, TENANT);
    assert_eq!(connections[0].tenant_name, "Acme Pte Ltd");
    fake.expire_access_tokens();
    client.invoice(DRAFT).await.expect("after a 401");

    let requests = fake.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.route != Some(XeroRoute::Token))
        .collect();
    assert_eq!(api.len(), 6);
    for r in api {
        assert_eq!(r.tenant_id.as_deref(), Some(TENANT), "{r:?}");
        assert_eq!(r.accept.as_deref(), Some("application/json"), "{r:?}");
        assert_eq!(r.auth_scheme.as_deref(), Some("Bearer"), "{r:?}");
    }
    for r in requests
        .iter()
        .filter(|r| r.route == Some(XeroRoute::Token))
    {
        assert_eq!(r.auth_scheme.as_deref(), Some("Basic"), "{r:?}");
        assert_eq!(r.method, "POST");
    }
    assert_clean(&format!("{requests:?} {client:?}"), &fake);
}

#[tokio::test]
async fn a_wrong_tenant_is_refused_with_a_clear_error() {
    let fake = fake().await;
    let mut wrong = settings(&fake);
    wrong.tenant_id = "0d7a1c2e-0000-4000-8000-000000000009".into();
    let client = XeroClient::new(
        wrong,
        credentials(),
        Memory::new(&fake.refresh_token()),
        Clock::system(),
    )
    .expect("client");
    let err = client.invoices(&[], None).await.expect_err("403");
    assert!(matches!(err, XeroError::Forbidden { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("tenant 0d7a1c2e-0000-4000-8000-000000000009 is connected"),
        "{err}"
    );
}

// ----- config and `herald xero connect` -----------------------------------------------------------

fn deployment_with_xero(fake: &FakeXero, tenant_id: &str) -> common::Deployment {
    common::Deployment::with_xero(fake, tenant_id, None)
}

fn connect(deployment: &common::Deployment, stdin: &str) -> (Option<i32>, String, String) {
    let mut child = common::herald()
        .arg("--config")
        .arg(deployment.path())
        .arg("--secrets")
        .arg(&deployment.secrets)
        .args(["xero", "connect"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `herald check` of `deployment` with its own secrets file.
fn check_with_secrets(deployment: &common::Deployment) -> Vec<herald::config::Finding> {
    check(
        deployment.path(),
        &CheckOptions {
            secrets_override: Some(deployment.secrets.clone()),
            skip_secrets: false,
        },
    )
    .expect("check runs")
}

fn secrets_refresh_token(deployment: &common::Deployment) -> Option<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&deployment.secrets).expect("read"))
            .expect("json");
    doc.pointer("/xero/refresh_token")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_xero_connect_saves_the_rotated_token_and_checks_the_tenant() {
    let fake = fake().await;
    let deployment = deployment_with_xero(&fake, TENANT);
    let pasted = fake.refresh_token();

    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| connect(&deployment, &format!("{pasted}\n")));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the new one is saved at file:local:/xero/refresh_token"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Tenant {TENANT} (Acme Pte Ltd) is connected.")),
        "{stdout}"
    );
    let saved = secrets_refresh_token(&deployment).expect("saved");
    assert_eq!(saved, fake.refresh_token());
    assert_ne!(saved, pasted);
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains(&pasted) && !all.contains(&saved), "{all}");
    assert_clean(&all, &fake);
    let mode = std::fs::metadata(&deployment.secrets)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The bot tokens are still there.
    let store = SecretStore::new(
        &deployment.config().deployment,
        deployment.path(),
        Some(&deployment.secrets),
    );
    let claudia = SecretRef::File {
        provider: "local".into(),
        id: "/telegram/claudia".into(),
    };
    assert_eq!(
        store.resolve(&claudia).expect("bot token kept").expose(),
        deployment.tokens["claudia"]
    );

    // `herald check` resolves the [xero] secrets and is clean.
    let findings = check_with_secrets(&deployment);
    assert!(findings.is_empty(), "{findings:?}");

    // Pasting the (now spent) token again: the reconnect error, exit 1, nothing overwritten.
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| connect(&deployment, &format!("{pasted}\n")));
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert_eq!(secrets_refresh_token(&deployment), Some(saved));

    // No token at all: exit 2.
    let (code, _, stderr) = tokio::task::block_in_place(|| connect(&deployment, ""));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("no refresh token on standard input"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_xero_connect_lists_the_tenants_when_the_configured_one_is_missing() {
    let fake = fake().await;
    let other = "0d7a1c2e-0000-4000-8000-000000000009";
    let deployment = deployment_with_xero(&fake, other);
    let pasted = fake.refresh_token();
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| connect(&deployment, &format!("{pasted}\n")));
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "tenant {other} ([xero].tenant_id in bots/herald.toml) is not among its connections: {TENANT} (Acme Pte Ltd)"
        )),
        "{stderr}"
    );
    // The token works, so it is kept.
    assert_eq!(
        secrets_refresh_token(&deployment),
        Some(fake.refresh_token())
    );
    assert_clean(&format!("{stdout}{stderr}"), &fake);

    // Without [xero]: exit 2 and a pointer to the example.
    let plain = common::Deployment::example();
    let (code, _, stderr) = tokio::task::block_in_place(|| connect(&plain, "token\n"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("has no [xero] table"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_xero_connect_beside_a_running_herald_is_refused_with_one_line() {
    let fake = fake().await;
    let deployment = common::Deployment::with_xero(&fake, TENANT, Some(&fake.refresh_token()));
    let sim = deployment.simulator().await;
    let herald = deployment
        .spawn_command(deployment.herald_on_default_db(&sim, &["run", "--poll-seconds", "1"]));
    common::wait_until_polling(&sim, 0, &herald.log).await;
    let before = secrets_refresh_token(&deployment);
    let pasted = fake.refresh_token();
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| connect(&deployment, &format!("{pasted}\n")));
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "herald xero connect: refused: herald pid {} on host ",
            herald.child.id()
        )) && lines[0].contains("holds this deployment's database; stop it first"),
        "{stderr}"
    );
    assert_eq!(fake.refreshes(), 0, "Xero was not asked");
    assert_eq!(secrets_refresh_token(&deployment), before, "nothing saved");
    assert_clean(&format!("{stdout}{stderr}"), &fake);
    herald.terminate();
    let finished = herald.wait().await;
    assert_eq!(finished.code, Some(0), "{}", finished.output);

    // Stopped cleanly, the lease is released: connect goes ahead.
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| connect(&deployment, &format!("{pasted}\n")));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(fake.refreshes(), 1);
}

#[test]
fn xero_config_problems_name_the_file_and_field() {
    let deployment = common::Deployment::example();
    let toml = deployment.path().join("bots/herald.toml");
    let mut text = std::fs::read_to_string(&toml).expect("read");
    text.push_str(
        r#"
[xero]
client_id = { source = "file", provider = "vault", id = "/xero/client_id" }
client_secret = { source = "env", id = "HERALD XERO SECRET" }
refresh_token = { source = "env", id = "HERALD_XERO_REFRESH" }
tenant_id = "Acme"
api_url = "http://api.example.com/api.xro/2.0"
identity_url = "not a url"
colour = "blue"
timeout_seconds = 0
"#,
    );
    std::fs::write(&toml, text).expect("write");
    let findings = check(
        deployment.path(),
        &CheckOptions {
            secrets_override: Some(deployment.secrets.clone()),
            skip_secrets: true,
        },
    )
    .expect("check runs");
    let lines: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    let expect = [
        "bots/herald.toml: xero.api_url: \"http://api.example.com/api.xro/2.0\" must be an https URL (plain http only to localhost)",
        "bots/herald.toml: xero.client_id.provider: secret provider \"vault\" is not declared in bots/herald.toml [secret_providers]",
        "bots/herald.toml: xero.client_secret.id: \"HERALD XERO SECRET\" is not an environment variable name (letters, digits and _)",
        "bots/herald.toml: xero.colour: unknown key",
        "bots/herald.toml: xero.identity_url: \"not a url\" is not a URL",
        "bots/herald.toml: xero.refresh_token: must be a file secret (source = \"file\"): Xero rotates the refresh token on every use and herald writes the new one back, which it cannot do to an environment variable",
        "bots/herald.toml: xero.tenant_id: \"Acme\" is not a Xero tenant id (a GUID like 70784a63-d24b-46a9-a4db-0e70a274b056; `herald xero connect` lists the connected tenants)",
        "bots/herald.toml: xero.timeout_seconds: must be 1 to 300 seconds",
    ];
    assert_eq!(lines, expect, "{lines:#?}");

    // The shipped example (no [xero]) stays clean.
    let clean = common::Deployment::example();
    let findings = check_with_secrets(&clean);
    assert!(findings.is_empty(), "{findings:?}");
}

#[tokio::test]
async fn herald_check_reports_an_unresolvable_xero_secret() {
    let fake = fake().await;
    let deployment = deployment_with_xero(&fake, TENANT);
    // No refresh token in the secrets file yet (connect was never run).
    let findings = check_with_secrets(&deployment);
    let lines: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            "bots/herald.toml: xero.refresh_token: file:local:/xero/refresh_token: secrets file "
        ),
        "{lines:#?}"
    );
    assert!(
        lines[0].ends_with("has no value at /xero/refresh_token"),
        "{lines:#?}"
    );
}
