//! Entities Telegram attaches to what humans type: a leading `/command` and `@mentions`.
//!
//! Exists because privacy-mode visibility and herald's command parsing both depend on them, and
//! their offsets must be in UTF-16 units as on the real wire.

use std::sync::OnceLock;

use regex::Regex;

use super::wire::Entity;

/// Length of `s` in UTF-16 code units: Telegram's unit for entity offsets and text limits
/// (a character outside the Basic Multilingual Plane counts 2).
pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

fn command_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{3,32}))?(?:$|[^A-Za-z0-9_@])")
            .unwrap_or_else(|e| panic!("static regex: {e}"))
    })
}

fn mention_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?:^|[^A-Za-z0-9_@/])(@[A-Za-z0-9_]{3,32})(?:$|[^A-Za-z0-9_@])")
            .unwrap_or_else(|e| panic!("static regex: {e}"))
    })
}

/// A leading bot command: `(command, Some(addressed_bot))` for `/cmd@bot args`.
pub(crate) fn leading_command(text: &str) -> Option<(String, Option<String>)> {
    let caps = command_re().captures(text)?;
    let command = caps.get(1)?.as_str().to_owned();
    let target = caps.get(2).map(|m| m.as_str().to_owned());
    Some((command, target))
}

/// Usernames (without `@`) mentioned in `text`.
pub(crate) fn mentions(text: &str) -> Vec<String> {
    mention_spans(text)
        .into_iter()
        .map(|(s, e)| text[s + 1..e].to_owned())
        .collect()
}

/// Byte spans of `@handle` mentions.
fn mention_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    // Matches may share the separating character, so search again from each handle's end.
    while let Some(caps) = mention_re().captures_at(text, from) {
        let Some(m) = caps.get(1) else { break };
        spans.push((m.start(), m.end()));
        from = m.end();
    }
    spans
}

/// `bot_command` and `mention` entities for a human's text, in offset order.
pub(crate) fn user_entities(text: &str) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut command_end = 0;
    if let Some(caps) = command_re().captures(text) {
        let end = caps.get(2).or(caps.get(1)).map_or(0, |m| m.end());
        out.push(Entity::new("bot_command", 0, utf16_len(&text[..end])));
        command_end = end;
    }
    for (s, e) in mention_spans(text) {
        if s < command_end {
            continue;
        }
        out.push(Entity::new(
            "mention",
            utf16_len(&text[..s]),
            utf16_len(&text[s..e]),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_with_and_without_suffix() {
        assert_eq!(
            leading_command("/ar_brief@acme_ops_bot now"),
            Some(("ar_brief".into(), Some("acme_ops_bot".into())))
        );
        assert_eq!(leading_command("/help"), Some(("help".into(), None)));
        assert_eq!(leading_command("hi /help"), None);
        assert_eq!(leading_command("/ help"), None);
        assert_eq!(
            user_entities("/ar_brief@acme_ops_bot"),
            vec![Entity::new("bot_command", 0, 22)]
        );
    }

    #[test]
    fn mentions_in_utf16() {
        let text = "😀 ping @claudia_bot and @happy_bot, not a@b.com";
        assert_eq!(mentions(text), vec!["claudia_bot", "happy_bot"]);
        let ents = user_entities(text);
        assert_eq!(
            ents,
            vec![
                Entity::new("mention", 8, 12),
                Entity::new("mention", 25, 10)
            ]
        );
        let ents = user_entities("/help@x_bot @other_bot");
        assert_eq!(
            ents,
            vec![
                Entity::new("bot_command", 0, 11),
                Entity::new("mention", 12, 10)
            ]
        );
    }
}
