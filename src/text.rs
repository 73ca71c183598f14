//! Small text helpers shared by the places that show a message's content to a person
//! (operator alerts, the sandbox transcript).

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
    fn drops_tags_and_decodes_entities() {
        assert_eq!(
            super::html_to_plain("<a href=\"x\">Tan &amp; Sons</a> &lt;3"),
            "Tan & Sons <3"
        );
    }
}
