//! `herald run --http`: `/healthz`, `/readyz` and `/metrics` through the binary, against the
//! simulator. Readiness follows the fleet (ready once every bot polls; 503 naming the
//! scheduler once its task stopped, naming the lease once it is no longer renewed, both by a
//! fault point); the exposition passes a strict line check and its counters move with a
//! scripted burst of commands; a non-loopback address is refused unless allowed.

mod common;

use std::collections::BTreeMap;

use common::{Deployment, Herald};
use herald_sim::xero::{FakeXero, FakeXeroConfig};
use herald_sim::Simulator;

/// The address herald says it serves on (it was given port 0).
async fn served_at(herald: &Herald) -> String {
    let addr = common::find("herald to say where it serves /healthz", || {
        let said = herald.output().lines().find_map(|line| {
            let rest = line
                .split("serving /healthz, /readyz and /metrics")
                .nth(1)?;
            let at = rest.split("addr=").nth(1)?;
            Some(
                at.chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect::<String>(),
            )
        });
        std::future::ready(said)
    })
    .await;
    format!("http://{addr}")
}

/// GET `path`: the status code and the body (`None`: no answer at all).
async fn get(base: &str, path: &str) -> Option<(u16, String)> {
    let response = reqwest::get(format!("{base}{path}")).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.unwrap_or_default()))
}

async fn wait_for_status(base: &str, path: &str, status: u16) -> String {
    common::find(&format!("{path} to answer {status}"), || async move {
        match get(base, path).await {
            Some((code, text)) if code == status => Some(text),
            _ => None,
        }
    })
    .await
}

/// Checks every line of an OpenMetrics exposition against the format (a `# TYPE` before each
/// family's samples, `# HELP`/`# UNIT` lines, samples `name{labels} value`, one `# EOF` at the
/// end) and returns the samples by name and labels.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let comment =
        regex::Regex::new(r"^# (TYPE|HELP|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?$").expect("regex");
    let sample = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$"#,
    )
    .expect("regex");
    let mut families: Vec<String> = Vec::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "no final # EOF:\n{text}");
    for line in &lines[..lines.len() - 1] {
        if let Some(c) = comment.captures(line) {
            if &c[1] == "TYPE" {
                let name = c[2].to_owned();
                assert!(!families.contains(&name), "family {name} declared twice");
                let kind = c.get(3).map_or("", |m| m.as_str()).trim();
                assert!(
                    ["counter", "gauge", "histogram", "info", "unknown"].contains(&kind),
                    "{line}"
                );
                families.push(name);
            }
            continue;
        }
        let c = sample
            .captures(line)
            .unwrap_or_else(|| panic!("not an OpenMetrics line: {line:?}"));
        let name = &c[1];
        assert!(
            families.iter().any(|f| name == f
                || ["_total", "_bucket", "_count", "_sum", "_created"]
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(f))),
            "sample {name} of no declared family"
        );
        let key = format!("{name}{}", c.get(2).map_or("", |m| m.as_str()));
        let value = c[3].parse::<f64>().unwrap_or(f64::NAN);
        assert!(samples.insert(key, value).is_none(), "{line} twice");
    }
    samples
}

async fn scrape(base: &str) -> BTreeMap<String, f64> {
    let (status, text) = get(base, "/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200, "{text}");
    parse_exposition(&text)
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

fn usernames(deployment: &Deployment, name: &str) -> String {
    deployment
        .config()
        .bot(name)
        .expect("identity configured")
        .username
        .clone()
}

async fn started(deployment: &Deployment, sim: &Simulator, fault: &str, args: &[&str]) -> Herald {
    let mut command = deployment.herald(
        sim,
        &["run", "--poll-seconds", "1", "--http", "127.0.0.1:0"],
    );
    command.args(args).env("HERALD_STOP_ON_SIGUSR1", fault);
    deployment.spawn_command(command)
}

#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_while_everything_runs_and_503_naming_the_scheduler_once_it_stopped() {
    let xero = FakeXero::start(FakeXeroConfig::default())
        .await
        .expect("fake Xero starts");
    let defaults = FakeXeroConfig::default();
    let deployment =
        Deployment::with_xero(&xero, &defaults.tenant_id, Some(&defaults.refresh_token));
    let sim = deployment.simulator().await;
    // Two seconds before Monday 09:00 in Singapore: team-pulse's slot comes due.
    let monday = ["--clock-start", "2026-11-23T00:59:58Z"];
    let mut herald = started(&deployment, &sim, "scheduler", &monday).await;
    let base = served_at(&herald).await;
    assert_eq!(wait_for_status(&base, "/healthz", 200).await, "ok\n");
    let ready = wait_for_status(&base, "/readyz", 200).await;
    assert_eq!(ready, "{\"ready\":true,\"not_ready\":[]}\n");

    // The scheduled slot: one run, its lateness observed once.
    let ran = "herald_job_runs_total{job=\"team-pulse\",outcome=\"ran\"}";
    let before = common::find("team-pulse's scheduled run to be counted", || async {
        let samples = scrape(&base).await;
        (value(&samples, ran) == 1.0).then_some(samples)
    })
    .await;
    assert_eq!(
        value(&before, "herald_schedule_lateness_seconds_count"),
        1.0
    );

    // A scripted burst, and the counters it moves.
    assert_eq!(value(&before, "herald_ready"), 1.0);
    assert_eq!(value(&before, "herald_lease_held"), 1.0);
    let lawrence = usernames(&deployment, "lawrence");
    let key = |family: &str, bot: &str, outcome: &str| {
        format!("{family}{{bot=\"{bot}\",outcome=\"{outcome}\"}}")
    };
    // Lawrence's messages (the probe's `sendChatAction` to the operators is no send).
    let messages = || {
        sim.sent_by(&lawrence)
            .iter()
            .filter(|s| s.method == "sendMessage")
            .count()
    };
    let sent_before = messages();
    for _ in 0..3 {
        sim.user_dms(deployment.operator(), &lawrence, "/help");
    }
    sim.user_dms(deployment.operator(), &lawrence, "/frobnicate");
    sim.user_dms(deployment.operator(), &lawrence, "/frobnicate");
    sim.user_dms(deployment.member(), &lawrence, "/status");
    // (Not team-pulse again: a manual run in the minute of its scheduled slot finds it taken.)
    sim.user_dms(
        deployment.operator(),
        &lawrence,
        "/run weekly-call-reminder",
    );
    sim.user_dms(deployment.operator(), &lawrence, "/run capability-probe");
    sim.push_raw_update(&lawrence, serde_json::json!({"message": "not a message"}));
    let handled = key("herald_updates_total", "lawrence", "handled");
    let refused = key("herald_updates_total", "lawrence", "refused");
    let unreadable = key("herald_updates_total", "lawrence", "unreadable");
    let sent = key("herald_sends_total", "lawrence", "sent");
    let probed = "herald_job_runs_total{job=\"capability-probe\",outcome=\"ran\"}";
    let reminded = "herald_job_runs_total{job=\"weekly-call-reminder\",outcome=\"ran\"}";
    let xero_ok = "herald_source_calls_total{source=\"xero\",outcome=\"ok\"}";
    let moved = |after: &BTreeMap<String, f64>, key: &str| value(after, key) - value(&before, key);
    // What the last scrape showed, printed when it changes (shown if the wait fails).
    let seen = std::cell::RefCell::new(String::new());
    let after = common::find("the burst to be counted", || async {
        let after = scrape(&base).await;
        let replies = messages() - sent_before;
        let moves = [&unreadable, &handled, &refused, reminded, probed, &sent]
            .map(|key| (key.to_owned(), moved(&after, key)));
        let now = format!("{moves:?}, {replies} messages");
        if *seen.borrow() != now {
            println!("{now}");
            *seen.borrow_mut() = now;
        }
        let counted = moved(&after, &unreadable) == 1.0
            && moved(&after, &handled) == 5.0
            && moved(&after, &refused) == 3.0
            && moved(&after, reminded) == 1.0
            && moved(&after, probed) == 1.0
            && replies >= 8
            && moved(&after, &sent) == replies as f64;
        counted.then_some(after)
    })
    .await;
    // The probe read Xero (the refresh, the connections, the bills), and only the probe did.
    assert_eq!(value(&before, xero_ok), 0.0);
    assert!(value(&after, xero_ok) >= 3.0, "{after:#?}");
    assert_eq!(
        value(
            &after,
            "herald_source_calls_total{source=\"xero\",outcome=\"transport_error\"}"
        ),
        0.0
    );
    assert_eq!(value(&before, "herald_lease_epoch"), 1.0);
    // Each refusal and each answer was one send; nothing failed or was left in doubt.
    for outcome in ["failed", "ambiguous", "rate_limited"] {
        assert_eq!(
            value(&after, &key("herald_sends_total", "lawrence", outcome)),
            0.0
        );
    }
    assert_eq!(
        value(
            &after,
            "herald_updates_total{bot=\"lawrence\",outcome=\"failed\"}"
        ),
        0.0
    );

    // The scheduler's task ends (a fault point): not ready, naming it; still alive.
    herald.signal(libc::SIGUSR1);
    let body = wait_for_status(&base, "/readyz", 503).await;
    assert_eq!(
        body,
        "{\"ready\":false,\"not_ready\":[\"scheduler: its task is not running\"]}\n"
    );
    assert_eq!(get(&base, "/healthz").await, Some((200, "ok\n".to_owned())));
    assert_eq!(value(&scrape(&base).await, "herald_ready"), 0.0);
    assert_eq!(get(&base, "/nope").await.map(|(code, _)| code), Some(404));

    // /status says the same, without links.
    let operator = deployment.operator();
    let status = common::ask(&sim, operator, &lawrence, "/status", "<b>Not ready</b>").await;
    assert!(
        status.text.contains("· scheduler: its task is not running"),
        "{}",
        status.text
    );
    assert!(!status.text.contains("href"), "{}", status.text);

    let (exit, output) = herald.stop().await;
    assert!(exit.success(), "{output}");
}

#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_once_the_lease_is_no_longer_renewed() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    // Renewed every 200 ms, lasting 600 ms: not ready once a renewal is that overdue.
    let mut herald = started(&deployment, &sim, "lease", &["--lease-ttl-ms", "600"]).await;
    let base = served_at(&herald).await;
    wait_for_status(&base, "/readyz", 200).await;
    herald.signal(libc::SIGUSR1);
    let body = wait_for_status(&base, "/readyz", 503).await;
    assert!(
        body.starts_with("{\"ready\":false,\"not_ready\":[\"lease: not renewed for "),
        "{body}"
    );
    assert!(
        body.contains("s (renewed every 0.2 s, lasts 0.6 s)"),
        "{body}"
    );
    // Another herald takes the lapsed lease over: the first stops (exit 1), naming it.
    let mut second = deployment.spawn_herald(
        &sim,
        &["run", "--poll-seconds", "1", "--lease-ttl-ms", "600"],
    );
    let (exit, output) = herald.exit().await;
    assert_eq!(exit.code(), Some(1), "{output}");
    assert!(output.contains("another herald"), "{output}");
    let (exit, output) = second.stop().await;
    assert!(exit.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_other_machines_reach_is_refused_unless_allowed() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let out = deployment
        .herald(&sim, &["run", "--http", "0.0.0.0:9464"])
        .output()
        .expect("herald runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("herald run: --http: 0.0.0.0:9464 is reachable from other machines"),
        "{stderr}"
    );
    assert!(stderr.contains("--http-public"), "{stderr}");
    assert!(!deployment.db_path().exists(), "nothing was created");

    // The same in bots/herald.toml, found by `herald check`.
    deployment.append("herald.toml", "\n[http]\nlisten = \"0.0.0.0:9464\"\n");
    let out = deployment.herald(&sim, &["check"]).output().expect("check");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "bots/herald.toml: http.listen: 0.0.0.0:9464 is reachable from other machines"
        ),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_stops_the_start_before_anything_is_written() {
    let deployment = Deployment::example();
    let sim = deployment.simulator().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("address").to_string();
    let out = deployment
        .herald(&sim, &["run", "--http", &addr])
        .output()
        .expect("herald runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "refusing to start: cannot listen for --http on {addr}"
        )),
        "{stderr}"
    );
    assert!(!deployment.db_path().exists(), "nothing was created");
    assert_eq!(sim.calls("getMe"), 0, "no token was used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_in_herald_toml_serves_without_the_flag() {
    let deployment = Deployment::example();
    deployment.append("herald.toml", "\n[http]\nlisten = \"127.0.0.1:0\"\n");
    let sim = deployment.simulator().await;
    let mut herald = deployment.spawn_herald(&sim, &["run", "--poll-seconds", "1"]);
    let base = served_at(&herald).await;
    assert_eq!(wait_for_status(&base, "/healthz", 200).await, "ok\n");
    wait_for_status(&base, "/readyz", 200).await;
    let (exit, output) = herald.stop().await;
    assert!(exit.success(), "{output}");
}
