//! Telegram's limits on every outgoing text, measured as Telegram measures them: the visible
//! text after entity parsing (tags dropped, `&amp;` one character), in UTF-16 code units (an
//! emoji outside the Basic Multilingual Plane counts 2). 4096 for a message, 1024 for a
//! caption, 200 for a button-tap answer.
//!
//! Every outgoing text is fitted here before it is enqueued, and `outbox::enqueue` checks it
//! again with [`check`]:
//! - posts and previews are split into parts that are each valid on their own
//!   ([`split_message`]);
//! - one-line replies are cut with an ellipsis ([`cut`]);
//! - user input echoed back (handles, reasons, job names) is cut short and escaped ([`echo`]);
//! - operator alerts and console answers are split, or cut when they carry buttons
//!   ([`fit_operator_message`]).
//!
//! Cuts fall between grapheme clusters (a flag, a family emoji, a letter with its combining
//! marks stays whole) unless a single cluster is longer than the whole limit.
//!
//! Why this module is `src/text.rs` and not `src/telegram/fit.rs`: every caller that builds a
//! message already imports `crate::text` for [`escape_html`], and the HTML rules themselves
//! (the checker) are in [`crate::telegram::html`]; keeping the fitting here changes no import
//! in the many files that build messages, and the fitting is about herald's messages (what to
//! cut, where to put the ellipsis) more than about the Bot API.

use unicode_segmentation::UnicodeSegmentation;

use crate::telegram::html::{self, utf16_len, HtmlError, Piece};

/// Telegram's limit on one message text, in UTF-16 units after entity parsing.
pub const TELEGRAM_MESSAGE_LIMIT: usize = 4096;
/// Telegram's limit on a media caption, in UTF-16 units after entity parsing.
pub const CAPTION_LIMIT: usize = 1024;
/// Telegram's limit on the text of a button-tap answer (`answerCallbackQuery`).
pub const CALLBACK_ANSWER_LIMIT: usize = 200;
/// How much of a piece of user input (a handle, a job name, a word) is echoed back.
pub const ECHO_LIMIT: usize = 64;
/// How much of a reason (for volts, for a rejected invoice) is kept and shown.
pub const REASON_LIMIT: usize = 280;

/// What marks a cut.
const ELLIPSIS: char = '…';

/// Which of Telegram's limits a text is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// The text of `sendMessage` / `editMessageText`: HTML, 4096 units.
    Message,
    /// A media caption: HTML, 1024 units.
    Caption,
    /// The toast of `answerCallbackQuery`: plain text, 200 units, may be empty.
    CallbackAnswer,
}

impl TextKind {
    pub fn limit(self) -> usize {
        match self {
            TextKind::Message => TELEGRAM_MESSAGE_LIMIT,
            TextKind::Caption => CAPTION_LIMIT,
            TextKind::CallbackAnswer => CALLBACK_ANSWER_LIMIT,
        }
    }
}

/// Why Telegram would refuse a text, in Telegram's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextProblem {
    #[error("can't parse entities: {0}")]
    Html(#[from] HtmlError),
    #[error(
        "message is too long: {units} UTF-16 units after entity parsing, over Telegram's {limit}"
    )]
    TooLong { units: usize, limit: usize },
    #[error("message text is empty")]
    Empty,
}

/// Whether Telegram would take `text` as a text of `kind`: valid HTML (for messages and
/// captions), something visible, and within the limit.
pub fn check(kind: TextKind, text: &str) -> Result<(), TextProblem> {
    let limit = kind.limit();
    let units = match kind {
        TextKind::CallbackAnswer => utf16_len(text),
        TextKind::Message | TextKind::Caption => {
            let parsed = html::parse(text)?;
            if parsed.text.chars().all(is_blank) {
                return Err(TextProblem::Empty);
            }
            utf16_len(&parsed.text)
        }
    };
    if units > limit {
        return Err(TextProblem::TooLong { units, limit });
    }
    Ok(())
}

/// The visible length of a Telegram-HTML text in UTF-16 units: what Telegram compares with
/// its limits.
pub fn visible_len(html: &str) -> Result<usize, HtmlError> {
    html::parse(html).map(|parsed| utf16_len(&parsed.text))
}

/// `text` escaped for Telegram's HTML parse mode.
pub fn escape_html(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

/// User input to be echoed back in a message (a handle, a job name, a word someone typed):
/// line breaks and other control characters become spaces, it is cut to `max` UTF-16 units
/// (with an ellipsis), and escaped for HTML.
pub fn echo(input: &str, max: usize) -> String {
    let one_line: String = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    escape_html(&cut_plain(&one_line, max))
}

/// Plain text cut to `limit` UTF-16 units: unchanged if it fits, else whole grapheme
/// clusters up to the limit, trailing whitespace dropped, and an ellipsis.
pub fn cut_plain(text: &str, limit: usize) -> String {
    if utf16_len(text) <= limit {
        return text.to_owned();
    }
    let budget = limit.saturating_sub(ELLIPSIS.len_utf16());
    let mut out = String::new();
    let mut units = 0;
    for grapheme in text.graphemes(true) {
        let len = utf16_len(grapheme);
        if units + len > budget {
            if out.is_empty() {
                // One cluster longer than the limit: cut inside it, between characters.
                for c in grapheme.chars() {
                    if units + c.len_utf16() > budget {
                        break;
                    }
                    units += c.len_utf16();
                    out.push(c);
                }
            }
            break;
        }
        units += len;
        out.push_str(grapheme);
    }
    let kept = out.trim_end_matches(is_blank).len();
    out.truncate(kept);
    out.push(ELLIPSIS);
    out
}

/// A one-line reply (or a card) cut to `limit` visible UTF-16 units: unchanged if it fits,
/// else the visible text up to the limit on a grapheme boundary, trailing whitespace dropped,
/// an ellipsis inside whatever tags are still open, and those tags closed. Text that is not
/// valid Telegram HTML comes back unchanged, for `outbox::enqueue` to refuse with the reason.
pub fn cut(html: &str, limit: usize) -> String {
    let Ok(pieces) = html::pieces(html) else {
        return html.to_owned();
    };
    let visible = Visible::of(&pieces);
    if visible.units(0, visible.len()) <= limit {
        return html.to_owned();
    }
    let budget = limit.saturating_sub(ELLIPSIS.len_utf16());
    let max_end = visible.max_end(0, budget);
    let mut end = (1..=max_end)
        .rev()
        .find(|&b| visible.boundary[b])
        .unwrap_or(max_end);
    while end > 0 && is_blank(visible.chars[end - 1].1) {
        end -= 1;
    }
    // Everything up to the last kept character (or, if none is kept, up to the first one).
    let until = match end {
        0 => visible.chars.first().map_or(pieces.len(), |c| c.0),
        _ => visible.chars[end - 1].0 + 1,
    };
    let mut out = String::with_capacity(html.len().min(limit * 4));
    let mut open = OpenTags::default();
    for piece in &pieces[..until] {
        out.push_str(&html[source(piece)]);
        open.note(piece);
    }
    out.push(ELLIPSIS);
    open.close_into(&mut out);
    out
}

/// A split of a message into parts that each fit: the parts in order, and the visible text
/// left out around them (`gaps`, one more than the parts).
///
/// What "joined" means: `gaps[0] + visible(parts[0]) + gaps[1] + ... + visible(parts[n-1]) +
/// gaps[n]` is exactly the visible text of the input. A gap is whitespace only: the newline
/// or space a cut fell on (it belongs to neither part), and any stretch that would have made
/// a part with nothing visible in it (Telegram refuses an empty message). A cut between two
/// grapheme clusters leaves an empty gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub parts: Vec<String>,
    pub gaps: Vec<String>,
}

/// Splits a Telegram-HTML message whose visible text is over `limit` UTF-16 units into
/// ordered parts that each fit and are each valid HTML on their own. Cuts fall on line
/// boundaries; only a line longer than `limit` is cut inside, at its last space, or else
/// between grapheme clusters. A tag open across a cut is closed at the end of one part and
/// reopened (with its attributes) at the start of the next. A message that fits comes back
/// unchanged, as one part; one with nothing visible gives no part.
pub fn split(html: &str, limit: usize) -> Result<Split, HtmlError> {
    // A character outside the BMP is 2 units: any smaller limit could not make progress.
    let limit = limit.max(2);
    let pieces = html::pieces(html)?;
    let visible = Visible::of(&pieces);
    let n = visible.len();
    if visible.chars.iter().all(|c| is_blank(c.1)) {
        return Ok(Split {
            parts: Vec::new(),
            gaps: vec![visible.text(0, n)],
        });
    }
    if visible.units(0, n) <= limit {
        return Ok(Split {
            parts: vec![html.to_owned()],
            gaps: vec![String::new(), String::new()],
        });
    }
    let mut split = Split {
        parts: Vec::new(),
        gaps: vec![String::new()],
    };
    let mut start = 0;
    let mut cursor = Cursor {
        pieces: &pieces,
        visible: &visible,
        next_piece: 0,
        open: OpenTags::default(),
    };
    while start < n {
        // A part never starts blank: Telegram would trim it, and it may be all there is.
        let first = (start..n)
            .find(|&k| !is_blank(visible.chars[k].1))
            .unwrap_or(n);
        cursor.leave_out(&mut split, start, first);
        start = first;
        if start == n {
            break;
        }
        let (end, resume) = visible.next_cut(start, limit);
        split.parts.push(cursor.part(html, end));
        split.gaps.push(String::new());
        cursor.leave_out(&mut split, end, resume);
        start = resume;
    }
    Ok(split)
}

/// The parts of [`split`]. Text that is not valid Telegram HTML comes back unchanged as one
/// part, for `outbox::enqueue` to refuse with the reason.
pub fn split_message(html: &str, limit: usize) -> Vec<String> {
    match split(html, limit) {
        Ok(split) => split.parts,
        Err(_) => vec![html.to_owned()],
    }
}

/// An operator alert or console answer made to fit: split into as many messages as it
/// takes, or, when it carries buttons (which belong to one message), cut to one.
pub fn fit_operator_message(html: &str, with_buttons: bool) -> Vec<String> {
    if with_buttons {
        vec![cut(html, TELEGRAM_MESSAGE_LIMIT)]
    } else {
        split_message(html, TELEGRAM_MESSAGE_LIMIT)
    }
}

/// The visible text of a Telegram-HTML message: tags dropped, entities decoded. Text that is
/// not valid HTML is stripped of anything between `<` and `>` instead.
pub fn html_to_plain(html: &str) -> String {
    if let Ok(parsed) = html::parse(html) {
        return parsed.text;
    }
    let mut plain = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    html_escape::decode_html_entities(&plain).into_owned()
}

/// Characters that do not make a message non-empty: whitespace, and the invisible
/// characters Telegram strips from the ends of a text.
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
                | '\u{2800}' | '\u{FEFF}' | '\u{FFFC}'
        )
}

/// Walks a message's pieces in order while [`split`] makes its parts.
struct Cursor<'a> {
    pieces: &'a [Piece],
    visible: &'a Visible,
    /// The first piece not yet in a part or a gap.
    next_piece: usize,
    /// The tags open before `next_piece`.
    open: OpenTags,
}

impl Cursor<'_> {
    /// The part from here up to visible character `end` (exclusive) and the closing tags
    /// right after it: the tags open here reopened, its pieces as written, what is still
    /// open closed.
    fn part(&mut self, html: &str, end: usize) -> String {
        let part_end = after_closes(self.pieces, self.visible.chars[end - 1].0 + 1);
        let mut part = self.open.reopen(html);
        for piece in &self.pieces[self.next_piece..part_end] {
            part.push_str(&html[source(piece)]);
            self.open.note(piece);
        }
        self.open.close_into(&mut part);
        self.next_piece = part_end;
        part
    }

    /// Visible characters `from..to` (from here) are left out: their text goes to the last
    /// gap, their tags are only noted.
    fn leave_out(&mut self, split: &mut Split, from: usize, to: usize) {
        if to <= from {
            return;
        }
        if let Some(gap) = split.gaps.last_mut() {
            gap.push_str(&self.visible.text(from, to));
        }
        let gap_end = after_closes(self.pieces, self.visible.chars[to - 1].0 + 1);
        for piece in &self.pieces[self.next_piece..gap_end] {
            self.open.note(piece);
        }
        self.next_piece = gap_end;
    }
}

fn source(piece: &Piece) -> std::ops::Range<usize> {
    match piece {
        Piece::Open { source, .. } | Piece::Close { source } | Piece::Char { source, .. } => {
            source.clone()
        }
    }
}

/// The index just past the closing tags that follow `from`.
fn after_closes(pieces: &[Piece], from: usize) -> usize {
    let mut i = from;
    while matches!(pieces.get(i), Some(Piece::Close { .. })) {
        i += 1;
    }
    i
}

/// The visible characters of a message with where they are among its pieces.
struct Visible {
    /// (index of the piece, character).
    chars: Vec<(usize, char)>,
    /// `prefix[k]`: UTF-16 units of the first `k` characters.
    prefix: Vec<usize>,
    /// `boundary[k]`: a grapheme cluster starts at character `k` (and at the end).
    boundary: Vec<bool>,
}

impl Visible {
    fn of(pieces: &[Piece]) -> Self {
        let chars: Vec<(usize, char)> = pieces
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p {
                Piece::Char { ch, .. } => Some((i, *ch)),
                _ => None,
            })
            .collect();
        let mut prefix = Vec::with_capacity(chars.len() + 1);
        prefix.push(0);
        for (_, c) in &chars {
            prefix.push(prefix.last().copied().unwrap_or(0) + c.len_utf16());
        }
        let text: String = chars.iter().map(|c| c.1).collect();
        let mut char_at_byte = vec![0usize; text.len() + 1];
        for (k, (byte, _)) in text.char_indices().enumerate() {
            char_at_byte[byte] = k;
        }
        let mut boundary = vec![false; chars.len() + 1];
        for (byte, _) in text.grapheme_indices(true) {
            boundary[char_at_byte[byte]] = true;
        }
        boundary[chars.len()] = true;
        Self {
            chars,
            prefix,
            boundary,
        }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    fn units(&self, from: usize, to: usize) -> usize {
        self.prefix[to] - self.prefix[from]
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().map(|c| c.1).collect()
    }

    /// The largest `end` such that characters `start..end` fit in `budget` units.
    fn max_end(&self, start: usize, budget: usize) -> usize {
        let limit = self.prefix[start] + budget;
        // `prefix` is increasing: the last index whose prefix is within the limit.
        self.prefix
            .partition_point(|&p| p <= limit)
            .saturating_sub(1)
    }

    /// Where the part starting at `start` ends (`end`, exclusive) and the next begins
    /// (`resume`): the character between them, if any, is a newline or space left out.
    fn next_cut(&self, start: usize, limit: usize) -> (usize, usize) {
        let n = self.len();
        if self.units(start, n) <= limit {
            return (n, n);
        }
        // `limit` is at least 2, so at least one character fits.
        let max_end = self.max_end(start, limit).max(start + 1);
        for wanted in ['\n', ' '] {
            if let Some(at) = (start + 1..=max_end)
                .rev()
                .find(|&k| self.chars[k].1 == wanted)
            {
                return (at, at + 1);
            }
        }
        match (start + 1..=max_end).rev().find(|&k| self.boundary[k]) {
            Some(at) => (at, at),
            None => (max_end, max_end),
        }
    }
}

/// The tags open at a point of a valid message, outermost first.
#[derive(Default)]
struct OpenTags {
    stack: Vec<(String, std::ops::Range<usize>)>,
}

impl OpenTags {
    fn note(&mut self, piece: &Piece) {
        match piece {
            Piece::Open { name, source } => self.stack.push((name.clone(), source.clone())),
            Piece::Close { .. } => {
                self.stack.pop();
            }
            Piece::Char { .. } => {}
        }
    }

    /// The opening tags, as written, to start a part inside them.
    fn reopen(&self, html: &str) -> String {
        self.stack
            .iter()
            .map(|(_, source)| &html[source.clone()])
            .collect()
    }

    /// Closes every open tag, innermost first (the stack itself is left as it is).
    fn close_into(&self, out: &mut String) {
        for (name, _) in self.stack.iter().rev() {
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(html: &str) -> usize {
        visible_len(html).unwrap()
    }

    fn joined(split: &Split) -> String {
        let mut out = split.gaps[0].clone();
        for (part, gap) in split.parts.iter().zip(&split.gaps[1..]) {
            out.push_str(&html_to_plain(part));
            out.push_str(gap);
        }
        out
    }

    #[test]
    fn a_message_that_fits_is_one_unchanged_part() {
        assert_eq!(
            split_message("<b>hi</b>\nthere", 4096),
            vec!["<b>hi</b>\nthere"]
        );
        assert!(split_message(" \n ", 4096).is_empty());
    }

    #[test]
    fn limits_are_counted_in_utf16_units_after_entity_parsing() {
        // 2,100 emoji are 2,100 characters but 4,200 units: over the limit.
        let emoji = "😀".repeat(2100);
        assert_eq!(visible(&emoji), 4200);
        assert_eq!(
            check(TextKind::Message, &emoji),
            Err(TextProblem::TooLong {
                units: 4200,
                limit: 4096
            })
        );
        // Tags and entities count as what they show.
        let tagged = format!("<b>{}</b>&amp;", "a".repeat(4095));
        assert_eq!(visible(&tagged), 4096);
        assert_eq!(check(TextKind::Message, &tagged), Ok(()));
        assert_eq!(
            check(TextKind::Caption, &tagged),
            Err(TextProblem::TooLong {
                units: 4096,
                limit: 1024
            })
        );
        assert!(matches!(
            check(TextKind::Message, "a<br>b"),
            Err(TextProblem::Html(_))
        ));
        assert_eq!(
            check(TextKind::Message, "<b> </b>\n"),
            Err(TextProblem::Empty)
        );
        // A button answer is plain text: `<` is just a character, and empty is allowed.
        assert_eq!(check(TextKind::CallbackAnswer, "a < b"), Ok(()));
        assert_eq!(check(TextKind::CallbackAnswer, ""), Ok(()));
        assert!(check(TextKind::CallbackAnswer, &"é".repeat(201)).is_err());
    }

    #[test]
    fn long_messages_split_at_line_boundaries_into_valid_parts() {
        let lines: Vec<String> = (0..400)
            .map(|i| format!("{i:03}. <b>Tan &amp; Sons</b> — <i>@member_{i}</i> 🎉"))
            .collect();
        let html = format!("<blockquote>{}</blockquote>", lines.join("\n"));
        let split = split(&html, 4096).unwrap();
        assert!(split.parts.len() > 1, "{}", split.parts.len());
        for part in &split.parts {
            assert!(visible(part) <= 4096, "{}", visible(part));
            assert!(part.starts_with("<blockquote>") && part.ends_with("</blockquote>"));
        }
        // Each cut fell on a line break, which belongs to neither part.
        assert!(split.gaps[1..split.parts.len()].iter().all(|g| g == "\n"));
        assert_eq!(joined(&split), html_to_plain(&html));
    }

    #[test]
    fn an_over_long_line_is_cut_at_a_space_and_keeps_its_tags() {
        let html = format!(
            "<a href=\"https://x.io/?a=1&amp;b=2\">{}</a>",
            "abcdefghij ".repeat(50)
        );
        let split = split(&html, 100).unwrap();
        assert!(split.parts.len() >= 5);
        for part in &split.parts {
            assert!(visible(part) <= 100);
            assert!(
                part.starts_with("<a href=\"https://x.io/?a=1&amp;b=2\">"),
                "{part}"
            );
            assert!(!html_to_plain(part).contains("abcdefghijabc"));
        }
        assert_eq!(joined(&split), html_to_plain(&html));
    }

    #[test]
    fn cuts_without_spaces_keep_grapheme_clusters_whole() {
        // A family (ZWJ sequence, 11 units), a flag (4 units), a waving hand with a skin tone.
        let cluster = "👨‍👩‍👧‍👦🇸🇬👋🏽";
        let html = cluster.repeat(40);
        let split = split(&html, 50).unwrap();
        for part in &split.parts {
            assert!(visible(part) <= 50);
            for g in part.graphemes(true) {
                assert!(["👨‍👩‍👧‍👦", "🇸🇬", "👋🏽"].contains(&g), "{g:?} in {part}");
            }
        }
        assert_eq!(joined(&split), html);
        let cut = cut(&html, 30);
        assert!(visible(&cut) <= 30);
        assert_eq!(cut, format!("{cluster}…"));
    }

    #[test]
    fn blank_stretches_make_no_part() {
        let html = format!("a\n{}\nb", " ".repeat(30));
        let split = split(&html, 10).unwrap();
        assert_eq!(split.parts, vec!["a", "b"]);
        assert_eq!(joined(&split), html);
    }

    #[test]
    fn cut_puts_the_ellipsis_inside_open_tags() {
        let html = format!("<b>Tan &amp; Sons {}</b> tail", "x".repeat(100));
        let cut = cut(&html, 20);
        assert_eq!(cut, "<b>Tan &amp; Sons xxxxxxxx…</b>");
        assert_eq!(visible(&cut), 20);
        assert_eq!(super::cut("<b>short</b>", 20), "<b>short</b>");
        // Invalid HTML is left for enqueue to refuse.
        assert_eq!(super::cut("a<br>b", 2), "a<br>b");
    }

    #[test]
    fn echo_cuts_flattens_and_escapes_user_input() {
        assert_eq!(echo("<b>&", 64), "&lt;b&gt;&amp;");
        assert_eq!(echo("two\nlines", 64), "two lines");
        let handle = "a".repeat(4080);
        let echoed = echo(&handle, ECHO_LIMIT);
        assert_eq!(echoed, format!("{}…", "a".repeat(63)));
        assert_eq!(utf16_len(&echoed), ECHO_LIMIT);
        assert_eq!(
            cut_plain("é".repeat(300).as_str(), 200).chars().count(),
            200
        );
    }

    #[test]
    fn drops_tags_and_decodes_entities() {
        assert_eq!(
            html_to_plain("<a href=\"x\">Tan &amp; Sons</a> &lt;3"),
            "Tan & Sons <3"
        );
        // Not valid HTML: stripped all the same.
        assert_eq!(html_to_plain("a <br> &amp; b"), "a  & b");
    }

    /// Random texts through every path: each part within its limit and valid for the
    /// checker; a split's parts and gaps joined give back the input's visible text.
    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Pieces of text that are hard to cut: ZWJ sequences, flags, skin tones,
        /// combining marks, CJK, characters outside the BMP, what HTML must escape, blanks.
        const ATOMS: &[&str] = &[
            "a",
            "Z",
            "7",
            " ",
            " ",
            "\n",
            "\n\n",
            "\t",
            "&",
            "<",
            ">",
            "\"",
            "'",
            "é",
            "e\u{301}",
            "a\u{308}\u{323}",
            "\u{301}\u{302}\u{303}",
            "👨‍👩‍👧‍👦",
            "🏳️‍🌈",
            "🧑🏽‍💻",
            "🇸🇬",
            "🇯🇵",
            "👋🏽",
            "👍🏿",
            "😀",
            "漢字",
            "日本語",
            "한국어",
            "𝔘",
            "\u{200B}",
            "\u{00A0}",
            "\u{3000}",
            "&amp;",
            "—",
        ];

        /// Tags herald's messages use, as (opening, closing).
        const TAGS: &[(&str, &str)] = &[
            ("<b>", "</b>"),
            ("<i>", "</i>"),
            ("<a href=\"https://x.io/?a=1&amp;b=2\">", "</a>"),
            ("<pre><code class=\"language-rust\">", "</code></pre>"),
            ("<blockquote expandable>", "</blockquote>"),
            ("<tg-spoiler>", "</tg-spoiler>"),
            ("<code>", "</code>"),
        ];

        const MAX_UNITS: usize = 20_000;

        #[derive(Debug, Clone)]
        enum Bit {
            Text(&'static str),
            Open(usize),
            Close,
        }

        fn bit() -> impl Strategy<Value = Bit> {
            prop_oneof![
                12 => (0..ATOMS.len()).prop_map(|i| Bit::Text(ATOMS[i])),
                1 => (0..TAGS.len()).prop_map(Bit::Open),
                1 => Just(Bit::Close),
            ]
        }

        /// (the raw text, the same text escaped and wrapped in balanced tags), at most
        /// 20,000 UTF-16 units of visible text.
        fn texts() -> impl Strategy<Value = (String, String)> {
            prop::collection::vec(bit(), 0..9_000).prop_map(|bits| {
                let (mut raw, mut html) = (String::new(), String::new());
                let mut open: Vec<usize> = Vec::new();
                let mut units = 0;
                for bit in bits {
                    match bit {
                        Bit::Text(atom) => {
                            units += utf16_len(atom);
                            if units > MAX_UNITS {
                                break;
                            }
                            raw.push_str(atom);
                            html.push_str(&escape_html(atom));
                        }
                        Bit::Open(tag) => {
                            html.push_str(TAGS[tag].0);
                            open.push(tag);
                        }
                        Bit::Close => {
                            if let Some(tag) = open.pop() {
                                html.push_str(TAGS[tag].1);
                            }
                        }
                    }
                }
                for tag in open.into_iter().rev() {
                    html.push_str(TAGS[tag].1);
                }
                (raw, html)
            })
        }

        fn limits() -> impl Strategy<Value = usize> {
            prop_oneof![
                Just(TELEGRAM_MESSAGE_LIMIT),
                Just(CAPTION_LIMIT),
                Just(CALLBACK_ANSWER_LIMIT),
                2..300usize,
            ]
        }

        fn assert_sendable(part: &str, limit: usize) -> Result<(), TestCaseError> {
            prop_assert!(html::check(part).is_ok(), "invalid part {part:?}");
            let units = visible_len(part).unwrap_or(usize::MAX);
            prop_assert!(units <= limit, "{units} > {limit} in {part:?}");
            prop_assert!(!html_to_plain(part).chars().all(is_blank), "blank part");
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn splits_are_valid_fit_and_join_back((raw, html) in texts(), limit in limits()) {
                prop_assert_eq!(&html_to_plain(&html), &raw);
                let split = split(&html, limit).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(split.gaps.len(), split.parts.len() + 1);
                let mut joined = split.gaps[0].clone();
                for (part, gap) in split.parts.iter().zip(&split.gaps[1..]) {
                    assert_sendable(part, limit)?;
                    joined.push_str(&html_to_plain(part));
                    joined.push_str(gap);
                }
                prop_assert!(split.gaps.iter().all(|g| g.chars().all(is_blank)));
                prop_assert_eq!(joined, raw);
            }

            #[test]
            fn cuts_are_valid_fit_and_keep_the_start((raw, html) in texts(), limit in limits()) {
                let cut = cut(&html, limit);
                if utf16_len(&raw) <= limit {
                    prop_assert_eq!(&cut, &html);
                } else {
                    prop_assert!(html::check(&cut).is_ok(), "invalid cut {cut:?}");
                    prop_assert!(visible_len(&cut).unwrap_or(usize::MAX) <= limit);
                    let shown = html_to_plain(&cut);
                    let kept = shown.strip_suffix('…').unwrap_or_default();
                    prop_assert!(raw.starts_with(kept), "{kept:?} does not start {raw:?}");
                }
                let plain = cut_plain(&raw, limit);
                prop_assert!(utf16_len(&plain) <= limit);
                prop_assert!(raw.starts_with(plain.trim_end_matches('…')));
            }

            #[test]
            fn echoes_are_short_escaped_and_valid((raw, _html) in texts(), max in 2..300usize) {
                let echoed = echo(&raw, max);
                prop_assert!(html::check(&echoed).is_ok(), "invalid echo {echoed:?}");
                let shown = html_to_plain(&echoed);
                prop_assert!(utf16_len(&shown) <= max);
                prop_assert!(!shown.chars().any(char::is_control));
            }

            #[test]
            fn operator_messages_fit((_raw, html) in texts(), buttons in any::<bool>()) {
                let parts = fit_operator_message(&html, buttons);
                if buttons {
                    prop_assert_eq!(parts.len(), 1);
                    prop_assert!(html::check(&parts[0]).is_ok());
                    prop_assert!(visible_len(&parts[0]).unwrap_or(usize::MAX) <= TELEGRAM_MESSAGE_LIMIT);
                } else {
                    for part in &parts {
                        assert_sendable(part, TELEGRAM_MESSAGE_LIMIT)?;
                    }
                }
            }
        }
    }
}
