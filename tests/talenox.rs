//! The Talenox client against the fake Talenox on loopback: the fixtures read, leave paging over
//! three pages, and each failure named (401, 429 waited out or refused, 500, an HTML page, a
//! hang past the timeout, nobody listening).

mod common;

use std::time::Duration;

use chrono::NaiveDate;
use herald::clock::Clock;
use herald::config::Token;
use herald::sources::talenox::{LeaveStatus, TalenoxClient, TalenoxError, TalenoxSettings};
use herald_sim::talenox::{FakeTalenox, TalenoxFault, TalenoxRoute, TOKEN};

fn settings(fake: &FakeTalenox) -> TalenoxSettings {
    TalenoxSettings {
        api_url: fake.api_url(),
        timeout: Duration::from_secs(5),
    }
}

fn client(fake: &FakeTalenox, clock: Clock) -> TalenoxClient {
    TalenoxClient::new(settings(fake), Token::new(TOKEN.to_owned()), clock).expect("client")
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn manual_clock() -> Clock {
    Clock::manual("2026-08-10T01:00:00Z".parse().expect("instant"))
}

#[tokio::test]
async fn the_fixtures_are_read_with_bearer_auth() {
    let fake = FakeTalenox::start().await.expect("fake");
    let client = client(&fake, Clock::system());
    let employees = client.employees().await.expect("employees");
    assert_eq!(employees.len(), 3);
    assert_eq!(employees[1].full_name(), "Arjun Nair");
    let leave = client
        .leave_applications(day(2026, 8, 1), day(2026, 8, 31), None)
        .await
        .expect("leave");
    assert_eq!(leave.len(), 2);
    let requests = fake.requests();
    assert!(requests
        .iter()
        .all(|r| r.auth_scheme.as_deref() == Some("Bearer") && r.status == 200));
    let query = &requests[1].query;
    assert!(
        query.contains("overlap_from=2026-08-01") && query.contains("overlap_to=2026-08-31"),
        "{query}"
    );
    assert!(query.contains("limit=50"), "{query}");
}

#[tokio::test]
async fn leave_is_read_over_three_pages_in_order_and_filtered_by_status() {
    let fake = FakeTalenox::start().await.expect("fake");
    let leave: Vec<serde_json::Value> = (1..=120)
        .map(|id| {
            serde_json::json!({
                "id": 1000 + id,
                "employee_id": 211722,
                "employee_name": "Wei Ling Tan",
                "leave_type": "Annual Leave",
                "status": if id % 2 == 0 { "approved" } else { "pending" },
                "start_date": "2026-08-10",
                "end_date": "2026-08-10",
                "start_half_day": false,
                "end_half_day": false,
                "approver_ids": [211845],
                "applied_at": "2026-08-01T03:12:45Z"
            })
        })
        .collect();
    fake.set_leave(leave);
    let client = client(&fake, Clock::system());
    let all = client
        .leave_applications(day(2026, 8, 10), day(2026, 8, 10), None)
        .await
        .expect("leave");
    let ids: Vec<i64> = all.iter().map(|a| a.id).collect();
    assert_eq!(ids, (1001..=1120).collect::<Vec<_>>());
    assert_eq!(fake.count(TalenoxRoute::LeaveApplications), 3);
    let pages: Vec<String> = fake.requests().iter().map(|r| r.query.clone()).collect();
    assert!(!pages[0].contains("last_seen_id"), "{pages:?}");
    assert!(pages[1].contains("last_seen_id=1050"), "{pages:?}");
    assert!(pages[2].contains("last_seen_id=1100"), "{pages:?}");

    let approved = client
        .leave_applications(
            day(2026, 8, 10),
            day(2026, 8, 10),
            Some(LeaveStatus::Approved),
        )
        .await
        .expect("approved");
    assert_eq!(approved.len(), 60);
    assert!(approved.iter().all(|a| a.status == LeaveStatus::Approved));
    let outside = client
        .leave_applications(day(2026, 8, 11), day(2026, 8, 31), None)
        .await
        .expect("none");
    assert!(outside.is_empty());
}

#[tokio::test]
async fn a_refused_token_is_a_401_that_names_the_fix() {
    let fake = FakeTalenox::start().await.expect("fake");
    fake.set_token("rotated-elsewhere");
    let error = client(&fake, Clock::system())
        .employees()
        .await
        .expect_err("401");
    assert!(
        matches!(error, TalenoxError::Unauthorized { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("HTTP 401: Unauthorized"), "{text}");
    assert!(text.contains("Talenox → API Settings"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn a_429_waits_retry_after_on_the_clock_then_succeeds() {
    let fake = FakeTalenox::start().await.expect("fake");
    let clock = manual_clock();
    let client = client(&fake, clock.clone());
    fake.fail_next(
        TalenoxRoute::Employees,
        TalenoxFault::RateLimited { retry_after: 20 },
        1,
    );
    let mut call = std::pin::pin!(client.employees());
    tokio::select! {
        result = &mut call => panic!("finished without waiting: {result:?}"),
        () = clock.until_sleeping(1) => {}
    }
    assert_eq!(
        fake.count(TalenoxRoute::Employees),
        1,
        "nothing sent while waiting"
    );
    clock.advance(chrono::Duration::seconds(19));
    assert!(
        futures::poll!(&mut call).is_pending(),
        "19 s of 20: still waiting"
    );
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(call.await.expect("after the wait").len(), 3);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);
}

#[tokio::test]
async fn a_429_over_the_cap_or_too_often_fails_and_says_so() {
    let fake = FakeTalenox::start().await.expect("fake");
    let clock = manual_clock();
    let client = client(&fake, clock.clone());
    fake.fail_next(
        TalenoxRoute::Employees,
        TalenoxFault::RateLimited { retry_after: 3600 },
        1,
    );
    let error = client.employees().await.expect_err("over the cap");
    assert!(
        matches!(
            error,
            TalenoxError::RateLimited {
                seconds: 3600,
                tries: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("Retry-After 3600 s"), "{error}");

    fake.fail_next(
        TalenoxRoute::Employees,
        TalenoxFault::RateLimited { retry_after: 1 },
        5,
    );
    let mut call = std::pin::pin!(client.employees());
    // Move the clock on whenever the client waits, until it gives up.
    let result = loop {
        tokio::select! {
            result = &mut call => break result,
            () = clock.until_sleeping(1) => {
                clock.advance(chrono::Duration::seconds(1));
                tokio::task::yield_now().await;
            }
        }
    };
    let error = result.expect_err("three 429s");
    assert!(
        matches!(error, TalenoxError::RateLimited { tries: 3, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_500_an_html_page_a_hang_and_a_closed_port_are_each_named() {
    let fake = FakeTalenox::start().await.expect("fake");
    let client = client(&fake, Clock::system());

    fake.fail_next(
        TalenoxRoute::LeaveApplications,
        TalenoxFault::ServerError,
        1,
    );
    let error = client
        .leave_applications(day(2026, 8, 1), day(2026, 8, 2), None)
        .await
        .expect_err("500");
    assert!(
        matches!(error, TalenoxError::Server { status: 500, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("Internal Server Error"),
        "{error}"
    );

    fake.fail_next(TalenoxRoute::Employees, TalenoxFault::HtmlPage(502), 1);
    let error = client.employees().await.expect_err("html");
    assert!(
        matches!(error, TalenoxError::HtmlPage { status: 502, .. }),
        "{error:?}"
    );

    let impatient = TalenoxClient::new(
        TalenoxSettings {
            api_url: fake.api_url(),
            timeout: Duration::from_millis(300),
        },
        Token::new(TOKEN.to_owned()),
        Clock::system(),
    )
    .expect("client");
    fake.fail_next(
        TalenoxRoute::Employees,
        TalenoxFault::Hang(Duration::from_secs(30)),
        1,
    );
    let error = impatient.employees().await.expect_err("timeout");
    assert!(matches!(error, TalenoxError::Timeout { .. }), "{error:?}");

    let url = fake.api_url();
    fake.shutdown();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        format!("http://127.0.0.1:{port}/api/v2")
    };
    assert_ne!(closed, url);
    let nowhere = TalenoxClient::new(
        TalenoxSettings {
            api_url: closed,
            timeout: Duration::from_secs(5),
        },
        Token::new(TOKEN.to_owned()),
        Clock::system(),
    )
    .expect("client");
    let error = nowhere.employees().await.expect_err("refused");
    assert!(matches!(error, TalenoxError::Transport { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot reach Talenox for the employee list"),
        "{error}"
    );
}

#[test]
fn talenox_config_problems_name_the_file_and_field() {
    use herald::commands::check::{check, CheckOptions};
    let deployment = common::Deployment::example();
    deployment.append(
        "herald.toml",
        r#"
[talenox]
api_token = { source = "file", provider = "vault", id = "talenox/api_token" }
api_url = "http://api.talenox.com/api/v2"
timeout_seconds = 0
colour = "blue"
"#,
    );
    deployment.append(
        "gymbooker.toml",
        "\n[[jobs]]\nname = \"gym-pulse\"\nkind = \"post\"\ncron = \"0 9 * * *\"\ntimezone = \"Asia/Singapore\"\nthread = \"gym\"\ntemplate = \"team_pulse.html\"\nnag_after_days = 3\ndays_ahead = 0\n",
    );
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
        "bots/gymbooker.toml: jobs[0].days_ahead: must be 1 to 30 days",
        "bots/gymbooker.toml: jobs[0].days_ahead: only jobs of kind cake_reminder take days_ahead (this one is post)",
        "bots/gymbooker.toml: jobs[0].nag_after_days: only jobs of kind team_pulse take nag_after_days (this one is post)",
        "bots/herald.toml: talenox.api_token.id: \"talenox/api_token\" is not a JSON pointer into the secrets file (it starts with /, e.g. /talenox/api_token)",
        "bots/herald.toml: talenox.api_token.provider: secret provider \"vault\" is not declared in bots/herald.toml [secret_providers]",
        "bots/herald.toml: talenox.api_url: \"http://api.talenox.com/api/v2\" must be an https URL (plain http only to localhost)",
        "bots/herald.toml: talenox.colour: unknown key",
        "bots/herald.toml: talenox.timeout_seconds: must be 1 to 300 seconds",
    ];
    assert_eq!(lines, expect, "{lines:#?}");
}

#[test]
fn a_team_pulse_without_talenox_and_an_unresolvable_token_are_refused() {
    use herald::commands::check::{check, CheckOptions};
    let deployment = common::Deployment::example();
    deployment.edit(
        "clawrence.toml",
        "kind = \"post\"\ncron = \"0 9",
        "kind = \"team_pulse\"\ncron = \"0 9",
    );
    let run_check = |d: &common::Deployment| -> Vec<String> {
        check(
            d.path(),
            &CheckOptions {
                secrets_override: Some(d.secrets.clone()),
                skip_secrets: false,
            },
        )
        .expect("check runs")
        .iter()
        .map(|f| f.to_string())
        .collect()
    };
    assert_eq!(
        run_check(&deployment),
        ["bots/clawrence.toml: jobs[0].kind: the team pulse reads Talenox: add [talenox] to bots/herald.toml (see HR rituals in the README)"]
    );
    deployment.append(
        "herald.toml",
        "\n[talenox]\napi_token = { source = \"file\", provider = \"local\", id = \"/talenox/api_token\" }\n",
    );
    let lines = run_check(&deployment);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            "bots/herald.toml: talenox.api_token: file:local:/talenox/api_token: secrets file "
        ) && lines[0].ends_with("has no value at /talenox/api_token"),
        "{lines:#?}"
    );
    FakeTalenox::write_secrets(&deployment.secrets).expect("secrets");
    assert_eq!(run_check(&deployment), Vec::<String>::new());

    // The token pasted into a config file is found like a bot token, and never echoed.
    deployment.append("roster.toml", &format!("\n# talenox token: {TOKEN}\n"));
    let lines = run_check(&deployment);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("bots/roster.toml: line ")
            && lines[0].ends_with(": the secret of talenox.api_token is written here in plain text; keep it only in the secrets file and refer to it with { source = ... }"),
        "{lines:#?}"
    );
    assert!(!lines[0].contains(TOKEN));
}

#[test]
fn herald_schedule_lists_the_pulse_and_the_cake_reminder() {
    let deployment = common::Deployment::example();
    deployment.append(
        "herald.toml",
        "\n[talenox]\napi_token = { source = \"file\", provider = \"local\", id = \"/talenox/api_token\" }\n",
    );
    deployment.edit(
        "clawrence.toml",
        "kind = \"post\"\ncron = \"0 9",
        "kind = \"team_pulse\"\ncron = \"0 9",
    );
    deployment.append(
        "clawrence.toml",
        "\n[[jobs]]\nname = \"cake-reminder\"\nkind = \"cake_reminder\"\ncron = \"0 10 * * *\"\ntimezone = \"Asia/Singapore\"\nthread = \"pulse\"\ndays_ahead = 3\n",
    );
    let now = "2026-11-23T00:30:00Z".parse().expect("instant");
    let text = herald::commands::schedule::schedule(deployment.path(), 3, now).expect("listed");
    for needle in [
        "team-pulse (clawrence -> #pulse, \"0 9 * * MON-FRI\" Asia/Singapore",
        "cake-reminder (clawrence -> #pulse, \"0 10 * * *\" Asia/Singapore",
        "Mon 2026-11-23 10:00",
        "Wed 2026-11-25 10:00",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
}
