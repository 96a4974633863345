//! Brute-force resistance for what a person can type: invite codes (`POST /enrol`),
//! a lead's token on the web page's sign-in, and storytellers' codes on the portal. Attempts are limited per client address
//! and per code (governor's GCRA, kept in memory: a restart forgets, which only ever
//! lets a few more attempts through); over either, 429 with `Retry-After`.
//!
//! The quotas let a training day through (twenty phones enrolling from one office
//! network within minutes) and hold a guesser to a few attempts a minute per address;
//! invite codes carry about 79 bits, tokens 256, so guessing was already hopeless and
//! this keeps it so however many requests are thrown.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::App;
use crate::auth::sha256_hex;
use crate::error::Error;

/// What is being attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// Spending an invite code.
    Enrol,
    /// Signing in to the leads' web page with a token.
    LeadSignIn,
    /// Entering a storyteller's personal code on the portal.
    PortalCode,
    /// Asking on the portal for a story not arrived yet to be withdrawn on arrival.
    PortalWithdraw,
}

pub struct Throttle {
    per_client: DefaultKeyedRateLimiter<(Attempt, IpAddr)>,
    per_code: DefaultKeyedRateLimiter<(Attempt, String)>,
    pending_asks: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

/// Withdrawals asked for before their story arrived, per client address and day: each
/// keeps rows for 90 days, so one address must not fill the table (a storyteller asks
/// once; a family sharing a connection a few times).
pub const PENDING_ASKS_PER_DAY: u32 = 20;

/// The key an address is counted under: an IPv6 client's /64 (one subscriber's whole
/// network: a client picks any address in it at will), an IPv4 one's own address (an
/// IPv4-mapped IPv6 address counts as that IPv4 address).
pub fn client_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(network.into())
            }
        },
    }
}

/// Per code: 5 at once, then one a minute.
const CODE_BURST: u32 = 5;
const CODE_EVERY: Duration = Duration::from_secs(60);

fn quota(burst: u32, every: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Throttle {
    /// Per client address: `client_burst` at once, then one every `client_every` (the
    /// server's settings; 10 and 6 s by default, so 10 a minute).
    pub fn new(client_burst: u32, client_every: Duration) -> Self {
        Throttle {
            per_client: RateLimiter::keyed(quota(client_burst, client_every)),
            per_code: RateLimiter::keyed(quota(CODE_BURST, CODE_EVERY)),
            pending_asks: RateLimiter::keyed(quota(
                PENDING_ASKS_PER_DAY,
                Duration::from_secs(24 * 3600 / u64::from(PENDING_ASKS_PER_DAY)),
            )),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt of `what` from `client` with `code` (kept only as its SHA-256);
    /// refused with 429 and the wait when either quota is spent. The client's quota is
    /// checked first, so a guesser's codes are not even remembered past it.
    pub fn attempt(&self, what: Attempt, client: IpAddr, code: &str) -> Result<(), Error> {
        if let Err(not_until) = self.per_client.check_key(&(what, client_key(client))) {
            let wait = not_until.wait_time_from(self.clock.now());
            tracing::warn!(%client, ?what, "too many attempts from one address");
            return Err(too_many(wait));
        }
        if let Err(not_until) = self.per_code.check_key(&(what, sha256_hex(code))) {
            let wait = not_until.wait_time_from(self.clock.now());
            tracing::warn!(%client, ?what, "too many attempts with one code");
            return Err(too_many(wait));
        }
        Ok(())
    }

    /// Counts one withdrawal asked for before its story arrived from `client`; refused
    /// with 429 past [`PENDING_ASKS_PER_DAY`] (then one every 72 minutes).
    pub fn ask_pending(&self, client: IpAddr) -> Result<(), Error> {
        self.pending_asks
            .check_key(&client_key(client))
            .map_err(|not_until| {
                tracing::warn!(%client, "too many waiting withdrawals asked from one address");
                too_many(not_until.wait_time_from(self.clock.now()))
            })
    }

    /// Forgets clients and codes whose quota is whole again (run by the sweeper).
    pub fn forget_settled(&self) {
        self.per_client.retain_recent();
        self.per_code.retain_recent();
        self.pending_asks.retain_recent();
        self.per_client.shrink_to_fit();
        self.per_code.shrink_to_fit();
        self.pending_asks.shrink_to_fit();
    }
}

fn too_many(wait: Duration) -> Error {
    Error::TooManyAttempts {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// The client's address: the peer, or, when the peer is one of `trusted_proxies`, the
/// address that proxy put last in `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn of(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> ClientAddr {
        if !trusted_proxies.contains(&peer) {
            return ClientAddr(peer);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        ClientAddr(forwarded.unwrap_or(peer))
    }
}

impl FromRequestParts<App> for ClientAddr {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Error> {
        // Absent only when the router is driven without a listener (never in `serve`).
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(ClientAddr::of(
            peer,
            &parts.headers,
            &app.config.trusted_proxies,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_a_wait_and_a_code_its_own_quota() {
        const CLIENT_BURST: u32 = 10;
        const CLIENT_EVERY: Duration = Duration::from_secs(6);
        let throttle = Throttle::new(CLIENT_BURST, CLIENT_EVERY);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..CLIENT_BURST {
            throttle
                .attempt(Attempt::Enrol, a, &format!("code-{i}"))
                .unwrap();
        }
        let Err(Error::TooManyAttempts { retry_after_secs }) =
            throttle.attempt(Attempt::Enrol, a, "code-x")
        else {
            panic!("the 11th attempt from one address was let through");
        };
        assert!((1..=CLIENT_EVERY.as_secs()).contains(&retry_after_secs));
        // Another kind of attempt has its own quota.
        throttle.attempt(Attempt::LeadSignIn, a, "token").unwrap();

        // One code from many addresses.
        for i in 0..CODE_BURST {
            let client = IpAddr::from([198, 51, 100, i as u8]);
            throttle.attempt(Attempt::Enrol, client, "SAME").unwrap();
        }
        let Err(Error::TooManyAttempts { retry_after_secs }) =
            throttle.attempt(Attempt::Enrol, IpAddr::from([198, 51, 100, 200]), "SAME")
        else {
            panic!("a code tried from many addresses was let through");
        };
        assert!((1..=CODE_EVERY.as_secs()).contains(&retry_after_secs));
    }

    #[test]
    fn an_ipv6_network_counts_as_one_client_and_asks_for_withdrawals_are_few_a_day() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_network: IpAddr = "2001:db8:1:2:ffff:abcd:1:9".parse().unwrap();
        let next_network: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        throttle.attempt(Attempt::PortalCode, one, "a").unwrap();
        throttle
            .attempt(Attempt::PortalCode, same_network, "b")
            .unwrap();
        assert!(
            throttle
                .attempt(Attempt::PortalCode, same_network, "c")
                .is_err(),
            "a new address in the same /64 is the same client"
        );
        throttle
            .attempt(Attempt::PortalCode, next_network, "d")
            .unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());

        for i in 0..PENDING_ASKS_PER_DAY {
            let client: IpAddr = format!("2001:db8:9:9::{i:x}").parse().unwrap();
            throttle.ask_pending(client).unwrap();
        }
        let Err(Error::TooManyAttempts { retry_after_secs }) =
            throttle.ask_pending("2001:db8:9:9::ffff".parse().unwrap())
        else {
            panic!("one /64 asked for more withdrawals than a day's quota");
        };
        assert!(retry_after_secs > 60 && retry_after_secs <= 24 * 3600 / 20);
        throttle.ask_pending(next_network).unwrap();
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let peer: IpAddr = "192.0.2.5".parse().unwrap();
        assert_eq!(ClientAddr::of(peer, &headers, &[proxy]).0, peer);
        assert_eq!(
            ClientAddr::of(proxy, &headers, &[proxy]).0,
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(ClientAddr::of(proxy, &HeaderMap::new(), &[proxy]).0, proxy);
    }
}
