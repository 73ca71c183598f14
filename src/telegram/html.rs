//! Telegram's `parse_mode=HTML`, checked the way the Bot API server checks it.
//!
//! Product code, not only a test aid: `outbox::enqueue` runs every message through it, so a
//! template producing `<br>`, an unclosed tag or a bare `&` fails where it is made (a job
//! run, a handler) with tdlib's wording, instead of costing a 400 `Bad Request: can't parse
//! entities: ...` at send time. The 4096 limit is measured on what it returns: the visible
//! text, after tags and entities are stripped, in UTF-16 code units. The simulator (crate
//! `herald-sim`) parses with its own code, after tdlib's, not with this checker.
//!
//! Wording of errors follows tdlib's parser where known (`Unsupported start tag "br" at byte
//! offset 35`, `Can't find end tag corresponding to start tag "b"`, ...). One deliberate
//! difference: Telegram keeps an `&` that starts no known entity as a literal character; this
//! checker rejects it, because herald must always escape its text.

use std::ops::Range;

use serde::Serialize;

/// Length of `s` in UTF-16 code units: Telegram's unit for entity offsets and text limits
/// (an emoji outside the Basic Multilingual Plane counts 2).
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// A `MessageEntity`. Offsets and lengths are in UTF-16 code units.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entity {
    pub offset: usize,
    pub length: usize,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_emoji_id: Option<String>,
}

impl Entity {
    pub fn new(kind: &'static str, offset: usize, length: usize) -> Self {
        Entity {
            offset,
            length,
            kind,
            url: None,
            language: None,
            custom_emoji_id: None,
        }
    }
}

/// Why Telegram would refuse a message's HTML: tdlib's wording, the part after
/// `Bad Request: can't parse entities: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HtmlError(String);

impl HtmlError {
    pub fn message(&self) -> &str {
        &self.0
    }
}

/// Visible text and formatting entities of a parsed HTML message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub text: String,
    pub entities: Vec<Entity>,
}

/// One piece of a valid message's source, in order: what [`pieces`] returns so that a
/// message can be cut between visible characters and every cut part stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// An opening tag: its lower-case name and its source bytes (attributes included).
    Open { name: String, source: Range<usize> },
    /// A closing tag and its source bytes.
    Close { source: Range<usize> },
    /// One visible character and the source bytes it came from (`&amp;` gives `&`).
    Char { ch: char, source: Range<usize> },
}

/// The tags Telegram accepts.
const SUPPORTED: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
];

struct Open {
    tag: String,
    seq: usize,
    start: usize,
    url: Option<String>,
    language: Option<String>,
    expandable: bool,
    emoji_id: Option<String>,
}

/// Parses `src` as Telegram HTML: its visible text and entities, or why Telegram would
/// refuse it.
pub fn parse(src: &str) -> Result<Parsed, HtmlError> {
    parse_inner(src, &mut None).map_err(HtmlError)
}

/// Whether Telegram would accept `src` as HTML.
pub fn check(src: &str) -> Result<(), HtmlError> {
    parse(src).map(|_| ())
}

/// The pieces of a valid message in source order, or why it is not valid.
pub fn pieces(src: &str) -> Result<Vec<Piece>, HtmlError> {
    let mut pieces = Vec::new();
    parse_inner(src, &mut Some(&mut pieces)).map_err(HtmlError)?;
    Ok(pieces)
}

fn note(record: &mut Option<&mut Vec<Piece>>, piece: impl FnOnce() -> Piece) {
    if let Some(pieces) = record.as_deref_mut() {
        pieces.push(piece());
    }
}

fn parse_inner(src: &str, record: &mut Option<&mut Vec<Piece>>) -> Result<Parsed, String> {
    let bytes = src.as_bytes();
    let mut text = String::with_capacity(src.len());
    let mut units = 0usize; // UTF-16 length of `text`
    let mut stack: Vec<Open> = Vec::new();
    let mut entities: Vec<(usize, Entity)> = Vec::new(); // (opening order, entity)
    let mut opened = 0usize;
    let mut i = 0usize;

    while i < bytes.len() {
        match bytes[i] {
            b'&' => {
                let (ch, next) = decode_entity(src, i).ok_or_else(|| {
                    format!("Character '&' at byte offset {i} must be escaped as \"&amp;\"")
                })?;
                note(record, || Piece::Char {
                    ch,
                    source: i..next,
                });
                text.push(ch);
                units += ch.len_utf16();
                i = next;
            }
            b'<' if bytes.get(i + 1) == Some(&b'/') => {
                let begin = i;
                let close = find_byte(bytes, i + 2, b'>')
                    .ok_or_else(|| format!("Unclosed end tag at byte offset {begin}"))?;
                let name = src[i + 2..close].trim().to_ascii_lowercase();
                let open = stack
                    .pop()
                    .ok_or_else(|| format!("Unexpected end tag at byte offset {begin}"))?;
                if open.tag != name {
                    return Err(format!(
                        "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{name}>\"",
                        open.tag
                    ));
                }
                note(record, || Piece::Close {
                    source: begin..close + 1,
                });
                if name == "code" {
                    if let Some(parent) = stack.last_mut() {
                        if parent.tag == "pre" && open.start == parent.start {
                            // <pre><code class="language-x">: one `pre` entity with a language.
                            parent.language = open.language.clone().or(parent.language.take());
                            i = close + 1;
                            continue;
                        }
                    }
                }
                if let Some(entity) = entity_for(&open, units) {
                    entities.push((open.seq, entity));
                }
                i = close + 1;
            }
            b'<' => {
                let begin = i;
                let mut j = i + 1;
                while j < bytes.len() && !bytes[j].is_ascii_whitespace() && bytes[j] != b'>' {
                    j += 1;
                }
                if j >= bytes.len() {
                    return Err(format!("Unclosed start tag at byte offset {begin}"));
                }
                let tag = src[i + 1..j].to_ascii_lowercase();
                if !SUPPORTED.contains(&tag.as_str()) {
                    return Err(format!(
                        "Unsupported start tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                opened += 1;
                let mut open = Open {
                    tag,
                    seq: opened,
                    start: units,
                    url: None,
                    language: None,
                    expandable: false,
                    emoji_id: None,
                };
                let mut class: Option<String> = None;
                // Attributes up to '>'.
                loop {
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if j >= bytes.len() {
                        return Err(format!("Unclosed start tag at byte offset {begin}"));
                    }
                    if bytes[j] == b'>' {
                        j += 1;
                        break;
                    }
                    let name_start = j;
                    while j < bytes.len()
                        && !bytes[j].is_ascii_whitespace()
                        && bytes[j] != b'='
                        && bytes[j] != b'>'
                    {
                        j += 1;
                    }
                    let attr = src[name_start..j].to_ascii_lowercase();
                    if attr.is_empty() {
                        return Err(format!(
                            "Empty attribute name in the tag \"{}\" at byte offset {name_start}",
                            open.tag
                        ));
                    }
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if bytes.get(j) != Some(&b'=') {
                        if open.tag == "blockquote" && attr == "expandable" {
                            open.expandable = true;
                            continue;
                        }
                        if j >= bytes.len() {
                            return Err(format!("Unclosed start tag at byte offset {begin}"));
                        }
                        return Err(format!(
                            "Expected equal sign in declaration of an attribute of the tag \"{}\" at byte offset {j}",
                            open.tag
                        ));
                    }
                    j += 1;
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    let raw = match bytes.get(j) {
                        None => return Err(format!("Unclosed start tag at byte offset {begin}")),
                        Some(&q) if q == b'"' || q == b'\'' => {
                            let end = find_byte(bytes, j + 1, q).ok_or_else(|| {
                                format!("Unclosed start tag at byte offset {begin}")
                            })?;
                            let raw = (j + 1, end);
                            j = end + 1;
                            raw
                        }
                        Some(_) => {
                            let s = j;
                            while j < bytes.len()
                                && !bytes[j].is_ascii_whitespace()
                                && bytes[j] != b'>'
                            {
                                j += 1;
                            }
                            (s, j)
                        }
                    };
                    let value = decode_attribute(src, raw.0, raw.1)?;
                    match (open.tag.as_str(), attr.as_str()) {
                        ("a", "href") => open.url = Some(value),
                        ("code" | "pre" | "span", "class") => class = Some(value),
                        ("tg-emoji", "emoji-id") => open.emoji_id = Some(value),
                        _ => {} // Telegram ignores other attributes.
                    }
                }
                match open.tag.as_str() {
                    "span" if class.as_deref() != Some("tg-spoiler") => {
                        return Err(format!(
                            "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                        ));
                    }
                    "tg-emoji"
                        if !open.emoji_id.as_deref().is_some_and(|id| {
                            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
                        }) =>
                    {
                        return Err(format!(
                            "Tag \"tg-emoji\" must have a numeric attribute \"emoji-id\" at byte offset {begin}"
                        ));
                    }
                    "code" => {
                        open.language = class
                            .as_deref()
                            .and_then(|c| c.strip_prefix("language-"))
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned);
                    }
                    _ => {}
                }
                note(record, || Piece::Open {
                    name: open.tag.clone(),
                    source: begin..j,
                });
                stack.push(open);
                i = j;
            }
            _ => {
                // Copy one whole UTF-8 character.
                let ch = src[i..].chars().next().unwrap_or('\u{FFFD}');
                let next = i + ch.len_utf8().max(1);
                note(record, || Piece::Char {
                    ch,
                    source: i..next,
                });
                text.push(ch);
                units += ch.len_utf16();
                i = next;
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.tag
        ));
    }
    debug_assert_eq!(units, utf16_len(&text));
    // Outer entities first where they start together; among equals, the one opened first.
    entities.sort_by(|(oa, a), (ob, b)| {
        a.offset
            .cmp(&b.offset)
            .then(b.length.cmp(&a.length))
            .then(oa.cmp(ob))
    });
    Ok(Parsed {
        text,
        entities: entities.into_iter().map(|(_, e)| e).collect(),
    })
}

fn entity_for(open: &Open, end: usize) -> Option<Entity> {
    let length = end.checked_sub(open.start).filter(|l| *l > 0)?;
    let kind = match open.tag.as_str() {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "tg-spoiler" | "span" => "spoiler",
        "code" => "code",
        "pre" => "pre",
        "blockquote" if open.expandable => "expandable_blockquote",
        "blockquote" => "blockquote",
        "tg-emoji" => "custom_emoji",
        "a" => "text_link",
        _ => return None,
    };
    let mut entity = Entity::new(kind, open.start, length);
    match kind {
        "pre" => entity.language = open.language.clone(),
        "custom_emoji" => entity.custom_emoji_id = open.emoji_id.clone(),
        // Telegram drops links it cannot parse; so do we (teloxide needs an absolute URL).
        "text_link" => entity.url = Some(normalize_url(open.url.as_deref()?)?),
        _ => {}
    }
    Some(entity)
}

fn normalize_url(href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    if let Ok(url) = url::Url::parse(href) {
        return Some(url.to_string());
    }
    let url = url::Url::parse(&format!("http://{href}")).ok()?;
    url.host_str()
        .filter(|h| h.contains('.'))
        .map(|_| url.to_string())
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|b| *b == needle)
        .map(|p| p + from)
}

/// Decodes the entity starting at `src[at] == '&'`: `&lt; &gt; &amp; &quot; &#NN; &#xNN;`.
/// Returns the character and the index just past the `;`.
fn decode_entity(src: &str, at: usize) -> Option<(char, usize)> {
    let rest = src.get(at + 1..)?;
    let semi = rest.bytes().take(12).position(|b| b == b';')?;
    let name = &rest[..semi];
    let ch = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                u32::from_str_radix(hex, 16).ok()?
            } else {
                if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                num.parse::<u32>().ok()?
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some((ch, at + 1 + semi + 1))
}

fn decode_attribute(src: &str, start: usize, end: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut i = start;
    while i < end {
        if src.as_bytes()[i] == b'&' {
            let (ch, next) = decode_entity(src, i)
                .filter(|(_, next)| *next <= end)
                .ok_or_else(|| {
                    format!("Character '&' at byte offset {i} must be escaped as \"&amp;\"")
                })?;
            out.push(ch);
            i = next;
        } else {
            let ch = src[i..].chars().next().unwrap_or('\u{FFFD}');
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        match parse(src) {
            Ok(p) => panic!("{src:?} parsed as {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn br_is_unsupported_with_byte_offset() {
        // The fixture's wording; 35 is the byte offset of '<' (the emoji is 4 bytes).
        let src = "🧾 <b>Invoice approval needed</b><br>x";
        assert_eq!(src.find("<br>"), Some(35));
        assert_eq!(err(src), "Unsupported start tag \"br\" at byte offset 35");
        assert_eq!(
            err("a<br/>"),
            "Unsupported start tag \"br/\" at byte offset 1"
        );
        assert_eq!(
            err("<p>x</p>"),
            "Unsupported start tag \"p\" at byte offset 0"
        );
    }

    #[test]
    fn unclosed_and_mismatched_tags() {
        assert_eq!(
            err("<b>bold"),
            "Can't find end tag corresponding to start tag \"b\""
        );
        assert_eq!(
            err("<b><i>x</b></i>"),
            "Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\""
        );
        assert_eq!(err("x</b>"), "Unexpected end tag at byte offset 1");
        assert_eq!(err("x <b"), "Unclosed start tag at byte offset 2");
        assert_eq!(err("<b>x</b"), "Unclosed end tag at byte offset 4");
        assert_eq!(
            err("<strong>x</b>"),
            "Unmatched end tag at byte offset 9, expected \"</strong>\", found \"</b>\""
        );
    }

    #[test]
    fn bare_lt_and_amp_are_errors() {
        assert_eq!(err("a < b"), "Unsupported start tag \"\" at byte offset 2");
        assert_eq!(
            err("Tan & Sons"),
            "Character '&' at byte offset 4 must be escaped as \"&amp;\""
        );
        assert!(err("&nbsp;").contains("byte offset 0"));
        assert!(err("&#xZZ;").contains("byte offset 0"));
        assert!(err("&#0;").contains("byte offset 0"));
        assert!(err("<a href=\"https://x.io/?a=1&b=2\">x</a>").contains("must be escaped"));
    }

    #[test]
    fn entities_are_decoded_and_gt_may_be_bare() {
        let p = parse("Tan &amp; Sons &lt;b&gt; &quot;q&quot; &#65;&#x42;&#X43; 2 > 1").unwrap();
        assert_eq!(p.text, "Tan & Sons <b> \"q\" ABC 2 > 1");
        assert!(p.entities.is_empty());
    }

    #[test]
    fn fixture_request_parses_to_fixture_text_and_entities() {
        let src = "🧾 <b>Invoice approval needed</b>\n<code>INV-0060</code> · Tan &amp; Sons Trading Pte Ltd";
        let p = parse(src).unwrap();
        assert_eq!(
            p.text,
            "🧾 Invoice approval needed\nINV-0060 · Tan & Sons Trading Pte Ltd"
        );
        assert_eq!(
            p.entities,
            vec![Entity::new("bold", 3, 23), Entity::new("code", 27, 8)]
        );
    }

    #[test]
    fn valid_complex_message() {
        let src = concat!(
            "<b>bold <i>both</i></b> <STRONG>s</STRONG> <em>e</em> <u>u</u> <ins>i</ins> ",
            "<s>s</s> <strike>k</strike> <del>d</del> <tg-spoiler>sp</tg-spoiler> ",
            "<span class=\"tg-spoiler\">sp2</span> <a href=\"https://example.com/?a=1&amp;b=2\">link</a> ",
            "<a href='tg://user?id=123'>me</a> <code>c</code> ",
            "<pre><code class=\"language-rust\">fn main() {}</code></pre> <pre>plain</pre> ",
            "<blockquote>q</blockquote> <blockquote expandable>long</blockquote> ",
            "<tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>"
        );
        let p = parse(src).unwrap();
        assert!(p
            .text
            .starts_with("bold both s e u i s k d sp sp2 link me c fn main() {} plain q long 👍"));
        let kinds: Vec<&str> = p.entities.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                "bold",
                "italic",
                "bold",
                "italic",
                "underline",
                "underline",
                "strikethrough",
                "strikethrough",
                "strikethrough",
                "spoiler",
                "spoiler",
                "text_link",
                "text_link",
                "code",
                "pre",
                "pre",
                "blockquote",
                "expandable_blockquote",
                "custom_emoji",
            ]
        );
        let pre = p.entities.iter().find(|e| e.kind == "pre").unwrap();
        assert_eq!(pre.language.as_deref(), Some("rust"));
        let link = p.entities.iter().find(|e| e.kind == "text_link").unwrap();
        assert_eq!(link.url.as_deref(), Some("https://example.com/?a=1&b=2"));
        assert_eq!(p.entities[0], Entity::new("bold", 0, 9));
        assert_eq!(p.entities[1], Entity::new("italic", 5, 4));
    }

    #[test]
    fn attribute_rules() {
        assert_eq!(
            err("<span>x</span>"),
            "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"
        );
        assert!(err("<tg-emoji>x</tg-emoji>").starts_with("Tag \"tg-emoji\""));
        assert_eq!(
            err("<a href>x</a>"),
            "Expected equal sign in declaration of an attribute of the tag \"a\" at byte offset 7"
        );
        assert_eq!(
            err("<a href=\"x>x</a>"),
            "Unclosed start tag at byte offset 0"
        );
        // Unknown attributes are ignored, an empty or unparsable href gives plain text.
        let p = parse("<b data-x=\"1\">x</b><a href=\"\">y</a><a href=\"nope\">z</a>").unwrap();
        assert_eq!(p.text, "xyz");
        assert_eq!(p.entities, vec![Entity::new("bold", 0, 1)]);
        let p = parse("<a href=\"example.com\">x</a>").unwrap();
        assert_eq!(p.entities[0].url.as_deref(), Some("http://example.com/"));
    }

    #[test]
    fn never_panics_on_junk() {
        // A small deterministic generator over the characters the parser cares about.
        let alphabet: Vec<char> = "<>/&;#xX=\"' abiprecodspan-é😀\n0129".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            if let Ok(p) = parse(&s) {
                let n = utf16_len(&p.text);
                assert!(p.entities.iter().all(|e| e.offset + e.length <= n), "{s:?}");
            }
        }
    }

    #[test]
    fn offsets_are_utf16() {
        let p = parse("😀<b>x</b>").unwrap();
        assert_eq!(p.entities, vec![Entity::new("bold", 2, 1)]);
        // Empty tags make no entity.
        assert!(parse("<b></b>x").unwrap().entities.is_empty());
    }

    #[test]
    fn pieces_cover_the_source_and_spell_the_visible_text() {
        let src = "🧾 <b>Tan &amp; <i>Sons</i></b> <pre><code class=\"language-x\">a&lt;b</code></pre> 2 > 1";
        let found = pieces(src).unwrap();
        let mut rebuilt = String::new();
        let mut visible = String::new();
        let mut opened = Vec::new();
        for piece in &found {
            match piece {
                Piece::Open { name, source } => {
                    opened.push(name.as_str());
                    rebuilt.push_str(&src[source.clone()]);
                }
                Piece::Close { source } => rebuilt.push_str(&src[source.clone()]),
                Piece::Char { ch, source } => {
                    visible.push(*ch);
                    rebuilt.push_str(&src[source.clone()]);
                }
            }
        }
        assert_eq!(rebuilt, src);
        assert_eq!(visible, parse(src).unwrap().text);
        assert_eq!(opened, vec!["b", "i", "pre", "code"]);
        assert!(pieces("<b>x").is_err());
        assert!(check("Tan & Sons").is_err());
        assert!(check("<b>ok</b>").is_ok());
    }
}
