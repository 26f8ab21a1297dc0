//! Rate limits (GCRA buckets): per client address for logins (strictly) and
//! for other calls without a token, per session for calls with one.
//!
//! A session rather than an address for signed-in calls: a school's
//! parents and teachers may all come from one address, and one of them
//! reading too fast must not slow the rest. Buckets nobody used lately are
//! dropped, so memory follows the clients of the last minutes, not all ever.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};
use uuid::Uuid;

use crate::{GatewayError, LimitSettings};

/// Which bucket a call draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Login(IpAddr),
    Anonymous(IpAddr),
    Session(Uuid),
}

pub struct Limits {
    login: DefaultKeyedRateLimiter<IpAddr>,
    anonymous: DefaultKeyedRateLimiter<IpAddr>,
    session: DefaultKeyedRateLimiter<Uuid>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Limits").finish_non_exhaustive()
    }
}

fn positive(key: &str, value: u32) -> Result<NonZeroU32, GatewayError> {
    NonZeroU32::new(value)
        .ok_or_else(|| GatewayError::Settings(format!("limits.{key}: must be at least 1")))
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Result<Self, GatewayError> {
        let login = Quota::per_minute(positive("login_per_minute", settings.login_per_minute)?)
            .allow_burst(positive("login_burst", settings.login_burst)?);
        let anonymous = Quota::per_second(positive(
            "anonymous_per_second",
            settings.anonymous_per_second,
        )?)
        .allow_burst(positive("anonymous_burst", settings.anonymous_burst)?);
        let session =
            Quota::per_second(positive("session_per_second", settings.session_per_second)?)
                .allow_burst(positive("session_burst", settings.session_burst)?);
        for (key, value) in [
            ("max_request_bytes", settings.max_request_bytes),
            ("max_upload_bytes", settings.max_upload_bytes),
        ] {
            if value == 0 {
                return Err(GatewayError::Settings(format!(
                    "limits.{key}: must be at least 1"
                )));
            }
        }
        Ok(Self {
            login: DefaultKeyedRateLimiter::keyed(login),
            anonymous: DefaultKeyedRateLimiter::keyed(anonymous),
            session: DefaultKeyedRateLimiter::keyed(session),
            clock: DefaultClock::default(),
        })
    }

    /// Takes one call from the bucket, or says how long until one is free.
    pub fn check(&self, bucket: Bucket) -> Result<(), GatewayError> {
        let (outcome, what) = match bucket {
            Bucket::Login(address) => (
                self.login.check_key(&address),
                "too many login attempts from this address",
            ),
            Bucket::Anonymous(address) => (
                self.anonymous.check_key(&address),
                "too many calls from this address",
            ),
            Bucket::Session(session) => (
                self.session.check_key(&session),
                "too many calls in this session",
            ),
        };
        outcome.map_err(|not_until| GatewayError::Throttled {
            what,
            retry_after: not_until
                .wait_time_from(self.clock.now())
                .max(Duration::from_millis(1)),
        })
    }

    /// Drops the buckets that are full again (their clients went quiet).
    pub fn forget_idle(&self) {
        self.login.retain_recent();
        self.anonymous.retain_recent();
        self.session.retain_recent();
        self.login.shrink_to_fit();
        self.anonymous.shrink_to_fit();
        self.session.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LimitSettings {
        LimitSettings {
            login_per_minute: 6,
            login_burst: 3,
            anonymous_per_second: 10,
            anonymous_burst: 10,
            session_per_second: 100,
            session_burst: 5,
            max_request_bytes: 1024,
            max_upload_bytes: 4096,
            trusted_proxies: Vec::new(),
        }
    }

    #[test]
    fn a_burst_of_logins_is_cut_off_per_address() {
        let limits = Limits::new(&settings()).map_err(|e| e.to_string());
        let Ok(limits) = limits else {
            panic!("{limits:?}")
        };
        let flooding: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(limits.check(Bucket::Login(flooding)).is_ok());
        }
        match limits.check(Bucket::Login(flooding)) {
            Err(GatewayError::Throttled { retry_after, what }) => {
                assert!(what.contains("login"), "{what}");
                // One login every 10 s refills the bucket.
                assert!(retry_after > Duration::from_secs(5), "{retry_after:?}");
                assert!(retry_after <= Duration::from_secs(10), "{retry_after:?}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another address, and the same address's other calls, go on.
        assert!(limits.check(Bucket::Login([10, 0, 0, 2].into())).is_ok());
        assert!(limits.check(Bucket::Anonymous(flooding)).is_ok());
    }

    #[test]
    fn sessions_have_buckets_of_their_own() {
        let limits = Limits::new(&settings()).map_err(|e| e.to_string());
        let Ok(limits) = limits else {
            panic!("{limits:?}")
        };
        let (busy, quiet) = (Uuid::new_v4(), Uuid::new_v4());
        let refused = (0..20)
            .filter(|_| limits.check(Bucket::Session(busy)).is_err())
            .count();
        assert!(refused > 0, "a burst of 20 passed a bucket of 5");
        assert!(limits.check(Bucket::Session(quiet)).is_ok());
    }

    #[test]
    fn a_zero_limit_names_its_key() {
        let error = Limits::new(&LimitSettings {
            login_burst: 0,
            ..settings()
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains("limits.login_burst"), "{error}");
    }
}
