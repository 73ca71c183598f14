//! The canonical roster: the team chat, its named threads, its members and their roles,
//! public holidays and leave. Every allowlist, approver list and mention is derived from here,
//! and every lookup (`is_member`, `thread("ar-brief")`, `member_by_talenox_name`, ...) lives in
//! this one module. A [`Roster`] only exists once `bots/roster.toml` has been validated.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::config::finding::Finding;
use crate::config::model::{RosterFile, ROSTER_FILE};

/// What a member may do. TOML strings: `operator`, `approver`, `files_updates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Receives failure DMs and may send operator commands to the console bot.
    Operator,
    /// May approve or reject invoices.
    Approver,
    /// Expected to post daily file updates (chased by the laser-chase).
    FilesUpdates,
    /// Gets a DM a few days before each birthday (the cake reminder).
    Cake,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Operator,
        Role::Approver,
        Role::FilesUpdates,
        Role::Cake,
    ];

    /// The name used in `bots/roster.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::FilesUpdates => "files_updates",
            Role::Cake => "cake",
        }
    }

    /// Parses the name used in `bots/roster.toml`.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named forum topic of the team chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub name: String,
    pub title: Option<String>,
    /// `None` for the General topic, which is addressed without a thread id.
    pub message_thread_id: Option<i32>,
}

/// A person on the team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub telegram_id: i64,
    /// Without the `@`.
    pub handle: Option<String>,
    pub talenox_name: Option<String>,
    pub roles: Vec<Role>,
}

impl Member {
    /// How to mention the member in an HTML-mode message: `@handle`, or a `tg://user` link
    /// with the escaped name for members without a handle.
    pub fn mention_html(&self) -> String {
        match &self.handle {
            Some(handle) => format!("@{handle}"),
            None => format!(
                "<a href=\"tg://user?id={}\">{}</a>",
                self.telegram_id,
                html_escape::encode_text(&self.name)
            ),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A public holiday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
}

/// A member's leave, both dates inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leave {
    pub member: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The validated roster.
#[derive(Debug, Clone)]
pub struct Roster {
    team_name: String,
    chat_id: i64,
    timezone: Tz,
    threads: Vec<Thread>,
    members: Vec<Member>,
    holidays: Vec<Holiday>,
    leave: Vec<Leave>,
}

/// Talenox names are compared without regard to case or repeated spaces.
fn talenox_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn valid_thread_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
}

fn valid_handle(handle: &str) -> bool {
    let mut bytes = handle.bytes();
    (4..=32).contains(&handle.len())
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Roster {
    /// Validates a parsed roster file. On failure returns every problem found, each located
    /// in `bots/roster.toml`.
    pub fn from_file(file: &RosterFile) -> Result<Roster, Vec<Finding>> {
        let mut findings = Vec::new();
        let mut problem = |field: String, text: String| {
            findings.push(Finding::new(ROSTER_FILE, field, text));
        };

        // [team]
        let team = &file.team;
        if team.name.trim().is_empty() {
            problem("team.name".into(), "team name is empty".into());
        }
        let chat = team.chat_id.to_string();
        if !(chat.starts_with("-100") && chat.len() > 4) {
            problem(
                "team.chat_id".into(),
                format!(
                    "chat id {} is not a supergroup id (those start with -100)",
                    team.chat_id
                ),
            );
        }
        let timezone = match team.timezone.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                problem(
                    "team.timezone".into(),
                    format!(
                        "unknown IANA timezone \"{}\" (write it like Asia/Singapore)",
                        team.timezone
                    ),
                );
                None
            }
        };

        // [[threads]]
        let mut thread_names: HashMap<&str, usize> = HashMap::new();
        let mut thread_ids: HashMap<i32, usize> = HashMap::new();
        let mut general: Option<usize> = None;
        for (i, t) in file.threads.iter().enumerate() {
            if !valid_thread_name(&t.name) {
                problem(
                    format!("threads[{i}].name"),
                    format!(
                        "thread name \"{}\" must be lower-case letters, digits, - and _",
                        t.name
                    ),
                );
            }
            if let Some(&j) = thread_names.get(t.name.as_str()) {
                problem(
                    format!("threads[{i}].name"),
                    format!("duplicate thread name \"{}\" (also threads[{j}])", t.name),
                );
            } else {
                thread_names.insert(&t.name, i);
            }
            match t.message_thread_id {
                Some(id) if id <= 0 => problem(
                    format!("threads[{i}].message_thread_id"),
                    format!("message_thread_id {id} must be positive"),
                ),
                Some(id) => {
                    if let Some(&j) = thread_ids.get(&id) {
                        problem(
                            format!("threads[{i}].message_thread_id"),
                            format!(
                                "duplicate message_thread_id {id} (also threads[{j}] \"{}\")",
                                file.threads[j].name
                            ),
                        );
                    } else {
                        thread_ids.insert(id, i);
                    }
                }
                None => {
                    if let Some(j) = general {
                        problem(
                            format!("threads[{i}].message_thread_id"),
                            format!(
                                "missing message_thread_id: only the General topic goes without \
                                 one, and threads[{j}] \"{}\" already is it",
                                file.threads[j].name
                            ),
                        );
                    } else {
                        general = Some(i);
                    }
                }
            }
        }

        // [[members]]
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut ids: HashMap<i64, usize> = HashMap::new();
        let mut handles: HashMap<String, usize> = HashMap::new();
        let mut talenox: HashMap<String, usize> = HashMap::new();
        let mut members = Vec::with_capacity(file.members.len());
        for (i, m) in file.members.iter().enumerate() {
            if m.name.trim().is_empty() {
                problem(format!("members[{i}].name"), "member name is empty".into());
            } else if let Some(&j) = names.get(m.name.as_str()) {
                problem(
                    format!("members[{i}].name"),
                    format!("duplicate member name \"{}\" (also members[{j}])", m.name),
                );
            } else {
                names.insert(&m.name, i);
            }
            if m.telegram_id <= 0 {
                problem(
                    format!("members[{i}].telegram_id"),
                    format!(
                        "telegram_id {} is not a user id (user ids are positive)",
                        m.telegram_id
                    ),
                );
            } else if let Some(&j) = ids.get(&m.telegram_id) {
                problem(
                    format!("members[{i}].telegram_id"),
                    format!(
                        "duplicate telegram_id {} (also members[{j}] \"{}\")",
                        m.telegram_id, file.members[j].name
                    ),
                );
            } else {
                ids.insert(m.telegram_id, i);
            }
            if let Some(handle) = &m.handle {
                if handle.starts_with('@') {
                    problem(
                        format!("members[{i}].handle"),
                        format!(
                            "write the handle without the @: \"{}\"",
                            handle.trim_start_matches('@')
                        ),
                    );
                } else if !valid_handle(handle) {
                    problem(
                        format!("members[{i}].handle"),
                        format!(
                            "handle \"{handle}\" is not a Telegram username (4-32 letters, \
                             digits or _, starting with a letter)"
                        ),
                    );
                }
                let key = handle.trim_start_matches('@').to_lowercase();
                if let Some(&j) = handles.get(&key) {
                    problem(
                        format!("members[{i}].handle"),
                        format!(
                            "duplicate handle \"{handle}\" (also members[{j}] \"{}\")",
                            file.members[j].name
                        ),
                    );
                } else {
                    handles.insert(key, i);
                }
            }
            if let Some(tn) = &m.talenox_name {
                let key = talenox_key(tn);
                if key.is_empty() {
                    problem(
                        format!("members[{i}].talenox_name"),
                        "talenox_name is empty; leave it out instead".into(),
                    );
                } else if let Some(&j) = talenox.get(&key) {
                    problem(
                        format!("members[{i}].talenox_name"),
                        format!(
                            "duplicate talenox_name \"{tn}\" (also members[{j}] \"{}\")",
                            file.members[j].name
                        ),
                    );
                } else {
                    talenox.insert(key, i);
                }
            }
            let mut roles = Vec::new();
            for (k, r) in m.roles.iter().enumerate() {
                match Role::from_name(r) {
                    Some(role) if roles.contains(&role) => problem(
                        format!("members[{i}].roles[{k}]"),
                        format!("role \"{r}\" is listed twice"),
                    ),
                    Some(role) => roles.push(role),
                    None => problem(
                        format!("members[{i}].roles[{k}]"),
                        format!(
                            "unknown role \"{r}\"; expected one of {}",
                            Role::ALL.map(Role::as_str).join(", ")
                        ),
                    ),
                }
            }
            members.push(Member {
                name: m.name.clone(),
                telegram_id: m.telegram_id,
                handle: m.handle.clone(),
                talenox_name: m.talenox_name.clone(),
                roles,
            });
        }
        if !members.iter().any(|m| m.has_role(Role::Operator)) {
            problem(
                "members".into(),
                "no member has the operator role; failures and operator commands need one".into(),
            );
        }

        // [[holidays]]
        let mut dates: HashMap<NaiveDate, usize> = HashMap::new();
        for (i, h) in file.holidays.iter().enumerate() {
            if h.name.trim().is_empty() {
                problem(
                    format!("holidays[{i}].name"),
                    "holiday name is empty".into(),
                );
            }
            if let Some(&j) = dates.get(&h.date) {
                problem(
                    format!("holidays[{i}].date"),
                    format!("duplicate holiday on {} (also holidays[{j}])", h.date),
                );
            } else {
                dates.insert(h.date, i);
            }
        }

        // [[leave]]
        for (i, l) in file.leave.iter().enumerate() {
            if !names.contains_key(l.member.as_str()) {
                problem(
                    format!("leave[{i}].member"),
                    format!("unknown member \"{}\"; not a name in [[members]]", l.member),
                );
            }
            if l.to < l.from {
                problem(
                    format!("leave[{i}].to"),
                    format!("leave ends ({}) before it starts ({})", l.to, l.from),
                );
            }
        }

        let Some(timezone) = timezone else {
            return Err(findings);
        };
        if !findings.is_empty() {
            return Err(findings);
        }
        let mut holidays: Vec<Holiday> = file
            .holidays
            .iter()
            .map(|h| Holiday {
                date: h.date,
                name: h.name.clone(),
            })
            .collect();
        holidays.sort_by_key(|h| h.date);
        Ok(Roster {
            team_name: team.name.clone(),
            chat_id: team.chat_id,
            timezone,
            threads: file
                .threads
                .iter()
                .map(|t| Thread {
                    name: t.name.clone(),
                    title: t.title.clone(),
                    message_thread_id: t.message_thread_id,
                })
                .collect(),
            members,
            holidays,
            leave: file
                .leave
                .iter()
                .map(|l| Leave {
                    member: l.member.clone(),
                    from: l.from,
                    to: l.to,
                })
                .collect(),
        })
    }

    pub fn team_name(&self) -> &str {
        &self.team_name
    }

    /// The team's forum supergroup.
    pub fn chat_id(&self) -> i64 {
        self.chat_id
    }

    /// The team's timezone (holidays, leave and "today" are in this zone).
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// A thread by its roster name (`"ar-brief"`).
    pub fn thread(&self, name: &str) -> Option<&Thread> {
        self.threads.iter().find(|t| t.name == name)
    }

    pub fn threads(&self) -> &[Thread] {
        &self.threads
    }

    /// The thread an update came from; `None` is the General topic.
    pub fn thread_by_id(&self, message_thread_id: Option<i32>) -> Option<&Thread> {
        self.threads
            .iter()
            .find(|t| t.message_thread_id == message_thread_id)
    }

    /// Where a message goes, as a person reads it: `#ar-brief`, `DM to Ana Tan`, or the raw
    /// chat or thread id when the roster does not name it.
    pub fn place(&self, chat_id: i64, thread_id: Option<i64>) -> String {
        if chat_id == self.chat_id {
            let thread = thread_id.and_then(|t| i32::try_from(t).ok());
            return match self.thread_by_id(thread) {
                Some(t) => format!("#{}", t.name),
                None => format!(
                    "thread {}",
                    thread.map_or("General".into(), |t| t.to_string())
                ),
            };
        }
        match self.member_by_telegram_id(chat_id) {
            Some(m) => format!("DM to {}", m.name),
            None => format!("chat {chat_id}"),
        }
    }

    pub fn member_by_telegram_id(&self, user_id: i64) -> Option<&Member> {
        self.members.iter().find(|m| m.telegram_id == user_id)
    }

    pub fn is_member(&self, user_id: i64) -> bool {
        self.member_by_telegram_id(user_id).is_some()
    }

    /// A member by roster name (exact).
    pub fn member_by_name(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// A member by Telegram handle, case-insensitive, with or without the `@`.
    pub fn member_by_handle(&self, handle: &str) -> Option<&Member> {
        let wanted = handle.trim().trim_start_matches('@');
        self.members.iter().find(|m| {
            m.handle
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(wanted))
        })
    }

    /// A member by the name Talenox uses, ignoring case and repeated spaces.
    pub fn member_by_talenox_name(&self, talenox_name: &str) -> Option<&Member> {
        let wanted = talenox_key(talenox_name);
        self.members.iter().find(|m| {
            m.talenox_name
                .as_deref()
                .is_some_and(|t| talenox_key(t) == wanted)
        })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn members_with_role(&self, role: Role) -> impl Iterator<Item = &Member> + '_ {
        self.members.iter().filter(move |m| m.has_role(role))
    }

    /// Whether Telegram user `user_id` is a member with `role`.
    pub fn has_role(&self, user_id: i64, role: Role) -> bool {
        self.member_by_telegram_id(user_id)
            .is_some_and(|m| m.has_role(role))
    }

    pub fn is_holiday(&self, date: NaiveDate) -> Option<&Holiday> {
        self.holidays.iter().find(|h| h.date == date)
    }

    /// Holidays in date order.
    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    /// Whether the member named `member_name` is on leave on `date` (inclusive ranges).
    pub fn on_leave(&self, member_name: &str, date: NaiveDate) -> bool {
        self.leave
            .iter()
            .any(|l| l.member == member_name && l.from <= date && date <= l.to)
    }

    pub fn leave(&self) -> &[Leave] {
        &self.leave
    }
}

/// The shipped example roster, for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn example() -> Roster {
        let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/bots/roster.toml"));
        let file: RosterFile = toml::from_str(text).expect("example roster parses");
        Roster::from_file(&file).expect("example roster is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn parse(text: &str) -> RosterFile {
        toml::from_str(text).expect("roster parses")
    }

    const ROSTER: &str = r#"
        [team]
        name = "Acme"
        chat_id = -1002233445566
        timezone = "Asia/Singapore"

        [[threads]]
        name = "general"
        [[threads]]
        name = "ar-brief"
        title = "AR brief"
        message_thread_id = 21

        [[members]]
        name = "Ana Tan"
        telegram_id = 1001
        handle = "AnaTan"
        talenox_name = "TAN Ana"
        roles = ["operator", "approver"]
        [[members]]
        name = "Bo <Lim> & co"
        telegram_id = 1002
        roles = ["files_updates"]

        [[holidays]]
        date = 2026-08-10
        name = "National Day (observed)"

        [[leave]]
        member = "Ana Tan"
        from = "2026-03-02"
        to = 2026-03-04
    "#;

    fn roster() -> Roster {
        Roster::from_file(&parse(ROSTER)).expect("valid roster")
    }

    #[test]
    fn places_are_named_from_the_roster() {
        let r = roster();
        assert_eq!(r.place(-1002233445566, Some(21)), "#ar-brief");
        assert_eq!(r.place(-1002233445566, None), "#general");
        assert_eq!(r.place(-1002233445566, Some(99)), "thread 99");
        assert_eq!(r.place(1001, None), "DM to Ana Tan");
        assert_eq!(r.place(42, None), "chat 42");
    }

    #[test]
    fn team_and_threads() {
        let r = roster();
        assert_eq!(r.team_name(), "Acme");
        assert_eq!(r.chat_id(), -1002233445566);
        assert_eq!(r.timezone(), chrono_tz::Asia::Singapore);
        assert_eq!(
            r.thread("ar-brief").and_then(|t| t.message_thread_id),
            Some(21)
        );
        assert!(r.thread("nope").is_none());
        assert_eq!(
            r.thread_by_id(None).map(|t| t.name.as_str()),
            Some("general")
        );
        assert_eq!(
            r.thread_by_id(Some(21)).map(|t| t.name.as_str()),
            Some("ar-brief")
        );
        assert!(r.thread_by_id(Some(99)).is_none());
        assert_eq!(r.threads().len(), 2);
    }

    #[test]
    fn member_lookups() {
        let r = roster();
        assert!(r.is_member(1001));
        assert!(!r.is_member(9999));
        assert_eq!(
            r.member_by_telegram_id(1002).map(|m| m.name.as_str()),
            Some("Bo <Lim> & co")
        );
        assert_eq!(
            r.member_by_name("Ana Tan").map(|m| m.telegram_id),
            Some(1001)
        );
        assert!(r.member_by_name("ana tan").is_none());
        for h in ["AnaTan", "@anatan", "@ANATAN", " anatan "] {
            assert_eq!(
                r.member_by_handle(h).map(|m| m.telegram_id),
                Some(1001),
                "{h}"
            );
        }
        assert!(r.member_by_handle("@bo").is_none());
        assert_eq!(
            r.member_by_talenox_name("tan  ana").map(|m| m.telegram_id),
            Some(1001)
        );
        assert!(r.member_by_talenox_name("Bo").is_none());
        assert_eq!(r.members().len(), 2);
    }

    #[test]
    fn roles() {
        let r = roster();
        let approvers: Vec<_> = r
            .members_with_role(Role::Approver)
            .map(|m| m.telegram_id)
            .collect();
        assert_eq!(approvers, vec![1001]);
        assert!(r.has_role(1001, Role::Operator));
        assert!(!r.has_role(1002, Role::Operator));
        assert!(r.has_role(1002, Role::FilesUpdates));
        assert!(!r.has_role(9999, Role::FilesUpdates));
        assert_eq!(Role::from_name("files_updates"), Some(Role::FilesUpdates));
        assert_eq!(Role::from_name("admin"), None);
        assert_eq!(Role::Approver.to_string(), "approver");
    }

    #[test]
    fn mentions() {
        let r = roster();
        assert_eq!(
            r.member_by_telegram_id(1001)
                .map(Member::mention_html)
                .as_deref(),
            Some("@AnaTan")
        );
        assert_eq!(
            r.member_by_telegram_id(1002)
                .map(Member::mention_html)
                .as_deref(),
            Some("<a href=\"tg://user?id=1002\">Bo &lt;Lim&gt; &amp; co</a>")
        );
    }

    #[test]
    fn holidays_and_leave() {
        let r = roster();
        assert_eq!(
            r.is_holiday(date(2026, 8, 10)).map(|h| h.name.as_str()),
            Some("National Day (observed)")
        );
        assert!(r.is_holiday(date(2026, 8, 11)).is_none());
        assert!(!r.on_leave("Ana Tan", date(2026, 3, 1)));
        assert!(r.on_leave("Ana Tan", date(2026, 3, 2)));
        assert!(r.on_leave("Ana Tan", date(2026, 3, 4)));
        assert!(!r.on_leave("Ana Tan", date(2026, 3, 5)));
        assert!(!r.on_leave("Bo <Lim> & co", date(2026, 3, 3)));
    }

    #[test]
    fn problems_are_all_reported() {
        let bad = ROSTER
            .replace("Asia/Singapore", "Asia/Singapur")
            .replace("message_thread_id = 21", "")
            .replace("\"approver\"]", "\"approver\", \"admin\"]")
            .replace("telegram_id = 1002", "telegram_id = 1001")
            .replace("member = \"Ana Tan\"", "member = \"Zed\"");
        let findings = Roster::from_file(&parse(&bad)).expect_err("invalid");
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        for expected in [
            "bots/roster.toml: team.timezone: unknown IANA timezone \"Asia/Singapur\" (write it like Asia/Singapore)",
            "bots/roster.toml: threads[1].message_thread_id: missing message_thread_id: only the General topic goes without one, and threads[0] \"general\" already is it",
            "bots/roster.toml: members[0].roles[2]: unknown role \"admin\"; expected one of operator, approver, files_updates, cake",
            "bots/roster.toml: members[1].telegram_id: duplicate telegram_id 1001 (also members[0] \"Ana Tan\")",
            "bots/roster.toml: leave[0].member: unknown member \"Zed\"; not a name in [[members]]",
        ] {
            assert!(lines.iter().any(|l| l == expected), "missing {expected}\n{lines:#?}");
        }
        assert_eq!(lines.len(), 5, "{lines:#?}");
    }
}
