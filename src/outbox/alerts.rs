//! The console channel: operator DMs sent by the console identity (Lawrence by default,
//! chosen in `bots/herald.toml`). The configured name picks the identity once, at start
//! (`crate::fleet`, through the identity visitor); the channel then holds that identity's
//! [`Poster<I>`], so its rows are written as `I` like every other row, and it can only send
//! direct messages to roster operators. Its texts are templates in `templates/console/`.

use std::any::TypeId;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::json;
use sqlx::SqliteConnection;

use super::{EnqueueError, Lane, OutboxId, OutboxRow, OutgoingMessage};
use crate::identity::{BotIdentity, Poster};
use crate::roster::{Role, Roster};
use crate::text::fit_operator_message;

/// Enqueues operator DMs as the console identity.
#[derive(Clone)]
pub struct ConsoleChannel {
    poster: Arc<dyn ConsolePoster>,
    roster: Arc<Roster>,
}

impl std::fmt::Debug for ConsoleChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleChannel")
            .field("poster", &self.poster.identity_name())
            .finish_non_exhaustive()
    }
}

/// The console identity's [`Poster<I>`] with `I` kept inside. Crate-private and implemented
/// only for `Poster<I>`: the channel can only be made from a poster.
trait ConsolePoster: Send + Sync {
    /// Writes `message` as the poster's identity, stamped `at` (the caller's instant, the
    /// same as its audit entries').
    fn enqueue_at<'a>(
        &'a self,
        conn: &'a mut SqliteConnection,
        at: DateTime<Utc>,
        message: OutgoingMessage,
    ) -> BoxFuture<'a, Result<OutboxId, EnqueueError>>;

    fn identity(&self) -> TypeId;

    fn identity_name(&self) -> &'static str;
}

impl<I: BotIdentity> ConsolePoster for Poster<I> {
    fn enqueue_at<'a>(
        &'a self,
        conn: &'a mut SqliteConnection,
        at: DateTime<Utc>,
        message: OutgoingMessage,
    ) -> BoxFuture<'a, Result<OutboxId, EnqueueError>> {
        Box::pin(Poster::enqueue_at(self, conn, at, message))
    }

    fn identity(&self) -> TypeId {
        TypeId::of::<I>()
    }

    fn identity_name(&self) -> &'static str {
        I::NAME
    }
}

#[cfg(test)]
impl ConsoleChannel {
    /// Lawrence's console for unit tests, from a verification no `getMe` made (tests only).
    pub(crate) fn lawrence_for_tests(roster: Arc<Roster>) -> Self {
        let verified = crate::identity::VerifiedBot::<crate::identity::Lawrence>::new(
            crate::config::secrets::Token::new("3:test".into()),
            3,
            false,
        );
        let clock = crate::clock::Clock::manual(chrono::DateTime::UNIX_EPOCH);
        Self::new(Poster::new(&verified, clock), roster)
    }
}

/// Longest excerpt of a message quoted in an alert, in UTF-16 units.
const EXCERPT_UNITS: usize = 600;

/// A grouped DM about uncertain sends names at most this many rows (the rest are counted).
const GROUP_LISTED: usize = 10;
/// The visible length (UTF-16 units, as Telegram counts) a grouped DM stays within, well
/// under Telegram's 4096, whatever its rows hold.
const GROUP_TEXT_UNITS: usize = 3600;
/// Longest excerpt of one message, and of its cause, in a grouped DM.
const GROUP_EXCERPT_CHARS: usize = 50;
const GROUP_CAUSE_CHARS: usize = 60;

impl ConsoleChannel {
    /// The console, posting as `I` through `poster`: the identity the deployment names as its
    /// console, picked at start.
    pub fn new<I: BotIdentity>(poster: Poster<I>, roster: Arc<Roster>) -> Self {
        Self {
            poster: Arc::new(poster),
            roster,
        }
    }

    /// Whether the console posts as `I`.
    pub fn posts_as<I: BotIdentity>(&self) -> bool {
        self.poster.identity() == TypeId::of::<I>()
    }

    /// Sends `html` to every operator: split into as many messages as it takes, or cut to one
    /// when it carries buttons. Returns how many DMs were enqueued.
    pub async fn alert(
        &self,
        conn: &mut SqliteConnection,
        html: &str,
        markup: Option<serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<usize, EnqueueError> {
        let mut sent = 0;
        let operators: Vec<i64> = self
            .roster
            .members_with_role(Role::Operator)
            .map(|m| m.telegram_id)
            .collect();
        let parts = fit_operator_message(html, markup.is_some());
        for operator in operators {
            for (i, part) in parts.iter().enumerate() {
                let mut message =
                    OutgoingMessage::direct(operator, part.as_str()).in_lane(Lane::Urgent);
                if i + 1 == parts.len() {
                    message.reply_markup = markup.clone();
                }
                self.poster.enqueue_at(conn, at, message).await?;
                sent += 1;
            }
        }
        if sent == 0 {
            tracing::error!(
                "no roster member has the operator role: an alert could not be addressed"
            );
        }
        Ok(sent)
    }

    /// Sends `html` to one operator (a reply to something that operator asked for), split
    /// into as many messages as it takes.
    pub async fn direct(
        &self,
        conn: &mut SqliteConnection,
        operator: i64,
        html: &str,
        at: DateTime<Utc>,
    ) -> Result<(), EnqueueError> {
        if !self.roster.has_role(operator, Role::Operator) {
            tracing::error!(
                operator,
                "a console reply was addressed to a non-operator; dropped"
            );
            return Ok(());
        }
        for part in fit_operator_message(html, false) {
            let message = OutgoingMessage::direct(operator, part).in_lane(Lane::Urgent);
            self.poster.enqueue_at(conn, at, message).await?;
        }
        Ok(())
    }

    /// The DM about the uncertain sends `rows` (of one bot) gathered in `group`, and its
    /// buttons. One row reads as it always did, with its own Resend / Mark sent buttons;
    /// several are listed (as many as fit) with Resend all / Mark all sent naming the group.
    pub(crate) fn ambiguous_dm(
        &self,
        group: i64,
        rows: &[OutboxRow],
    ) -> (String, serde_json::Value) {
        if let [row] = rows {
            let html = crate::console_texts::render(
                "ambiguous_send.html",
                minijinja::context! {
                    row => self.row_context(row),
                    cause => row.error.as_deref().unwrap_or("unknown"),
                    excerpt => excerpt(&row.text),
                },
            );
            let markup = json!({"inline_keyboard": [[
                {"text": "Resend", "callback_data": format!("ob:resend:{}", row.id)},
                {"text": "Mark sent", "callback_data": format!("ob:sent:{}", row.id)},
            ]]});
            return (
                crate::text::cut(&html, crate::text::TELEGRAM_MESSAGE_LIMIT),
                markup,
            );
        }
        let lines: Vec<minijinja::Value> = rows
            .iter()
            .take(GROUP_LISTED)
            .map(|row| {
                minijinja::context! {
                    id => row.id,
                    place => self.roster.place(row.chat_id, row.thread_id),
                    job => row.job,
                    excerpt => cut(&excerpt(&row.text), GROUP_EXCERPT_CHARS),
                    cause => cut(row.error.as_deref().unwrap_or("unknown"), GROUP_CAUSE_CHARS),
                }
            })
            .collect();
        let render = |listed: usize| {
            crate::console_texts::render(
                "ambiguous_group.html",
                minijinja::context! {
                    count => rows.len(),
                    bot => rows.first().map_or("", |r| r.bot.as_str()),
                    rows => &lines[..listed],
                    more => rows.len() - listed,
                },
            )
        };
        // As many rows as fit, in order: fewer listed is never longer.
        let mut listed = lines.len();
        let mut html = render(listed);
        while listed > 0 && visible_units(&html) > GROUP_TEXT_UNITS {
            listed -= 1;
            html = render(listed);
        }
        let markup = json!({"inline_keyboard": [[
            {"text": "Resend all", "callback_data": format!("ob:resend-all:{group}")},
            {"text": "Mark all sent", "callback_data": format!("ob:sent-all:{group}")},
        ]]});
        (html, markup)
    }

    /// Sends `html`, already within Telegram's limits, to every operator. The outbox ids of
    /// the DMs.
    pub(crate) async fn alert_each(
        &self,
        conn: &mut SqliteConnection,
        html: &str,
        markup: Option<serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, EnqueueError> {
        let mut ids = Vec::new();
        for operator in self.operator_ids() {
            let mut message = OutgoingMessage::direct(operator, html).in_lane(Lane::Urgent);
            message.reply_markup = markup.clone();
            ids.push(self.poster.enqueue_at(conn, at, message).await?);
        }
        if ids.is_empty() {
            tracing::error!(
                "no roster member has the operator role: an alert could not be addressed"
            );
        }
        Ok(ids)
    }

    /// A send Telegram rejected.
    pub async fn failed_send(
        &self,
        conn: &mut SqliteConnection,
        row: &OutboxRow,
        description: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, sqlx::Error> {
        let html = crate::console_texts::render(
            "failed_send.html",
            minijinja::context! {
                row => self.row_context(row),
                description => description,
                excerpt => excerpt(&row.text),
            },
        );
        self.alert_unless_self(conn, row, &html, None, at).await
    }

    /// Every operator's Telegram id.
    pub fn operator_ids(&self) -> Vec<i64> {
        self.roster
            .members_with_role(Role::Operator)
            .map(|m| m.telegram_id)
            .collect()
    }

    /// Whether `row` is the console identity's DM to an operator (an alert or a console reply).
    pub fn is_operator_dm(&self, row: &OutboxRow) -> bool {
        row.bot == self.poster.identity_name()
            && row.thread_id.is_none()
            && self.roster.has_role(row.chat_id, Role::Operator)
    }

    /// Alerts about an operator DM itself would loop; those are logged at ERROR instead. A
    /// button-tap answer gets no alert: nobody sees it, and its query expires in seconds, so
    /// there is nothing to resend or retry.
    async fn alert_unless_self(
        &self,
        conn: &mut SqliteConnection,
        row: &OutboxRow,
        html: &str,
        markup: Option<serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<usize, sqlx::Error> {
        if !self.is_alertable(row) {
            return Ok(0);
        }
        match self.alert(conn, html, markup, at).await {
            Ok(n) => Ok(n),
            Err(EnqueueError::Db(e)) => Err(e),
            Err(other) => {
                tracing::error!(error = %other, "operator alert not enqueued");
                Ok(0)
            }
        }
    }

    /// Whether a failed or uncertain `row` gets an alert (logging why not, if not).
    pub(crate) fn is_alertable(&self, row: &OutboxRow) -> bool {
        if row.kind == super::OutboxKind::AnswerCallback {
            tracing::warn!(row = row.id, state = %row.state, "a button-tap answer was not delivered");
            return false;
        }
        if self.is_operator_dm(row) {
            tracing::error!(
                row = row.id,
                state = %row.state,
                "an operator alert could not be delivered; see the outbox"
            );
            return false;
        }
        true
    }

    /// What the console templates say about the row an alert is about (`row.bot`,
    /// `row.place`, `row.job`, `row.slot`, `row.id`).
    fn row_context(&self, row: &OutboxRow) -> minijinja::Value {
        minijinja::context! {
            id => row.id,
            bot => row.bot,
            place => self.roster.place(row.chat_id, row.thread_id),
            job => row.job,
            slot => row.slot,
        }
    }
}

/// The visible start of an HTML message, tags removed, for quoting in an alert.
fn excerpt(html: &str) -> String {
    crate::text::cut_plain(&crate::text::html_to_plain(html), EXCERPT_UNITS)
}

/// The first `max` characters of `text`, with an ellipsis if cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        let kept: String = text.chars().take(max).collect();
        format!("{kept}…")
    } else {
        text.to_owned()
    }
}

/// How long `html` is as Telegram counts it: UTF-16 units of its visible text.
fn visible_units(html: &str) -> usize {
    crate::text::html_to_plain(html).encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::identity::{Claudia, Lawrence};

    fn roster() -> Arc<Roster> {
        let config = crate::config::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        Arc::new(config.roster)
    }

    fn row(id: i64, text: &str, error: &str) -> OutboxRow {
        OutboxRow {
            id,
            bot: "clawrence".into(),
            kind: crate::outbox::OutboxKind::Send,
            lane: crate::outbox::Lane::Scheduled,
            chat_id: -42,
            thread_id: None,
            reply_to_message_id: None,
            target_message_id: None,
            callback_query_id: None,
            text: text.into(),
            reply_markup: None,
            job: Some("team-pulse".into()),
            slot: None,
            part: 0,
            state: crate::outbox::OutboxState::Ambiguous,
            attempts: 1,
            telegram_message_id: None,
            error: Some(error.into()),
            created_at: String::new(),
            updated_at: String::new(),
            not_before: None,
            document_name: None,
            target_outbox_id: None,
        }
    }

    /// The channel knows its identity by type, not by a name: the one the poster it was
    /// made from is for.
    #[test]
    fn the_console_posts_as_the_identity_of_its_poster() {
        let console = ConsoleChannel::lawrence_for_tests(roster());
        assert!(console.posts_as::<Lawrence>());
        assert!(!console.posts_as::<Claudia>());
        let operator = console.operator_ids()[0];
        let mut dm = row(1, "hi", "x");
        dm.bot = "lawrence".into();
        dm.chat_id = operator;
        assert!(console.is_operator_dm(&dm));
        dm.bot = "claudia".into();
        assert!(
            !console.is_operator_dm(&dm),
            "another bot's DM to an operator"
        );
    }

    /// A grouped DM lists as many rows as fit its budget, in order, and counts the rest.
    #[test]
    fn a_grouped_dm_stays_within_its_budget_and_counts_what_it_leaves_out() {
        let console = ConsoleChannel::lawrence_for_tests(roster());
        let short: Vec<OutboxRow> = (1..=12).map(|i| row(i, "short", "timed out")).collect();
        let (html, _) = console.ambiguous_dm(7, &short);
        assert_eq!(html.matches("\n• row ").count(), GROUP_LISTED, "{html}");
        assert!(html.contains("…and 2 more"), "{html}");
        assert!(crate::text::check(crate::text::TextKind::Message, &html).is_ok());

        // Rows whose excerpts and causes are as long as a DM line gets: fewer fit.
        let long_text = "&lt;".repeat(400);
        let long: Vec<OutboxRow> = (1..=40)
            .map(|i| {
                let mut r = row(i, &long_text, &"e".repeat(300));
                r.job = Some("j".repeat(2000));
                r
            })
            .collect();
        let (html, markup) = console.ambiguous_dm(7, &long);
        let listed = html.matches("\n• row ").count();
        assert!(
            visible_units(&html) <= GROUP_TEXT_UNITS,
            "{}",
            visible_units(&html)
        );
        assert!(listed < GROUP_LISTED, "{listed}");
        assert!(
            html.contains(&format!("…and {} more", long.len() - listed)),
            "{html}"
        );
        assert!(markup.to_string().contains("ob:resend-all:7"));
    }

    #[test]
    fn excerpt_strips_tags_and_decodes_entities() {
        assert_eq!(excerpt("<b>Tan &amp; Sons</b> &lt;3"), "Tan & Sons <3");
        let long = "x".repeat(700);
        assert_eq!(excerpt(&long).chars().count(), 600);
        // Counted in UTF-16 units: 600 emoji are 1,200.
        let emoji = "😀".repeat(600);
        assert_eq!(excerpt(&emoji), format!("{}…", "😀".repeat(299)));
    }
}
