//! `parse_mode=HTML` as the Bot API server parses it (tdlib's `parse_html`): visible text,
//! formatting entities with UTF-16 offsets, and tdlib's error wording.
//!
//! Written for the simulator alone, on purpose: herald checks its own HTML before sending, and a
//! fake that reused that checker would agree with it even where both are wrong. This one follows
//! Telegram, so it accepts what Telegram accepts: an `&` that starts no known entity stays a
//! literal `&`, the `;` of an entity is optional, attributes without a value are ignored, and an
//! empty end tag `</>` closes the innermost tag.
//!
//! Not modelled: `<tg-time>` (answered as an unsupported tag); a `tg://user?id=` link is
//! reported as [`Kind::MentionName`] and the caller decides what to show for it.

/// What an entity is, with its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    /// `<pre><code class="language-x">`: a `pre` entity with a language.
    PreCode(String),
    /// `text_link` with its checked URL.
    TextUrl(String),
    /// `<a href="tg://user?id=N">`: a mention of user `N`.
    MentionName(i64),
    CustomEmoji(i64),
    BlockQuote,
    ExpandableBlockQuote,
}

impl Kind {
    /// tdlib's order among entities with the same offset and length (lower first).
    fn priority(&self) -> u8 {
        match self {
            Kind::BlockQuote | Kind::ExpandableBlockQuote => 0,
            Kind::PreCode(_) => 10,
            Kind::Pre => 11,
            Kind::Code => 20,
            Kind::TextUrl(_) | Kind::MentionName(_) => 49,
            Kind::Bold => 90,
            Kind::Italic => 91,
            Kind::Underline => 92,
            Kind::Strikethrough => 93,
            Kind::Spoiler => 94,
            Kind::CustomEmoji(_) => 99,
        }
    }
}

/// One entity; `offset` and `length` in UTF-16 code units of the visible text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub kind: Kind,
    pub offset: usize,
    pub length: usize,
}

/// The visible text and its entities, sorted as Telegram sorts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub text: String,
    pub entities: Vec<Span>,
}

/// The tags Telegram accepts (lower case).
const TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

/// tdlib's `is_space`; the end of the text counts as a space (C's terminating NUL).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0b)
}

/// An open tag waiting for its end tag.
struct Open {
    tag: String,
    argument: String,
    /// UTF-16 offset of its first visible character.
    offset: usize,
    /// Byte offset in the visible text (for `<a>` without `href`, whose text is the URL).
    text_start: usize,
}

/// An entity found so far; `Code` keeps its language until the enclosing `pre` closes.
struct Found {
    kind: Kind,
    language: String,
    offset: usize,
    length: usize,
}

/// Parses `src` as Telegram HTML. The error is tdlib's message, the part after
/// `Bad Request: can't parse entities: `.
pub(crate) fn parse(src: &str) -> Result<Parsed, String> {
    let bytes = src.as_bytes();
    // Past the end reads as 0, as in tdlib's C string.
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut text: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut units = 0usize;
    let mut surrogate = false;
    let mut open: Vec<Open> = Vec::new();
    let mut found: Vec<Found> = Vec::new();

    let mut i = 0usize;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'&' {
            if let Some((code, next)) = decode_entity(bytes, i) {
                let ch = char::from_u32(code).unwrap_or_else(|| {
                    surrogate = true;
                    char::REPLACEMENT_CHARACTER
                });
                units += if code > 0xffff { 2 } else { 1 };
                let mut buf = [0u8; 4];
                text.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i = next;
                continue;
            }
        }
        if c != b'<' {
            if c & 0xc0 != 0x80 {
                units += if c >= 0xf0 { 2 } else { 1 };
            }
            text.push(c);
            i += 1;
            continue;
        }

        let begin = i;
        i += 1;
        if at(i) != b'/' {
            // A start tag.
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            if at(i) == 0 {
                return Err(format!("Unclosed start tag at byte offset {begin}"));
            }
            let tag = src[begin + 1..i].to_ascii_lowercase();
            if !TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{tag}\" at byte offset {begin}"
                ));
            }
            let mut argument = String::new();
            while at(i) != b'>' {
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == b'>' {
                    break;
                }
                let name_start = i;
                while !is_space(at(i)) && !matches!(at(i), b'=' | b'>' | b'/' | b'"' | b'\'') {
                    i += 1;
                }
                let name = &src[name_start..i];
                if name.is_empty() {
                    return Err(format!(
                        "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) != b'=' {
                    if at(i) == 0 {
                        return Err(format!(
                            "Unclosed start tag \"{tag}\" at byte offset {begin}"
                        ));
                    }
                    // An attribute without a value.
                    if tag == "blockquote" && name == "expandable" {
                        argument = "1".into();
                    }
                    continue;
                }
                i += 1;
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == 0 {
                    return Err(format!(
                        "Unclosed start tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                let value = if at(i) != b'\'' && at(i) != b'"' {
                    // A name token: letters, digits, '.' and '-', case-insensitive.
                    let token_start = i;
                    while at(i).is_ascii_alphanumeric() || matches!(at(i), b'.' | b'-') {
                        i += 1;
                    }
                    if !is_space(at(i)) && at(i) != b'>' {
                        return Err(format!(
                            "Unexpected end of name token at byte offset {token_start}"
                        ));
                    }
                    src[token_start..i].to_ascii_lowercase()
                } else {
                    let quote = at(i);
                    i += 1;
                    let mut value: Vec<u8> = Vec::new();
                    while at(i) != quote && at(i) != 0 {
                        if at(i) == b'&' {
                            if let Some((code, next)) = decode_entity(bytes, i) {
                                let ch =
                                    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                                let mut buf = [0u8; 4];
                                value.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                i = next;
                                continue;
                            }
                        }
                        value.push(at(i));
                        i += 1;
                    }
                    if at(i) == quote {
                        i += 1;
                    }
                    String::from_utf8_lossy(&value).into_owned()
                };
                if at(i) == 0 {
                    return Err(format!("Unclosed start tag at byte offset {begin}"));
                }
                match (tag.as_str(), name) {
                    ("a", "href") | ("tg-emoji", "emoji-id") => argument = value,
                    ("code", "class") => {
                        if let Some(language) = value.strip_prefix("language-") {
                            argument = language.to_owned();
                        }
                    }
                    ("span", "class") => {
                        if let Some(class) = value.strip_prefix("tg-") {
                            argument = class.to_owned();
                        }
                    }
                    ("blockquote", "expandable") => argument = "1".into(),
                    _ => {}
                }
            }
            if tag == "span" && argument != "spoiler" {
                return Err(format!(
                    "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                ));
            }
            open.push(Open {
                tag,
                argument,
                offset: units,
                text_start: text.len(),
            });
            i += 1; // past '>'
        } else {
            // An end tag.
            let Some(last) = open.pop() else {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            };
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            let end_name = src[begin + 2..i].to_ascii_lowercase();
            while is_space(at(i)) && at(i) != 0 {
                i += 1;
            }
            if at(i) != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            if !end_name.is_empty() && end_name != last.tag {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_name}>\"",
                    last.tag
                ));
            }
            i += 1; // past '>'
            if units > last.offset {
                close(last, units, &text, &mut found)?;
            }
        }
    }
    if let Some(last) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            last.tag
        ));
    }
    if surrogate {
        return Err(
            "Text contains invalid Unicode characters after decoding HTML entities, \
                    check for unmatched surrogate code units"
                .into(),
        );
    }
    let mut entities: Vec<Span> = found
        .into_iter()
        .map(|f| Span {
            kind: f.kind,
            offset: f.offset,
            length: f.length,
        })
        .collect();
    entities.sort_by(|a, b| {
        a.offset
            .cmp(&b.offset)
            .then(b.length.cmp(&a.length))
            .then(a.kind.priority().cmp(&b.kind.priority()))
    });
    // Only valid UTF-8 went in: bytes of `src` and encoded chars.
    let text = String::from_utf8(text).map_err(|e| format!("invalid UTF-8: {e}"))?;
    Ok(Parsed { text, entities })
}

/// The entity of a tag closed at UTF-16 offset `end` (it covers at least one unit).
fn close(last: Open, end: usize, text: &[u8], found: &mut Vec<Found>) -> Result<(), String> {
    let offset = last.offset;
    let length = end - offset;
    let plain = |kind| Found {
        kind,
        language: String::new(),
        offset,
        length,
    };
    let same_span = |f: &Found| f.offset == offset && f.length == length;
    match last.tag.as_str() {
        "i" | "em" => found.push(plain(Kind::Italic)),
        "b" | "strong" => found.push(plain(Kind::Bold)),
        "s" | "strike" | "del" => found.push(plain(Kind::Strikethrough)),
        "u" | "ins" => found.push(plain(Kind::Underline)),
        "tg-spoiler" | "span" => found.push(plain(Kind::Spoiler)),
        "tg-emoji" => match last.argument.parse::<i64>() {
            Ok(id) if id != 0 => found.push(plain(Kind::CustomEmoji(id))),
            _ => return Err("Invalid custom emoji identifier specified".into()),
        },
        "a" => {
            let url = if last.argument.is_empty() {
                String::from_utf8_lossy(&text[last.text_start..]).into_owned()
            } else {
                last.argument
            };
            if let Some(user_id) = link_user_id(&url) {
                found.push(plain(Kind::MentionName(user_id)));
            } else if let Some(url) = checked_link(&url) {
                found.push(plain(Kind::TextUrl(url)));
            }
        }
        "pre" => match found.last_mut() {
            Some(code)
                if code.kind == Kind::Code && same_span(code) && !code.language.is_empty() =>
            {
                code.kind = Kind::PreCode(std::mem::take(&mut code.language));
            }
            _ => found.push(plain(Kind::Pre)),
        },
        "code" => match found.last_mut() {
            Some(pre) if pre.kind == Kind::Pre && same_span(pre) && !last.argument.is_empty() => {
                pre.kind = Kind::PreCode(last.argument);
            }
            _ => found.push(Found {
                language: last.argument,
                ..plain(Kind::Code)
            }),
        },
        "blockquote" if last.argument.is_empty() => found.push(plain(Kind::BlockQuote)),
        "blockquote" => found.push(plain(Kind::ExpandableBlockQuote)),
        other => return Err(format!("Unsupported start tag \"{other}\"")),
    }
    Ok(())
}

/// Decodes the character reference at `bytes[at] == b'&'`: `&lt;` `&gt;` `&amp;` `&quot;`,
/// `&#NN;` and `&#xNN;`, the `;` optional. `None` when it is none of these (the `&` is then a
/// literal character). Returns the code point (possibly a surrogate) and the index after it.
fn decode_entity(bytes: &[u8], at: usize) -> Option<(u32, usize)> {
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut end = at + 1;
    let code = if byte(at + 1) == b'#' {
        end += 1;
        let mut code: u64 = 0;
        if byte(at + 2) == b'x' {
            end += 1;
            while let Some(digit) = (byte(end) as char).to_digit(16) {
                code = (code * 16 + u64::from(digit)).min(u64::from(u32::MAX));
                end += 1;
            }
        } else {
            while byte(end).is_ascii_digit() {
                code = (code * 10 + u64::from(byte(end) - b'0')).min(u64::from(u32::MAX));
                end += 1;
            }
        }
        if code == 0 || code >= 0x10ffff || end - at >= 10 {
            return None;
        }
        u32::try_from(code).ok()?
    } else {
        while byte(end).is_ascii_alphabetic() {
            end += 1;
        }
        match &bytes[at + 1..end] {
            b"lt" => u32::from('<'),
            b"gt" => u32::from('>'),
            b"amp" => u32::from('&'),
            b"quot" => u32::from('"'),
            _ => return None,
        }
    };
    if byte(end) == b';' {
        end += 1;
    }
    Some((code, end))
}

/// The user of a `tg://user?id=N` link.
fn link_user_id(url: &str) -> Option<i64> {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("tg:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let rest = rest.strip_prefix("user")?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let query = rest.strip_prefix('?')?;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .and_then(|id| id.parse().ok())
}

/// The URL Telegram keeps for a link, or `None` when it drops the link (the text stays):
/// `http`/`https` (the default when no scheme is given) with a dotted host or an IP address,
/// or a `tg:`/`ton:`/`tonsite:` link with a plain host.
fn checked_link(link: &str) -> Option<String> {
    let lower = link.to_ascii_lowercase();
    for scheme in ["tg:", "ton:", "tonsite:"] {
        if lower.starts_with(scheme) {
            let rest = &link[scheme.len()..];
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (host, tail) = rest.split_at(host_end);
            let host_ok = !host.is_empty()
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || b == b'-'
                        || b == b'_'
                        || (scheme == "tonsite:" && b == b'.')
                });
            let tail = tail
                .strip_prefix('/')
                .filter(|t| t.starts_with('?'))
                .unwrap_or(tail);
            let name = scheme.trim_end_matches(':');
            return host_ok.then(|| format!("{name}://{}{tail}", host.to_ascii_lowercase()));
        }
    }
    let absolute = if lower.contains("://") {
        link.to_owned()
    } else {
        format!("http://{link}")
    };
    let url = url::Url::parse(&absolute).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    match url.host()? {
        url::Host::Domain(domain) if !domain.contains('.') => None,
        _ => Some(url.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        match parse(src) {
            Ok(p) => panic!("{src:?} parsed as {p:?}"),
            Err(e) => e,
        }
    }

    fn span(kind: Kind, offset: usize, length: usize) -> Span {
        Span {
            kind,
            offset,
            length,
        }
    }

    #[test]
    fn tdlib_wording_and_byte_offsets() {
        // The fixture's request: 35 is the byte offset of '<' (the emoji is 4 bytes).
        assert_eq!(
            err("🧾 <b>Invoice approval needed</b><br>x"),
            "Unsupported start tag \"br\" at byte offset 35"
        );
        assert_eq!(err("a < b"), "Unsupported start tag \"\" at byte offset 2");
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
            err("<span>x</span>"),
            "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"
        );
        assert_eq!(
            err("<a href=\"x>x</a>"),
            "Unclosed start tag at byte offset 0"
        );
        assert_eq!(
            err("<a href=x\"y>x</a>"),
            "Unexpected end of name token at byte offset 8"
        );
        assert_eq!(
            err("<a href=\"x\" =y>x</a>"),
            "Empty attribute name in the tag \"a\" at byte offset 0"
        );
        assert_eq!(err("<a href"), "Unclosed start tag \"a\" at byte offset 0");
        assert_eq!(
            err("<tg-emoji emoji-id=\"x\">👍</tg-emoji>"),
            "Invalid custom emoji identifier specified"
        );
        assert_eq!(
            err("<tg-time unix=\"1\">x</tg-time>"),
            "Unsupported start tag \"tg-time\" at byte offset 0"
        );
        assert_eq!(
            err("&#xD83D;&#xDE00;"),
            "Text contains invalid Unicode characters after decoding HTML entities, \
             check for unmatched surrogate code units"
        );
    }

    #[test]
    fn a_bare_ampersand_stays_literal_and_the_semicolon_is_optional() {
        let p = parse("Tan & Sons &nbsp; &amp &lt;b&gt; &quot;q&quot; &#65;&#x42;&#X43; 2 > 1")
            .expect("valid");
        assert_eq!(p.text, "Tan & Sons &nbsp; & <b> \"q\" AB&#X43; 2 > 1");
        assert!(p.entities.is_empty());
        // Out of range or too long: literal.
        assert_eq!(
            parse("&#0; &#1114111; &#00000000065;").expect("valid").text,
            "&#0; &#1114111; &#00000000065;"
        );
        assert_eq!(parse("&#128512;").expect("valid").text, "😀");
    }

    #[test]
    fn entities_in_utf16_sorted_as_telegram_sorts_them() {
        let p = parse("🧾 <b>Invoice approval needed</b>\n<code>INV-0060</code> · Tan &amp; Sons")
            .expect("valid");
        assert_eq!(p.text, "🧾 Invoice approval needed\nINV-0060 · Tan & Sons");
        assert_eq!(
            p.entities,
            vec![span(Kind::Bold, 3, 23), span(Kind::Code, 27, 8)]
        );
        // Same span: bold before italic whatever the nesting; longer first at one offset.
        let p = parse("<i><b>x</b></i><u>ab<s>a</s></u>").expect("valid");
        assert_eq!(
            p.entities,
            vec![
                span(Kind::Bold, 0, 1),
                span(Kind::Italic, 0, 1),
                span(Kind::Underline, 1, 3),
                span(Kind::Strikethrough, 3, 1),
            ]
        );
        // Empty tags make no entity; `</>` closes the innermost tag; names are case-blind.
        let p = parse("<b></b>x<I>y</><STRONG>z</strong>").expect("valid");
        assert_eq!(
            p.entities,
            vec![span(Kind::Italic, 1, 1), span(Kind::Bold, 2, 1)]
        );
    }

    #[test]
    fn every_tag_and_its_arguments() {
        let src = concat!(
            "<pre><code class=\"language-rust\">fn</code></pre>",
            "<pre>p</pre><code class=\"language-x\">c</code>",
            "<blockquote>q</blockquote><blockquote expandable>e</blockquote>",
            "<tg-spoiler>s</tg-spoiler><span class=\"tg-spoiler\">t</span>",
            "<tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>",
            "<a href=\"https://example.com/?a=1&amp;b=2\">l</a><a href='example.org'>m</a>",
            "<a href=\"nope\">n</a><a href=\"mailto://x@y.z\">o</a><a>https://t.me/x</a>",
            "<a href=\"tg://user?id=123\">u</a><a href=\"tg://resolve?domain=acme\">r</a>",
            "<b data-x=\"1\" hidden>z</b>"
        );
        let p = parse(src).expect("valid");
        assert_eq!(p.text, "fnpcqest👍lmnohttps://t.me/xurz");
        let kinds: Vec<Kind> = p.entities.into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::PreCode("rust".into()),
                Kind::Pre,
                Kind::Code,
                Kind::BlockQuote,
                Kind::ExpandableBlockQuote,
                Kind::Spoiler,
                Kind::Spoiler,
                Kind::CustomEmoji(5_368_324_170_671_202_286),
                Kind::TextUrl("https://example.com/?a=1&b=2".into()),
                Kind::TextUrl("http://example.org/".into()),
                Kind::TextUrl("https://t.me/x".into()),
                Kind::MentionName(123),
                Kind::TextUrl("tg://resolve?domain=acme".into()),
                Kind::Bold,
            ]
        );
    }

    #[test]
    fn never_panics_on_junk() {
        let alphabet: Vec<char> = "<>/&;#xX=\"' abiprecodspan-é😀\n0129".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if let Ok(p) = parse(&s) {
                let n = p.text.encode_utf16().count();
                assert!(p.entities.iter().all(|e| e.offset + e.length <= n), "{s:?}");
            }
        }
    }
}
