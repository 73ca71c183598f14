//! The first step of the start: every identity's token must answer `getMe` with that
//! identity's configured username (a swapped, dead or silent token stops the start, naming the
//! identity). Nothing is written before all seven pass. What it yields, [`Verified`], holds
//! one [`VerifiedBot<I>`] per identity, the only proof from which posters are made; the
//! console identity is picked from it by name, through the identity visitor.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::clock::Clock;
use crate::config::secrets::Token;
use crate::config::Config;
use crate::identity::{visit_all, BotIdentity, IdentityVisitor, Poster, VerifiedBot};
use crate::outbox::alerts::ConsoleChannel;
use crate::roster::Roster;
use crate::telegram::{CallError, TelegramClient};

/// Every identity's [`VerifiedBot<I>`], each under its marker's type.
pub(super) struct Verified {
    bots: HashMap<TypeId, Box<dyn Any + Send>>,
}

impl Verified {
    /// How many identities passed.
    pub(super) fn len(&self) -> usize {
        self.bots.len()
    }

    fn get<I: BotIdentity>(&self) -> Option<&VerifiedBot<I>> {
        self.bots.get(&TypeId::of::<I>())?.downcast_ref()
    }

    /// Takes `I`'s proof out, to launch `I` with it.
    pub(super) fn take<I: BotIdentity>(&mut self) -> Option<VerifiedBot<I>> {
        let proof = self.bots.remove(&TypeId::of::<I>())?;
        proof.downcast().ok().map(|proof| *proof)
    }

    /// The console: the identity the deployment names (`console` in `bots/herald.toml`),
    /// picked once, here, by visiting every identity; from then on the channel holds that
    /// identity's poster and nothing compares names. Also its token, for the last DM when
    /// the database has failed.
    pub(super) fn console(
        &self,
        name: &str,
        roster: Arc<Roster>,
        clock: &Clock,
    ) -> Option<(ConsoleChannel, Token)> {
        struct Select<'a> {
            name: &'a str,
            verified: &'a Verified,
            roster: Arc<Roster>,
            clock: &'a Clock,
            found: Option<(ConsoleChannel, Token)>,
        }
        impl IdentityVisitor for Select<'_> {
            fn visit<I: BotIdentity>(&mut self) {
                if I::NAME != self.name {
                    return;
                }
                if let Some(verified) = self.verified.get::<I>() {
                    let poster = Poster::<I>::new(verified, self.clock.clone());
                    let channel = ConsoleChannel::new(poster, self.roster.clone());
                    self.found = Some((channel, verified.token().clone()));
                }
            }
        }
        let mut select = Select {
            name,
            verified: self,
            roster,
            clock,
            found: None,
        };
        visit_all(&mut select);
        select.found
    }
}

/// Verifies every identity at once (each `getMe` within `timeout`). Every failure is
/// reported, one line per identity.
pub(super) async fn verify_all(
    config: &Config,
    tokens: &BTreeMap<&'static str, Token>,
    client: &TelegramClient,
    timeout: Duration,
) -> Result<Verified, Vec<String>> {
    type Pending<'a> = BoxFuture<'a, Result<(TypeId, Box<dyn Any + Send>), String>>;
    struct Each<'a> {
        config: &'a Config,
        tokens: &'a BTreeMap<&'static str, Token>,
        client: &'a TelegramClient,
        timeout: Duration,
        pending: Vec<Pending<'a>>,
    }
    impl IdentityVisitor for Each<'_> {
        fn visit<I: BotIdentity>(&mut self) {
            let (config, tokens, client, timeout) =
                (self.config, self.tokens, self.client, self.timeout);
            self.pending.push(Box::pin(async move {
                let verified = verify::<I>(config, tokens, client, timeout).await?;
                let proof: Box<dyn Any + Send> = Box::new(verified);
                Ok((TypeId::of::<I>(), proof))
            }));
        }
    }
    let mut each = Each {
        config,
        tokens,
        client,
        timeout,
        pending: Vec::new(),
    };
    visit_all(&mut each);
    let mut bots = HashMap::new();
    let mut failures = Vec::new();
    for result in futures::future::join_all(each.pending).await {
        match result {
            Ok((identity, proof)) => {
                bots.insert(identity, proof);
            }
            Err(reason) => failures.push(reason),
        }
    }
    if failures.is_empty() {
        Ok(Verified { bots })
    } else {
        Err(failures)
    }
}

/// Checks that `I`'s token answers `getMe` with `I`'s configured username.
async fn verify<I: BotIdentity>(
    config: &Config,
    tokens: &BTreeMap<&'static str, Token>,
    client: &TelegramClient,
    timeout: Duration,
) -> Result<VerifiedBot<I>, String> {
    let expected = config
        .bot(I::NAME)
        .map(|b| b.username.clone())
        .ok_or_else(|| format!("{}: no bots/{}.toml", I::NAME, I::NAME))?;
    let token = tokens
        .get(I::NAME)
        .cloned()
        .ok_or_else(|| format!("{}: no token resolved", I::NAME))?;
    // The outer deadline decides; the HTTP timeout is only a backstop behind it.
    let answer = tokio::time::timeout(timeout, client.get_me(&token, timeout * 2)).await;
    let user = match answer {
        Err(_) => {
            return Err(format!(
                "{}: getMe did not answer within {} s; is Telegram reachable at the API URL?",
                I::NAME,
                timeout.as_secs_f32()
            ))
        }
        Ok(Err(e @ CallError::Rejected { .. })) if e.is_unauthorized() => {
            return Err(format!(
                "{}: Telegram rejected the token (401 Unauthorized): it was revoked or mistyped; get a new one from BotFather",
                I::NAME
            ))
        }
        Ok(Err(e)) => return Err(format!("{}: getMe failed: {e}", I::NAME)),
        Ok(Ok(user)) => user,
    };
    let actual = user.username.clone().unwrap_or_default();
    if !actual.eq_ignore_ascii_case(&expected) {
        let owner = config
            .bots
            .iter()
            .find(|(_, b)| b.username.eq_ignore_ascii_case(&actual))
            .map(|(name, _)| *name);
        return Err(match owner {
            Some(other) => format!(
                "{}: the token answers as @{actual}, which is {other}'s username: tokens swapped? expected @{expected}",
                I::NAME
            ),
            None => format!(
                "{}: the token answers as @{actual}, expected @{expected}",
                I::NAME
            ),
        });
    }
    Ok(VerifiedBot::new(
        token,
        user.id,
        user.can_read_all_group_messages,
    ))
}
