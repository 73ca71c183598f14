//! `/help`: every console command with its usage, straight from [`CommandName::ALL`].

use minijinja::context;

use super::command::CommandName;
use super::session::{render, Session};
use crate::identity::BotIdentity;
use crate::inbound::HandlerError;

pub(super) async fn answer<I: BotIdentity>(
    session: &mut Session<'_, I>,
) -> Result<String, HandlerError> {
    session.reply(text()).await?;
    Ok("answered".to_owned())
}

fn text() -> String {
    let commands: Vec<_> = CommandName::ALL
        .iter()
        .map(|c| {
            let spec = c.spec();
            context! { usage => spec.usage, description => spec.description }
        })
        .collect();
    render("command_help.html", context! { commands })
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_lists_every_command_with_its_usage() {
        let help = super::text();
        assert!(help.starts_with("<b>Console</b>"), "{help}");
        for command in super::CommandName::ALL {
            let spec = command.spec();
            let line = format!(
                "{}: {}",
                crate::text::escape_html(spec.usage),
                spec.description
            );
            assert!(
                help.lines().any(|l| l == line),
                "{line} missing from {help}"
            );
        }
        assert_eq!(help.lines().count(), super::CommandName::ALL.len() + 1);
        insta::assert_snapshot!("console_help", help);
    }
}
