//! Checks across the identity files of a deployment: what must be unique among them (job
//! names, usernames, token references). Whether two different references resolve to the same
//! token can only be told with the secrets, in [`super::secret_checks`].

use std::collections::{BTreeMap, HashMap};

use super::finding::Finding;
use super::model::{bot_file, BotFile};
use super::secret_ref::SecretRef;
use crate::identity::IDENTITY_NAMES;

/// Job names are unique across the deployment; usernames and secret references differ
/// between identities.
pub(super) fn check_across_bots(
    bots: &BTreeMap<&'static str, BotFile>,
    findings: &mut Vec<Finding>,
) {
    let mut job_names: HashMap<&str, String> = HashMap::new();
    for &name in IDENTITY_NAMES {
        let Some(bot) = bots.get(name) else { continue };
        for (i, job) in bot.jobs.iter().enumerate() {
            let here = format!("{}: jobs[{i}]", bot_file(name));
            if let Some(other) = job_names.get(job.name.as_str()) {
                findings.push(Finding::new(
                    bot_file(name),
                    format!("jobs[{i}].name"),
                    format!(
                        "job name \"{}\" is also used at {other}; job names are unique across the deployment",
                        job.name
                    ),
                ));
            } else {
                job_names.insert(&job.name, here);
            }
        }
    }
    let mut usernames: HashMap<String, &str> = HashMap::new();
    let mut refs: HashMap<&SecretRef, &str> = HashMap::new();
    for &name in IDENTITY_NAMES {
        let Some(bot) = bots.get(name) else { continue };
        let username = bot.username.trim().trim_start_matches('@').to_lowercase();
        if !username.is_empty() {
            if let Some(other) = usernames.get(&username) {
                findings.push(Finding::new(
                    bot_file(name),
                    "username",
                    format!(
                        "username \"{}\" is also used by {other}; each identity is its own bot",
                        bot.username
                    ),
                ));
            } else {
                usernames.insert(username, name);
            }
        }
        if let Some(other) = refs.get(&bot.token) {
            findings.push(Finding::new(
                bot_file(name),
                "token",
                format!(
                    "{name} uses the same secret reference as {other} ({}); each identity needs its own token",
                    bot.token
                ),
            ));
        } else {
            refs.insert(&bot.token, name);
        }
    }
}
