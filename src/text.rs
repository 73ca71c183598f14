//! Small text helpers shared by the places that show a message's content to a person
//! (operator alerts, console replies, the sandbox transcript).

/// Most visible characters one message may have; Telegram's limit is 4096, counted after
/// entities are parsed. The rest is headroom for a closing note.
const MESSAGE_CHARS: usize = 4000;

/// `text` escaped for Telegram's HTML parse mode.
pub fn escape_html(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

/// Keeps an HTML message within one Telegram message. A longer one (a long list, a preview of
/// a long post) becomes plain text, cut, with a note: tags cannot be cut safely, and the
/// message must arrive.
pub fn fit_message(html: &str) -> String {
    let plain = html_to_plain(html);
    if plain.chars().count() <= MESSAGE_CHARS {
        return html.to_owned();
    }
    let cut: String = plain.chars().take(MESSAGE_CHARS - 200).collect();
    format!(
        "{}\n… (cut: {} characters in all; see /status and herald log)",
        escape_html(&cut),
        plain.chars().count()
    )
}

/// The visible text of a Telegram-HTML message: tags dropped, entities decoded.
pub fn html_to_plain(html: &str) -> String {
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

/// Telegram's limit on one message: 4096 characters after entity parsing, counted in UTF-16
/// code units (an emoji outside the BMP counts 2).
pub const TELEGRAM_MESSAGE_LIMIT: usize = 4096;

/// Splits a Telegram-HTML message whose visible text is over `limit` UTF-16 units into
/// ordered parts that each fit. Cuts fall on line boundaries; only a single line longer than
/// `limit` is cut inside, at its last space (or mid-word if it has none). A tag open across
/// a cut is closed at the end of one part and reopened at the start of the next, so every
/// part is valid HTML on its own. A message that fits comes back unchanged, as one part.
pub fn split_message(html: &str, limit: usize) -> Vec<String> {
    let tokens = tokenize(html);
    let total: usize = tokens.iter().map(Token::units).sum();
    if total <= limit || limit == 0 {
        return vec![html.to_owned()];
    }
    let mut parts = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        let (end, resume) = next_cut(&tokens, start, limit);
        let open = open_tags(&tokens[..start]);
        let mut part: String = open.iter().map(|t| t.raw.as_str()).collect();
        part.extend(tokens[start..end].iter().map(|t| t.text()));
        let still_open = open_tags(&tokens[..end]);
        for tag in still_open.iter().rev() {
            part.push_str(&format!("</{}>", tag.name));
        }
        if tokens[start..end]
            .iter()
            .any(|t| t.units() > 0 && !t.is_space())
        {
            parts.push(part);
        }
        start = resume;
    }
    parts
}

/// Where the part starting at `start` ends (`end`, exclusive) and the next one begins.
fn next_cut(tokens: &[Token], start: usize, limit: usize) -> (usize, usize) {
    let mut visible = 0;
    let mut last_newline = None;
    let mut last_space = None;
    for (i, token) in tokens.iter().enumerate().skip(start) {
        if matches!(token, Token::Newline) && i > start {
            last_newline = Some(i);
        }
        if token.is_space() && i > start {
            last_space = Some(i);
        }
        visible += token.units();
        if visible > limit {
            // The newline (or space) at the cut belongs to neither part.
            return match last_newline.or(last_space) {
                Some(cut) => (cut, cut + 1),
                None if i > start => (i, i),
                None => (i + 1, i + 1),
            };
        }
    }
    (tokens.len(), tokens.len())
}

/// A piece of Telegram HTML: a tag, one visible character (or entity), or a line break.
#[derive(Debug, Clone)]
enum Token {
    Open(Tag),
    Close(String),
    Char { raw: String, units: usize },
    Newline,
}

#[derive(Debug, Clone)]
struct Tag {
    name: String,
    raw: String,
}

impl Token {
    fn units(&self) -> usize {
        match self {
            Token::Open(_) | Token::Close(_) => 0,
            Token::Char { units, .. } => *units,
            Token::Newline => 1,
        }
    }

    fn is_space(&self) -> bool {
        matches!(self, Token::Char { raw, .. } if raw == " ") || matches!(self, Token::Newline)
    }

    fn text(&self) -> &str {
        match self {
            Token::Open(tag) => &tag.raw,
            Token::Close(raw) => raw,
            Token::Char { raw, .. } => raw,
            Token::Newline => "\n",
        }
    }
}

fn tokenize(html: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let taken = match c {
            '<' => match rest.find('>') {
                Some(end) => {
                    let raw = &rest[..=end];
                    if raw.starts_with("</") {
                        tokens.push(Token::Close(raw.to_owned()));
                    } else {
                        let name: String = raw[1..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                            .collect();
                        tokens.push(Token::Open(Tag {
                            name,
                            raw: raw.to_owned(),
                        }));
                    }
                    end + 1
                }
                None => char_token(&mut tokens, c),
            },
            '&' => match rest.find(';').filter(|&end| end <= 10) {
                Some(end) => {
                    let raw = &rest[..=end];
                    let decoded = html_escape::decode_html_entities(raw);
                    tokens.push(Token::Char {
                        raw: raw.to_owned(),
                        units: decoded.encode_utf16().count().max(1),
                    });
                    end + 1
                }
                None => char_token(&mut tokens, c),
            },
            '\n' => {
                tokens.push(Token::Newline);
                1
            }
            _ => char_token(&mut tokens, c),
        };
        rest = &rest[taken..];
    }
    tokens
}

fn char_token(tokens: &mut Vec<Token>, c: char) -> usize {
    tokens.push(Token::Char {
        raw: c.to_string(),
        units: c.len_utf16(),
    });
    c.len_utf8()
}

/// The tags still open after `tokens`, outermost first.
fn open_tags(tokens: &[Token]) -> Vec<Tag> {
    let mut stack: Vec<Tag> = Vec::new();
    for token in tokens {
        match token {
            Token::Open(tag) => stack.push(tag.clone()),
            Token::Close(raw) => {
                let name = raw.trim_start_matches("</").trim_end_matches('>').trim();
                if let Some(i) = stack.iter().rposition(|t| t.name == name) {
                    stack.truncate(i);
                }
            }
            _ => {}
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_messages_are_cut_to_fit_one_message() {
        let long = format!("<b>x</b>{}", "a &amp; b\n".repeat(1000));
        let fitted = super::fit_message(&long);
        let visible = super::html_to_plain(&fitted).chars().count();
        assert!(visible <= 4096, "{visible}");
        assert!(fitted.contains("a &amp; b"));
        assert!(fitted.ends_with("see /status and herald log)"));
        assert_eq!(super::fit_message("<b>short</b>"), "<b>short</b>");
    }

    use super::{html_to_plain, split_message};

    fn visible(html: &str) -> usize {
        html_to_plain(html).encode_utf16().count()
    }

    /// Every open tag is closed in the same part, in order.
    fn balanced(html: &str) -> bool {
        let mut stack = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            let Some(end) = rest[start..].find('>') else {
                return false;
            };
            let tag = &rest[start + 1..start + end];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name) {
                    return false;
                }
            } else {
                stack.push(tag.split(' ').next().unwrap_or_default().to_owned());
            }
            rest = &rest[start + end + 1..];
        }
        stack.is_empty()
    }

    #[test]
    fn a_message_that_fits_is_one_unchanged_part() {
        assert_eq!(
            split_message("<b>hi</b>\nthere", 4096),
            vec!["<b>hi</b>\nthere"]
        );
    }

    #[test]
    fn long_messages_split_at_line_boundaries_into_valid_parts() {
        let lines: Vec<String> = (0..400)
            .map(|i| format!("{i:03}. <b>Tan &amp; Sons</b> — <i>@member_{i}</i> 🎉"))
            .collect();
        let html = format!("<blockquote>{}</blockquote>", lines.join("\n"));
        let parts = split_message(&html, 4096);
        assert!(parts.len() > 1, "{}", parts.len());
        for part in &parts {
            assert!(visible(part) <= 4096, "{}", visible(part));
            assert!(balanced(part), "{part}");
            assert!(part.starts_with("<blockquote>") && part.ends_with("</blockquote>"));
        }
        // Nothing lost, nothing reordered: the visible lines come back in order.
        let rejoined: Vec<String> = parts
            .iter()
            .flat_map(|p| {
                html_to_plain(p)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected: Vec<String> = html_to_plain(&html).lines().map(str::to_owned).collect();
        assert_eq!(rejoined, expected);
    }

    #[test]
    fn an_over_long_line_is_cut_at_a_space_and_keeps_its_tags() {
        let word = "abcdefghij ";
        let html = format!("<i>{}</i>", word.repeat(50));
        let parts = split_message(&html, 100);
        assert!(parts.len() >= 5);
        for part in &parts {
            assert!(visible(part) <= 100);
            assert!(balanced(part), "{part}");
            assert!(!html_to_plain(part).contains("abcdefghijabc"));
        }
    }

    #[test]
    fn drops_tags_and_decodes_entities() {
        assert_eq!(
            super::html_to_plain("<a href=\"x\">Tan &amp; Sons</a> &lt;3"),
            "Tan & Sons <3"
        );
    }
}
