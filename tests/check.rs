//! `herald check` against the shipped example deployment (`bots/`): the example is clean, and
//! each kind of mistake produces its exact one-line finding and exit code 1, without ever
//! echoing a token.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use herald::commands::check::{check, exit_code, CheckOptions};
use herald::config::{self, SecretStore};
use herald::identity::IDENTITY_NAMES;

/// A copy of the shipped `bots/` in a temp config folder, plus a private secrets file with
/// short fake tokens (`111:AAAclaudia`, ...) outside the folder.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    secrets: PathBuf,
}

fn fake_token(i: usize, name: &str) -> String {
    format!("{}:AAA{name}", (i + 1) * 111)
}

fn all_tokens() -> Vec<String> {
    IDENTITY_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| fake_token(i, n))
        .collect()
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("config");
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("bots");
        fs::create_dir_all(dir.join("bots")).expect("mkdir bots");
        fs::create_dir_all(dir.join("templates")).expect("mkdir templates");
        for entry in fs::read_dir(&shipped).expect("read shipped bots/") {
            let entry = entry.expect("entry");
            if entry.file_name().to_string_lossy().ends_with(".toml") {
                fs::copy(entry.path(), dir.join("bots").join(entry.file_name())).expect("copy");
            }
        }
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for entry in fs::read_dir(&templates).expect("read shipped templates/") {
            let entry = entry.expect("entry");
            // templates/console/ is compiled into the binary, not read from a deployment.
            if entry.file_type().expect("file type").is_dir() {
                continue;
            }
            fs::copy(entry.path(), dir.join("templates").join(entry.file_name())).expect("copy");
        }
        let secrets = tmp.path().join("secrets.json");
        let fixture = Fixture {
            _tmp: tmp,
            dir,
            secrets,
        };
        fixture.write_secrets(
            &IDENTITY_NAMES
                .iter()
                .copied()
                .enumerate()
                .collect::<Vec<_>>(),
        );
        fixture
    }

    /// Writes the secrets file with the tokens of the given identities (by index).
    fn write_secrets(&self, entries: &[(usize, &str)]) {
        let mut telegram = serde_json::Map::new();
        for &(i, name) in entries {
            telegram.insert(
                name.to_owned(),
                serde_json::Value::String(fake_token(i, name)),
            );
        }
        let doc = serde_json::json!({ "telegram": telegram });
        fs::write(&self.secrets, doc.to_string()).expect("write secrets");
        chmod(&self.secrets, 0o600);
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).expect("read")
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, text).expect("write");
    }

    /// Replaces the first occurrence of `from` in `rel`, which must be there.
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} has no {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    fn options(&self) -> CheckOptions {
        CheckOptions {
            secrets_override: Some(self.secrets.clone()),
            skip_secrets: false,
        }
    }

    fn secrets_shown(&self) -> String {
        self.secrets.display().to_string()
    }

    /// Runs the check with the fixture's secrets; returns the finding lines and exit code.
    fn run(&self) -> (Vec<String>, i32) {
        self.run_with(&self.options())
    }

    fn run_with(&self, options: &CheckOptions) -> (Vec<String>, i32) {
        let result = check(&self.dir, options);
        let code = exit_code(&result);
        let lines: Vec<String> = result
            .expect("check runs")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_no_tokens(&lines);
        (lines, code)
    }

    /// Asserts the check fails with exit code 1 and reports each expected line.
    fn expect(&self, expected: &[&str]) -> Vec<String> {
        let (lines, code) = self.run();
        assert_has(&lines, expected);
        assert_eq!(code, 1, "{lines:#?}");
        lines
    }
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn assert_has(lines: &[String], expected: &[&str]) {
    for e in expected {
        assert!(
            lines.iter().any(|l| l == e),
            "missing finding:\n  {e}\ngot:\n  {}",
            lines.join("\n  ")
        );
    }
}

fn assert_no_tokens(lines: &[String]) {
    for line in lines {
        assert!(!line.contains('\n'), "multi-line finding: {line}");
        for token in all_tokens() {
            assert!(!line.contains(&token), "token leaked: {line}");
        }
        assert!(!line.contains(&shaped_token()), "token leaked: {line}");
    }
}

/// A realistic-looking token, built at run time so no source file contains one.
fn shaped_token() -> String {
    format!("{}:{}", "7012345678", "AAHx-fake_".repeat(4))
}

#[test]
fn shipped_example_is_clean() {
    let f = Fixture::new();
    let (lines, code) = f.run();
    assert!(lines.is_empty(), "{lines:#?}");
    assert_eq!(code, 0);

    let config = config::load(&f.dir).expect("example loads");
    assert_eq!(config.console(), "lawrence");
    assert_eq!(config.bots.len(), 7);
    assert_eq!(
        config.bot("claudia").map(|b| b.username.as_str()),
        Some("acme_claudia_bot")
    );
    assert!(config.may_post("claudia", "ar-brief"));
    assert!(!config.may_post("claudia", "volts"));
    assert_eq!(config.roster.chat_id(), -1002233445566);
    assert_eq!(config.roster.members().len(), 8);
    assert_eq!(config.roster.timezone(), chrono_tz::Asia::Singapore);

    let store = SecretStore::new(&config.deployment, &config.dir, Some(&f.secrets));
    let tokens = config::resolve_tokens(&config, &store).expect("tokens resolve");
    assert_eq!(tokens.len(), 7);
    assert_eq!(tokens["claudia"].expose(), "111:AAAclaudia");
}

#[test]
fn shipped_example_is_clean_without_secrets() {
    let f = Fixture::new();
    fs::remove_file(&f.secrets).expect("rm secrets");
    let (lines, code) = f.run_with(&CheckOptions {
        secrets_override: None,
        skip_secrets: true,
    });
    assert!(lines.is_empty(), "{lines:#?}");
    assert_eq!(code, 0);
}

// 1. Unknown keys, in any file, located by their dotted path.
#[test]
fn unknown_keys() {
    let f = Fixture::new();
    f.edit(
        "bots/roster.toml",
        "handle = \"danielkoh\"",
        "handle = \"danielkoh\"\nnickname = \"Dan\"",
    );
    f.edit("bots/roster.toml", "[team]", "[team]\nlang = \"en\"");
    f.edit(
        "bots/herald.toml",
        "allow_symlink = false",
        "allow_symlinks = false",
    );
    f.edit("bots/claudia.toml", "dm = true", "dm = true\nhidden = true");
    f.edit("bots/claims.toml", "threads =", "thread =");
    f.expect(&[
        "bots/roster.toml: members[2].nickname: unknown key",
        "bots/roster.toml: team.lang: unknown key",
        "bots/herald.toml: secret_providers.local.allow_symlinks: unknown key",
        "bots/claudia.toml: commands[0].hidden: unknown key",
        "bots/claims.toml: thread: unknown key",
    ]);
}

// 2. A missing identity file, and a bots/*.toml that is no identity.
#[test]
fn missing_identity_file() {
    let f = Fixture::new();
    fs::remove_file(f.path("bots/claims.toml")).expect("rm");
    f.expect(&["bots/claims.toml: -: missing identity file for claims"]);
    assert!(matches!(
        config::load(&f.dir),
        Err(config::ConfigError::Findings(_))
    ));
}

#[test]
fn unknown_bot_file() {
    let f = Fixture::new();
    fs::copy(f.path("bots/claudia.toml"), f.path("bots/claudette.toml")).expect("copy");
    f.expect(&[
        "bots/claudette.toml: -: unknown file: \"claudette\" is not an identity (claudia, clawrence, lawrence, happy, gymbooker, claims, pakgupei), herald or roster",
    ]);
}

// 3. Roster references and roster consistency.
#[test]
fn unknown_thread_in_a_command() {
    let f = Fixture::new();
    f.edit(
        "bots/happy.toml",
        "dm = true",
        "dm = true\nthreads = [\"genral\"]",
    );
    f.edit(
        "bots/clawrence.toml",
        "dm = true",
        "dm = true\nthreads = [\"ops\"]",
    );
    f.expect(&[
        "bots/happy.toml: commands[0].threads[0]: unknown thread \"genral\"; bots/roster.toml has no such thread",
        "bots/clawrence.toml: commands[0].threads[0]: thread \"ops\" is not in this bot's threads",
    ]);
}

#[test]
fn unknown_member_in_leave() {
    let f = Fixture::new();
    f.edit(
        "bots/roster.toml",
        "member = \"Marcus Lim\"",
        "member = \"Marcus\"",
    );
    f.expect(&[
        "bots/roster.toml: leave[0].member: unknown member \"Marcus\"; not a name in [[members]]",
    ]);
}

#[test]
fn unknown_role() {
    let f = Fixture::new();
    f.edit(
        "bots/roster.toml",
        "roles = [\"approver\"]",
        "roles = [\"admin\"]",
    );
    f.expect(&[
        "bots/roster.toml: members[2].roles[0]: unknown role \"admin\"; expected one of operator, approver, files_updates, cake",
    ]);
}

#[test]
fn unknown_console_identity() {
    let f = Fixture::new();
    f.edit(
        "bots/herald.toml",
        "console = \"lawrence\"",
        "console = \"lorence\"",
    );
    f.expect(&[
        "bots/herald.toml: console: unknown console identity \"lorence\"; expected one of claudia, clawrence, lawrence, happy, gymbooker, claims, pakgupei",
    ]);
}

#[test]
fn duplicate_threads() {
    let f = Fixture::new();
    f.edit("bots/roster.toml", "name = \"gym\"", "name = \"ops\"");
    f.edit(
        "bots/roster.toml",
        "message_thread_id = 39",
        "message_thread_id = 14",
    );
    f.expect(&[
        "bots/roster.toml: threads[6].name: duplicate thread name \"ops\" (also threads[5])",
        "bots/roster.toml: threads[9].message_thread_id: duplicate message_thread_id 14 (also threads[2] \"volts\")",
    ]);
}

#[test]
fn duplicate_members() {
    let f = Fixture::new();
    f.edit(
        "bots/roster.toml",
        "telegram_id = 1209384756",
        "telegram_id = 5102938471",
    );
    f.edit(
        "bots/roster.toml",
        "handle = \"arjun_nair\"",
        "handle = \"Priya_Raman\"",
    );
    f.expect(&[
        "bots/roster.toml: members[7].telegram_id: duplicate telegram_id 5102938471 (also members[0] \"Wei Ming Tan\")",
        "bots/roster.toml: members[6].handle: duplicate handle \"Priya_Raman\" (also members[1] \"Priya Raman\")",
    ]);
}

#[test]
fn bad_timezone() {
    let f = Fixture::new();
    f.edit(
        "bots/roster.toml",
        "timezone = \"Asia/Singapore\"",
        "timezone = \"Asia/Singapur\"",
    );
    f.expect(&[
        "bots/roster.toml: team.timezone: unknown IANA timezone \"Asia/Singapur\" (write it like Asia/Singapore)",
    ]);
}

#[test]
fn toml_syntax_error_names_the_line() {
    let f = Fixture::new();
    f.edit(
        "bots/gymbooker.toml",
        "threads = [\"gym\"]",
        "threads == [\"gym\"]",
    );
    let number = f
        .read("bots/gymbooker.toml")
        .lines()
        .position(|l| l.starts_with("threads =="))
        .expect("threads line")
        + 1;
    let expected = format!(
        "bots/gymbooker.toml: line {number}: TOML syntax error: extra `=`, expected nothing"
    );
    f.expect(&[&expected]);
}

#[test]
fn wrong_type_names_the_line() {
    let f = Fixture::new();
    f.edit(
        "bots/roster.toml",
        "chat_id = -1002233445566",
        "chat_id = \"-1002233445566\"",
    );
    let number = f
        .read("bots/roster.toml")
        .lines()
        .position(|l| l.starts_with("chat_id"))
        .expect("line")
        + 1;
    let expected = format!("bots/roster.toml: line {number}: invalid type: a string, expected i64");
    f.expect(&[&expected]);
}

// 4. Two identities resolving to the same token, or sharing one reference.
#[test]
fn two_identities_with_the_same_token() {
    let f = Fixture::new();
    let mut secrets: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&f.secrets).expect("read")).expect("json");
    secrets["telegram"]["happy"] = secrets["telegram"]["claudia"].clone();
    fs::write(&f.secrets, secrets.to_string()).expect("write");
    f.expect(&[
        "bots/happy.toml: token: happy and claudia resolve to the same token (file:local:/telegram/happy and file:local:/telegram/claudia); each identity needs its own bot",
    ]);
}

#[test]
fn two_identities_with_the_same_reference() {
    let f = Fixture::new();
    f.edit("bots/happy.toml", "/telegram/happy", "/telegram/claudia");
    let lines = f.expect(&[
        "bots/happy.toml: token: happy uses the same secret reference as claudia (file:local:/telegram/claudia); each identity needs its own token",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

// 5. Unresolvable secret references.
#[test]
fn missing_secrets_file() {
    let f = Fixture::new();
    fs::remove_file(&f.secrets).expect("rm");
    let expected = format!(
        "bots/herald.toml: secret_providers.local: cannot read secrets file {}: no such file",
        f.secrets_shown()
    );
    let lines = f.expect(&[&expected]);
    assert_eq!(lines.len(), 1, "reported once, not per bot: {lines:#?}");
}

#[test]
fn missing_pointer() {
    let f = Fixture::new();
    let entries: Vec<(usize, &str)> = IDENTITY_NAMES
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, n)| *n != "pakgupei")
        .collect();
    f.write_secrets(&entries);
    let expected = format!(
        "bots/pakgupei.toml: token: file:local:/telegram/pakgupei: secrets file {} has no value at /telegram/pakgupei",
        f.secrets_shown()
    );
    f.expect(&[&expected]);
}

#[test]
fn missing_env_var() {
    let f = Fixture::new();
    f.edit(
        "bots/claims.toml",
        "token = { source = \"file\", provider = \"local\", id = \"/telegram/claims\" }",
        "token = { source = \"env\", id = \"HERALD_TEST_UNSET_CLAIMS_TOKEN\" }",
    );
    f.expect(&[
        "bots/claims.toml: token: env:HERALD_TEST_UNSET_CLAIMS_TOKEN: environment variable HERALD_TEST_UNSET_CLAIMS_TOKEN is not set",
    ]);
}

#[test]
fn undeclared_provider_is_found_even_without_secrets() {
    let f = Fixture::new();
    f.edit(
        "bots/claudia.toml",
        "provider = \"local\"",
        "provider = \"vault\"",
    );
    f.edit(
        "bots/lawrence.toml",
        "id = \"/telegram/lawrence\"",
        "id = \"telegram/lawrence\"",
    );
    let expected = [
        "bots/claudia.toml: token.provider: secret provider \"vault\" is not declared in bots/herald.toml [secret_providers]",
        "bots/lawrence.toml: token.id: \"telegram/lawrence\" is not a JSON pointer into the secrets file (it starts with /, e.g. /telegram/lawrence)",
    ];
    f.expect(&expected);
    let (lines, code) = f.run_with(&CheckOptions {
        secrets_override: None,
        skip_secrets: true,
    });
    assert_has(&lines, &expected);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(code, 1);
}

// 6. Unsafe secrets file: permissions, owner, symlink.
#[test]
fn group_readable_secrets_file() {
    let f = Fixture::new();
    chmod(&f.secrets, 0o644);
    let p = f.secrets_shown();
    let expected = format!(
        "bots/herald.toml: secret_providers.local: secrets file {p} is accessible by group or others (mode 644); fix: chmod 600 {p}"
    );
    f.expect(&[&expected]);
}

#[test]
fn secrets_file_owned_by_someone_else() {
    let f = Fixture::new();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    std::os::unix::fs::chown(&f.secrets, Some(4242), None).expect("chown");
    let p = f.secrets_shown();
    let expected = format!(
        "bots/herald.toml: secret_providers.local: secrets file {p} is owned by uid 4242, not by the running user (uid 0); fix: chown 0 {p}"
    );
    f.expect(&[&expected]);
}

#[test]
fn symlinked_secrets_file() {
    let f = Fixture::new();
    let link = f.secrets.with_file_name("link.json");
    std::os::unix::fs::symlink(&f.secrets, &link).expect("symlink");
    let options = CheckOptions {
        secrets_override: Some(link.clone()),
        skip_secrets: false,
    };
    let (lines, code) = f.run_with(&options);
    let l = link.display();
    let expected = format!(
        "bots/herald.toml: secret_providers.local: secrets file {l} is a symlink; point `path` at the real file, or set allow_symlink = true in [secret_providers.local]"
    );
    assert_has(&lines, &[&expected]);
    assert_eq!(code, 1);

    // A provider that allows its symlink is fine.
    f.edit(
        "bots/herald.toml",
        "path = \"~/.config/herald/secrets.json\"",
        &format!("path = \"{l}\""),
    );
    f.edit(
        "bots/herald.toml",
        "allow_symlink = false",
        "allow_symlink = true",
    );
    let (lines, code) = f.run_with(&CheckOptions::default());
    assert!(lines.is_empty(), "{lines:#?}");
    assert_eq!(code, 0);
}

// 7. Tokens written in plain text anywhere in the config folder.
#[test]
fn resolved_token_in_plain_text() {
    let f = Fixture::new();
    f.edit(
        "bots/roster.toml",
        "[team]",
        "# claudia's token, for reference: 111:AAAclaudia\n[team]",
    );
    let number = f
        .read("bots/roster.toml")
        .lines()
        .position(|l| l.contains("111:AAA"))
        .expect("line")
        + 1;
    let expected = format!(
        "bots/roster.toml: line {number}: the bot token of claudia is written here in plain text; keep it only in the secrets file and refer to it with token = {{ source = ... }}"
    );
    f.expect(&[&expected]);
}

#[test]
fn token_shaped_string_in_plain_text() {
    let f = Fixture::new();
    f.write(
        "templates/notes/old.txt",
        &format!("old notes\nbot token {} do not share\n", shaped_token()),
    );
    f.expect(&[
        "templates/notes/old.txt: line 2: what looks like a Telegram bot token is written here in plain text; keep tokens only in the secrets file and refer to them with token = { source = ... }",
    ]);
}

#[test]
fn token_written_instead_of_a_reference() {
    let f = Fixture::new();
    f.edit(
        "bots/claudia.toml",
        "token = { source = \"file\", provider = \"local\", id = \"/telegram/claudia\" }",
        &format!("token = \"{}\"", shaped_token()),
    );
    let number = f
        .read("bots/claudia.toml")
        .lines()
        .position(|l| l.starts_with("token ="))
        .expect("line")
        + 1;
    let expected = format!(
        "bots/claudia.toml: line {number}: what looks like a Telegram bot token is written here in plain text; keep tokens only in the secrets file and refer to them with token = {{ source = ... }}"
    );
    let typed = format!(
        "bots/claudia.toml: line {number}: invalid type: a string, expected internally tagged enum SecretRef"
    );
    f.expect(&[&expected, &typed]);
}

#[test]
fn secrets_file_inside_the_folder_is_not_reported() {
    let f = Fixture::new();
    let inside = f.path("secrets/secrets.json");
    fs::create_dir_all(inside.parent().expect("parent")).expect("mkdir");
    let mut doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&f.secrets).expect("read")).expect("json");
    doc["xero"] = serde_json::Value::String(shaped_token());
    fs::write(&inside, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
    chmod(&inside, 0o600);
    // Also a .git folder and a cargo-style cache folder, both skipped.
    f.write(".git/objects/x", "111:AAAclaudia");
    f.write(
        "target/CACHEDIR.TAG",
        "Signature: 8a477f597d28d172789f06886806bc55",
    );
    f.write("target/debug/log", "111:AAAclaudia");
    for skip_secrets in [false, true] {
        let (lines, code) = f.run_with(&CheckOptions {
            secrets_override: Some(inside.clone()),
            skip_secrets,
        });
        assert!(lines.is_empty(), "{lines:#?}");
        assert_eq!(code, 0);
    }
}

// 8. An identity allowed into a thread the roster does not have.
#[test]
fn identity_allowed_into_a_missing_thread() {
    let f = Fixture::new();
    f.edit("bots/claudia.toml", "\"ar-brief\"", "\"ar-breif\"");
    f.expect(&[
        "bots/claudia.toml: threads[0]: unknown thread \"ar-breif\"; bots/roster.toml has no such thread",
    ]);
}

// Extras: usernames, commands, descriptions.
#[test]
fn username_rules() {
    let f = Fixture::new();
    f.edit(
        "bots/happy.toml",
        "\"acme_happy_bot\"",
        "\"@acme_happy_bot\"",
    );
    f.edit("bots/claims.toml", "\"acme_claims_bot\"", "\"\"");
    f.edit(
        "bots/pakgupei.toml",
        "\"acme_pakgupei_bot\"",
        "\"acme_gymbooker_bot\"",
    );
    f.expect(&[
        "bots/happy.toml: username: write the username without the @: \"acme_happy_bot\"",
        "bots/claims.toml: username: username is empty",
        "bots/pakgupei.toml: username: username \"acme_gymbooker_bot\" is also used by gymbooker; each identity is its own bot",
    ]);
}

#[test]
fn command_rules() {
    let f = Fixture::new();
    f.edit("bots/claudia.toml", "name = \"help\"", "name = \"Help!\"");
    let long = "x".repeat(257);
    f.write(
        "bots/happy.toml",
        &format!(
            "{}\n[[commands]]\nname = \"help\"\ndescription = \"{long}\"\n\n[[commands]]\nname = \"brief\"\ndescription = \"\"\n",
            f.read("bots/happy.toml")
        ),
    );
    f.expect(&[
        "bots/claudia.toml: commands[0].name: command name \"Help!\" must be 1-32 characters of a-z, 0-9 and _ (no slash)",
        "bots/happy.toml: commands[1].name: duplicate command \"help\" (also commands[0])",
        "bots/happy.toml: commands[1].description: description must be 1-256 characters (it has 257)",
        "bots/happy.toml: commands[2].description: description must be 1-256 characters (it has 0)",
    ]);
}

#[test]
fn findings_are_sorted_and_never_carry_a_token() {
    let f = Fixture::new();
    // Many problems at once, several of them near the tokens.
    f.edit("bots/claudia.toml", "\"ar-brief\"", "\"111:AAAclaudia\"");
    f.edit(
        "bots/roster.toml",
        "name = \"Grace Chua\"",
        "name = \"222:AAAclawrence\"",
    );
    f.edit(
        "bots/happy.toml",
        "/telegram/happy",
        "/telegram/333:AAAlawrence",
    );
    f.write(
        "templates/x.txt",
        &format!("{}\n444:AAAhappy\n", shaped_token()),
    );
    chmod(&f.secrets, 0o600);
    let (lines, code) = f.run();
    assert_eq!(code, 1);
    assert!(lines.len() >= 4, "{lines:#?}");
    let result = check(&f.dir, &f.options()).expect("runs");
    let mut sorted = result.clone();
    sorted.sort_by(|a, b| (&a.file, &a.field).cmp(&(&b.file, &b.field)));
    assert_eq!(
        result
            .iter()
            .map(|r| (&r.file, &r.field))
            .collect::<Vec<_>>(),
        sorted
            .iter()
            .map(|r| (&r.file, &r.field))
            .collect::<Vec<_>>()
    );
    let mut deduped = result.clone();
    deduped.dedup();
    assert_eq!(deduped, result);
}

#[test]
fn missing_folder_cannot_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let result = check(&tmp.path().join("nope"), &CheckOptions::default());
    assert!(result.is_err());
    assert_eq!(exit_code(&result), 2);

    // A folder without bots/ cannot be checked either.
    let result = check(tmp.path(), &CheckOptions::default());
    assert_eq!(exit_code(&result), 2);
    assert!(matches!(
        config::load(tmp.path()),
        Err(config::ConfigError::Unreadable { .. })
    ));
}

// 9. Scheduled jobs ([[jobs]] in a bot file). The shipped example has two: clawrence's
// team-pulse and pakgupei's weekly-call-reminder, both clean (see shipped_example_is_clean).

/// The 1-based number of the first line of `rel` that starts with `prefix`.
fn line_number(f: &Fixture, rel: &str, prefix: &str) -> usize {
    f.read(rel)
        .lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{rel} has no line starting with {prefix:?}"))
        + 1
}

#[test]
fn shipped_jobs_load_and_render() {
    let f = Fixture::new();
    let config = config::load(&f.dir).expect("example loads");
    let jobs: Vec<(&str, &str, &str)> = config
        .bots
        .iter()
        .flat_map(|(bot, file)| {
            file.jobs
                .iter()
                .map(move |j| (*bot, j.name.as_str(), j.cron.as_str()))
        })
        .collect();
    assert_eq!(
        jobs,
        [
            ("claims", "claims-summary", "0 17 * * FRI"),
            ("clawrence", "team-pulse", "0 9 * * MON-FRI"),
            ("clawrence", "laser-chase", "0 11 * * MON-FRI"),
            ("clawrence", "volts-leaderboard", "0 12 * * MON-FRI"),
            ("happy", "capability-probe", "0 8 * * *"),
            ("happy", "morning-brief", "30 8 * * *"),
            ("pakgupei", "weekly-call-reminder", "45 9 * * MON"),
        ]
    );
    let templates =
        herald::templates::Templates::load(&f.path("templates")).expect("templates load");
    let findings = herald::bots::check_jobs(&config, &templates);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn job_cron_out_of_range() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "\"0 9 * * MON-FRI\"",
        "\"0 25 * * *\"",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0].cron: \"0 25 * * *\": hour: 25 is out of range 0-23",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_cron_with_four_fields() {
    let f = Fixture::new();
    f.edit("bots/pakgupei.toml", "\"45 9 * * MON\"", "\"45 9 * *\"");
    let lines = f.expect(&[
        "bots/pakgupei.toml: jobs[0].cron: \"45 9 * *\": expected 5 fields (minute hour day-of-month month day-of-week), found 4",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_unknown_timezone() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "timezone = \"Asia/Singapore\"",
        "timezone = \"Asia/Singapur\"",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0].timezone: \"Asia/Singapur\" is not an IANA time zone name (like Asia/Singapore or Europe/London)",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_without_timezone() {
    let f = Fixture::new();
    f.edit("bots/clawrence.toml", "timezone = \"Asia/Singapore\"\n", "");
    // serde locates a missing key at the table that lacks it: the [[jobs]] header.
    let number = line_number(&f, "bots/clawrence.toml", "[[jobs]]");
    let expected = format!("bots/clawrence.toml: line {number}: missing field `timezone`");
    let lines = f.expect(&[&expected]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_unknown_thread() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "thread = \"pulse\"",
        "thread = \"pluse\"",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0].thread: unknown thread \"pluse\"; bots/roster.toml has no such thread",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_in_a_thread_the_bot_may_not_post_in() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "thread = \"pulse\"",
        "thread = \"calls\"",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0].thread: clawrence may not post in \"calls\": add it to this file's threads, or pick one of: general, daily-updates, volts, pulse",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn duplicate_job_names_across_bots() {
    let f = Fixture::new();
    f.edit(
        "bots/pakgupei.toml",
        "name = \"weekly-call-reminder\"",
        "name = \"team-pulse\"",
    );
    let lines = f.expect(&[
        "bots/pakgupei.toml: jobs[0].name: job name \"team-pulse\" is also used at bots/clawrence.toml: jobs[0]; job names are unique across the deployment",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");

    // Within one bot too.
    let f = Fixture::new();
    let text = f.read("bots/clawrence.toml");
    let start = text.find("\n[[jobs]]").expect("a job");
    let end = start + 1 + text[start + 1..].find("\n[[jobs]]").expect("a second job");
    f.write(
        "bots/clawrence.toml",
        &format!("{text}{}", &text[start..end]),
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[3].name: job name \"team-pulse\" is also used at bots/clawrence.toml: jobs[0]; job names are unique across the deployment",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_with_an_unknown_misfire_policy() {
    let f = Fixture::new();
    f.edit(
        "bots/pakgupei.toml",
        "misfire = \"skip\"",
        "misfire = \"later\"",
    );
    let number = line_number(&f, "bots/pakgupei.toml", "misfire =");
    let expected = format!(
        "bots/pakgupei.toml: line {number}: unknown variant `later`, expected `catch_up` or `skip`"
    );
    let lines = f.expect(&[&expected]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn invalid_job_names() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "name = \"team-pulse\"",
        "name = \"Team Pulse\"",
    );
    f.edit(
        "bots/pakgupei.toml",
        "name = \"weekly-call-reminder\"",
        "name = \"\"",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0].name: job name \"Team Pulse\" must be lower-case letters, digits, - and _",
        "bots/pakgupei.toml: jobs[0].name: job name \"\" must be lower-case letters, digits, - and _",
    ]);
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn job_timeout_of_zero() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "template = \"team_pulse.html\"",
        "template = \"team_pulse.html\"\ntimeout_seconds = 0",
    );
    let lines = f.expect(&["bots/clawrence.toml: jobs[0].timeout_seconds: must be 1 to 240: a run still going five minutes after its time is reported as absent"]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_max_messages_of_zero() {
    let f = Fixture::new();
    f.edit(
        "bots/pakgupei.toml",
        "misfire = \"skip\"",
        "misfire = \"skip\"\nmax_messages = 0",
    );
    let lines = f.expect(&["bots/pakgupei.toml: jobs[0].max_messages: must be at least 1"]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_of_an_unknown_kind() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "kind = \"post\"",
        "kind = \"digest\"",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0].kind: clawrence cannot run jobs of kind \"digest\" (it can run: cake_reminder, laser_chase, post, team_pulse, volts_leaderboard)",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn post_job_without_a_template() {
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "template = \"team_pulse.html\"\n",
        "",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0].template: a job of kind post needs a template (a file in templates/)",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn a_job_is_checked_against_what_its_kind_declares() {
    let f = Fixture::new();
    // The AR brief reads Xero, which this deployment does not configure.
    let claudia = f.read("bots/claudia.toml");
    f.write(
        "bots/claudia.toml",
        &format!(
            "{claudia}\n[[jobs]]\nname = \"ar-brief\"\nkind = \"ar_brief\"\ncron = \"30 9 * * FRI\"\n\
             timezone = \"Asia/Singapore\"\nthread = \"ar-brief\"\ntemplate = \"ar_brief.html\"\n"
        ),
    );
    // Only the morning brief takes post_in_thread.
    f.edit(
        "bots/happy.toml",
        "kind = \"capability_probe\"\n",
        "kind = \"capability_probe\"\npost_in_thread = true\n",
    );
    let lines = f.expect(&[
        "bots/claudia.toml: jobs[0].kind: the AR brief reads Xero: add [xero] to bots/herald.toml (see Connecting Xero in the README)",
        "bots/happy.toml: jobs[0].post_in_thread: only jobs of kind morning_brief take post_in_thread (this one is capability_probe)",
    ]);
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn job_template_missing_from_templates() {
    let f = Fixture::new();
    fs::remove_file(f.path("templates/call_reminder.html")).expect("rm");
    let lines = f.expect(&[
        "bots/pakgupei.toml: jobs[0].template: no template \"call_reminder.html\" in templates/",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn job_template_that_fails_to_render() {
    let f = Fixture::new();
    f.write(
        "templates/team_pulse.html",
        "Pulse {{ date }}: {{ nope }}\n",
    );
    // Strict undefined: a variable the post job does not provide fails the check.
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0]: templates/team_pulse.html: render failed: undefined value (in team_pulse.html:1)",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn unknown_key_in_a_job() {
    // An extra key next to the real ones.
    let f = Fixture::new();
    f.edit(
        "bots/clawrence.toml",
        "cron = \"0 9 * * MON-FRI\"",
        "cron = \"0 9 * * MON-FRI\"\ncronn = \"0 10 * * *\"",
    );
    let lines = f.expect(&["bots/clawrence.toml: jobs[0].cronn: unknown key"]);
    assert_eq!(lines.len(), 1, "{lines:#?}");

    // A misspelt key: unknown, and the real one is then missing.
    let f = Fixture::new();
    f.edit("bots/pakgupei.toml", "cron = ", "cronn = ");
    let number = line_number(&f, "bots/pakgupei.toml", "[[jobs]]");
    let missing = format!("bots/pakgupei.toml: line {number}: missing field `cron`");
    f.expect(&["bots/pakgupei.toml: jobs[0].cronn: unknown key", &missing]);
}

#[test]
fn team_settings_are_checked_where_they_are_written() {
    let f = Fixture::new();
    f.edit(
        "bots/herald.toml",
        "commands_per_minute = 10",
        "commands_per_minute = 0",
    );
    f.edit(
        "bots/clawrence.toml",
        "daily_budget = 10",
        "daily_budget = 3",
    );
    f.edit(
        "bots/clawrence.toml",
        "clean_sweep = \"line\"",
        "clean_sweep = \"line\"\ntop = 3",
    );
    f.edit("bots/clawrence.toml", "top = 10", "top = 0");
    let pakgupei = f.read("bots/pakgupei.toml");
    f.write(
        "bots/pakgupei.toml",
        &pakgupei.replacen(
            "[[jobs]]",
            "[volts]\nmax_per_grant = 2\n\n[[jobs]]\nclean_sweep = \"silence\"",
            1,
        ),
    );
    let lines = f.expect(&[
        "bots/herald.toml: commands_per_minute: must be at least 1 (it limits each member's commands per bot and minute)",
        "bots/clawrence.toml: volts.daily_budget: must be at least max_per_grant (5), or no grant could ever be made in full",
        "bots/clawrence.toml: jobs[1].top: only jobs of kind volts_leaderboard take top (this one is laser_chase)",
        "bots/clawrence.toml: jobs[2].top: must be at least 1",
        "bots/pakgupei.toml: volts: only clawrence answers /volts; move [volts] to bots/clawrence.toml",
        "bots/pakgupei.toml: jobs[0].clean_sweep: only jobs of kind laser_chase or team_pulse take clean_sweep (this one is post)",
    ]);
    assert_eq!(lines.len(), 6, "{lines:#?}");
}

#[test]
fn job_template_rendering_html_telegram_refuses() {
    let f = Fixture::new();
    f.write(
        "templates/team_pulse.html",
        "☀️ <b>Team pulse</b><br>{{ date }}\n",
    );
    let lines = f.expect(&[
        "bots/clawrence.toml: jobs[0]: templates/team_pulse.html: Telegram would refuse what it renders from sample data: can't parse entities: Unsupported start tag \"br\" at byte offset 24",
    ]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

#[test]
fn every_other_template_is_rendered_with_sample_data_and_checked() {
    let f = Fixture::new();
    // A command's template: /help, rendered with the context its handler gives it.
    f.edit("templates/help.html", "<b>{{ bot }}</b>", "<b>{{ bot }}");
    // The approval card: every variable it may use is in its samples.
    f.edit(
        "templates/approval_card.html",
        "{{ contact }}",
        "{{ contact }} {{ vendor }}",
    );
    // A template no job names yet, rendered with a post job's sample context.
    f.write("templates/spare.html", "{{ team }} & friends");
    // A template that only a job kind could render is left alone when no job names it.
    f.write("templates/other_kind.html", "{{ rows }}<br>");
    let lines = f.expect(&[
        "templates/help.html: -: Telegram would refuse what it renders from sample data: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        "templates/approval_card.html: -: does not render with sample data: templates/approval_card.html: render failed: undefined value (in approval_card.html:5)",
        "templates/spare.html: -: Telegram would refuse what it renders from sample data: can't parse entities: Character '&' at byte offset 14 must be escaped as \"&amp;\"",
    ]);
    assert_eq!(lines.len(), 3, "{lines:#?}");
}

// `[claims]`: one line per mistake, naming the file and the field.
#[test]
fn claims_settings_mistakes_are_each_one_line() {
    let f = Fixture::new();
    f.edit("bots/claims.toml", "code = \"SGD\"", "code = \"sgd\"");
    f.edit("bots/claims.toml", "max = \"30000.00\"", "max = \"lots\"");
    f.edit(
        "bots/claims.toml",
        "two_approvals_above = \"400.00\"",
        "two_approvals_above = \"9000\"",
    );
    f.edit("bots/claims.toml", "code = \"USD\"", "code = \"MYR\"");
    f.edit(
        "bots/claims.toml",
        "thread = \"claims\"",
        "thread = \"gym\"",
    );
    let claudia = f.read("bots/claudia.toml");
    f.write(
        "bots/claudia.toml",
        &format!("{claudia}\n[claims]\ncurrencies = [{{ code = \"SGD\", max = \"1\", two_approvals_above = \"0\" }}]\n"),
    );
    let lines = f.expect(&[
        "bots/claims.toml: claims.currencies[0].code: \"sgd\" is not a currency code: three upper-case letters, like SGD",
        "bots/claims.toml: claims.currencies[1].max: \"lots\" is not a decimal amount: write it as a string, like \"500.00\"",
        "bots/claims.toml: claims.currencies[2].code: MYR is listed twice",
        "bots/claims.toml: claims.currencies[2].two_approvals_above: 9000 is not below max (8000.00): no claim could ever need a second approver",
        "bots/claims.toml: claims.thread: claims may not post in \"gym\": add it to this file's threads",
        "bots/claudia.toml: claims: only the claims bot takes expense claims; move [claims] to bots/claims.toml",
    ]);
    let about_claims = lines.iter().filter(|l| l.contains("claims")).count();
    assert_eq!(about_claims, 6, "one line per mistake, no more: {lines:#?}");
}

// `[gym]`: one line per mistake, naming the file and the field.
#[test]
fn gym_settings_mistakes_are_each_one_line() {
    let f = Fixture::new();
    let gymbooker = f.read("bots/gymbooker.toml");
    f.write(
        "bots/gymbooker.toml",
        &format!(
            "{gymbooker}
[gym]
provider = \"clubready\"
site_id = \"\"
api_key = {{ source = \"file\", provider = \"local\", id = \"/mindbody/api_key\" }}
username = \"staff\"
password = {{ source = \"file\", provider = \"local\", id = \"/mindbody/password\" }}

[[gym.bookings]]
member = \"Nobody Here\"
client_id = \"1\"
days = [\"MON\", \"Caturday\"]
times = [\"6:30\"]
window_opens = \"09:00\"

[[gym.bookings]]
member = \"Priya Raman\"
client_id = \"2\"
days = [\"TUE\"]
times = [\"07:30\"]
days_ahead = 30
"
        ),
    );
    let lines = f.expect(&[
        "bots/gymbooker.toml: gym.provider: \"clubready\" is not a booking system herald knows: mindbody",
        "bots/gymbooker.toml: gym.site_id: the Mindbody site id is empty",
        "bots/gymbooker.toml: gym.bookings[0].member: \"Nobody Here\" is not a member in bots/roster.toml",
        "bots/gymbooker.toml: gym.bookings[0].days[1]: \"Caturday\" is not a day: MON, TUE, WED, THU, FRI, SAT or SUN",
        "bots/gymbooker.toml: gym.bookings[0].times[0]: \"6:30\" is not a time: HH:MM, 24-hour, like \"06:30\"",
        "bots/gymbooker.toml: gym.bookings[1].days_ahead: 30 days is further ahead than 14",
    ]);
    // The two secrets the block names are not in the secrets file: one line each too.
    let missing = |key: &str| {
        lines.iter().any(|l| {
            l.starts_with(&format!(
                "bots/gymbooker.toml: gym.{key}: file:local:/mindbody/{key}: "
            )) && l.ends_with(&format!("has no value at /mindbody/{key}"))
        })
    };
    assert!(missing("api_key") && missing("password"), "{lines:#?}");
    let about_gym = lines.iter().filter(|l| l.contains(": gym.")).count();
    assert_eq!(about_gym, 8, "one line per mistake, no more: {lines:#?}");
}

// A booking job without `[gym]` is refused by the check, not discovered at 08:58.
#[test]
fn a_gym_booking_job_needs_gym() {
    let f = Fixture::new();
    let gymbooker = f.read("bots/gymbooker.toml");
    f.write(
        "bots/gymbooker.toml",
        &format!(
            "{gymbooker}\n[[jobs]]\nname = \"gym-booking\"\nkind = \"gym_booking\"\ncron = \"58 8 * * *\"\ntimezone = \"Asia/Singapore\"\nthread = \"gym\"\n"
        ),
    );
    f.expect(&["bots/gymbooker.toml: jobs[0].kind: gym_booking books through [gym]: add it to this file (see Gym bookings in the README)"]);
    // With [gym], the job's default 60 s timeout cannot cover the wait and the retries.
    let f = Fixture::new();
    f.write(
        "bots/gymbooker.toml",
        &format!(
            "{gymbooker}\n[gym]\nprovider = \"mindbody\"\nsite_id = \"-99\"\nusername = \"staff\"\napi_key = {{ source = \"env\", id = \"MB_KEY\" }}\npassword = {{ source = \"env\", id = \"MB_PASSWORD\" }}\n\n[[jobs]]\nname = \"gym-booking\"\nkind = \"gym_booking\"\ncron = \"58 8 * * *\"\ntimezone = \"Asia/Singapore\"\nthread = \"gym\"\n"
        ),
    );
    f.expect(&["bots/gymbooker.toml: jobs[0].timeout_seconds: 60 s is too short for a gym booking: it waits for the window and retries for 60 s after it; give it at least 180 s and run it at most 2 minutes before the window"]);
}
