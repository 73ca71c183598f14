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

    #[test]
    fn drops_tags_and_decodes_entities() {
        assert_eq!(
            super::html_to_plain("<a href=\"x\">Tan &amp; Sons</a> &lt;3"),
            "Tan & Sons <3"
        );
    }
}
