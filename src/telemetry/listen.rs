//! Where `herald run` serves its health endpoints (`--http`, `[http]`): an address and port,
//! loopback unless allowed otherwise. Its own file, without dependencies, because the
//! configuration checks it too.

use std::net::SocketAddr;

/// Where the health endpoints listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Whether a non-loopback address is allowed.
    pub public: bool,
}

impl HttpSettings {
    /// Reads `listen` (`127.0.0.1:9464`, `[::1]:9464`); a non-loopback address is refused
    /// unless `public`.
    pub fn parse(listen: &str, public: bool) -> Result<Self, String> {
        let addr: SocketAddr = listen
            .trim()
            .parse()
            .map_err(|_| format!("{listen:?} is not an address and port such as 127.0.0.1:9464"))?;
        if !addr.ip().is_loopback() && !public {
            return Err(format!(
                "{addr} is reachable from other machines, and /metrics is not authenticated; \
                 use a loopback address such as 127.0.0.1:{}, or allow it with --http-public \
                 (public = true in [http])",
                addr.port()
            ));
        }
        Ok(Self {
            listen: addr,
            public,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_unless_public() {
        assert_eq!(
            HttpSettings::parse("127.0.0.1:9464", false).unwrap().listen,
            "127.0.0.1:9464".parse().unwrap()
        );
        assert!(HttpSettings::parse("[::1]:9464", false).is_ok());
        let refused = HttpSettings::parse("0.0.0.0:9464", false).unwrap_err();
        assert!(refused.contains("--http-public"), "{refused}");
        assert!(HttpSettings::parse("0.0.0.0:9464", true).is_ok());
        let bad = HttpSettings::parse("localhost", false).unwrap_err();
        assert!(bad.contains("127.0.0.1:9464"), "{bad}");
    }
}
