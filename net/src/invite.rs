//! What an invite hands a device: the code, and in its link form (what the QR code
//! holds) the server's address and, for a server with a self-signed certificate, the
//! pin of its key. `tellus://enrol?server=https%3A%2F%2Fstories.example.org&code=ABCD-EFGH-JKMN-PQRS&pin=sha256%3A…`
//! A code typed by hand is the bare code; the server's address then comes separately.

use crate::pin::CertificatePin;

const SCHEME: &str = "tellus:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub server: Option<String>,
    pub code: String,
    pub pin: Option<CertificatePin>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InviteError(pub String);

impl Invite {
    /// A link (`tellus://enrol?...`) or a bare code.
    pub fn parse(text: &str) -> Result<Invite, InviteError> {
        let text = text.trim();
        if text.len() > 2000 {
            return Err(InviteError("this invite is far too long to be one".into()));
        }
        let Some(rest) = strip_scheme(text) else {
            if text.is_empty() {
                return Err(InviteError("the invite code is empty".into()));
            }
            return Ok(Invite {
                server: None,
                code: text.to_string(),
                pin: None,
            });
        };
        let query = rest
            .trim_start_matches('/')
            .strip_prefix("enrol")
            .and_then(|q| q.strip_prefix('?'))
            .ok_or_else(|| {
                InviteError("this link is not a Tellus invite (tellus://enrol?...)".into())
            })?;
        let (mut server, mut code, mut pin) = (None, None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "server" => &mut server,
                "code" => &mut code,
                "pin" => &mut pin,
                _ => continue, // newer links may carry more; they still enrol
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(InviteError(format!("the invite link names {key} twice")));
            }
        }
        let code = code
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| InviteError("the invite link carries no code".into()))?;
        let pin = pin
            .map(|p| p.parse::<CertificatePin>())
            .transpose()
            .map_err(|e| InviteError(format!("the invite link's pin: {e}")))?;
        Ok(Invite { server, code, pin })
    }

    /// The link form, for a QR code.
    pub fn to_link(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(server) = &self.server {
            query.append_pair("server", server);
        }
        query.append_pair("code", &self.code);
        if let Some(pin) = &self.pin {
            query.append_pair("pin", &pin.to_string());
        }
        format!("tellus://enrol?{}", query.finish())
    }
}

fn strip_scheme(text: &str) -> Option<&str> {
    let head = text.get(..SCHEME.len())?;
    head.eq_ignore_ascii_case(SCHEME)
        .then(|| &text[SCHEME.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_round_trips_and_a_bare_code_is_a_code() {
        let pin: CertificatePin = format!("sha256:{}", "A".repeat(43)).parse().unwrap();
        let invite = Invite {
            server: Some("https://stories.example.org:8443".into()),
            code: "ABCD-EFGH-JKMN-PQRS".into(),
            pin: Some(pin),
        };
        let link = invite.to_link();
        assert!(
            link.starts_with("tellus://enrol?server=https%3A%2F%2F"),
            "{link}"
        );
        assert_eq!(Invite::parse(&link).unwrap(), invite);
        assert_eq!(Invite::parse(&format!("  {link}\n")).unwrap(), invite);
        assert_eq!(
            Invite::parse(" abcd efgh jkmn pqrs ").unwrap(),
            Invite {
                server: None,
                code: "abcd efgh jkmn pqrs".into(),
                pin: None
            }
        );
    }

    #[test]
    fn a_broken_link_is_refused_with_its_reason() {
        for (bad, why) in [
            ("tellus://enrol?server=x", "no code"),
            ("tellus://other?code=A", "not a Tellus invite"),
            ("tellus://enrol?code=A&code=B", "twice"),
            ("tellus://enrol?code=A&pin=md5%3Aabc", "pin"),
            ("", "empty"),
        ] {
            let e = Invite::parse(bad).unwrap_err();
            assert!(e.0.contains(why), "{bad:?}: {e}");
        }
    }
}
