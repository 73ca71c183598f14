//! [`SecretRef`]: where a secret lives, as written in the config files. Plain data: the
//! file model ([`super::model`]) holds references and the [`super::secrets::SecretStore`]
//! resolves them, so the type sits below both (it used to live in `secrets.rs`, which made
//! `model.rs` and `secrets.rs` import each other).

use std::fmt;

use serde::Deserialize;

/// Where a secret lives, as written in config:
/// `token = { source = "file", provider = "local", id = "/telegram/claudia" }` (`id` is a JSON
/// pointer into the provider's JSON file) or `token = { source = "env", id = "HERALD_CLAUDIA_TOKEN" }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretRef {
    File { provider: String, id: String },
    Env { id: String },
}

/// Shows the reference, never a value: `file:local:/telegram/claudia`, `env:HERALD_CLAUDIA_TOKEN`.
impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File { provider, id } => write!(f, "file:{provider}:{id}"),
            SecretRef::Env { id } => write!(f, "env:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_ref(id: &str) -> SecretRef {
        SecretRef::File {
            provider: "local".to_owned(),
            id: id.to_owned(),
        }
    }

    #[test]
    fn secret_ref_display_shows_the_reference() {
        assert_eq!(
            file_ref("/telegram/claudia").to_string(),
            "file:local:/telegram/claudia"
        );
        let env = SecretRef::Env {
            id: "HERALD_CLAUDIA_TOKEN".to_owned(),
        };
        assert_eq!(env.to_string(), "env:HERALD_CLAUDIA_TOKEN");
    }

    #[test]
    fn secret_ref_parses_from_toml() {
        #[derive(Deserialize)]
        struct W {
            token: SecretRef,
        }
        let w: W = toml::from_str(
            r#"token = { source = "file", provider = "local", id = "/telegram/claudia" }"#,
        )
        .expect("file ref");
        assert_eq!(w.token, file_ref("/telegram/claudia"));
        let w: W = toml::from_str(r#"token = { source = "env", id = "X" }"#).expect("env ref");
        assert_eq!(w.token, SecretRef::Env { id: "X".to_owned() });
        assert!(toml::from_str::<W>(r#"token = { source = "env", id = "X", extra = 1 }"#).is_err());
    }
}
