//! Rate limits per credential: a fixed window of requests, counted in this process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How many requests one credential may make in each window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl Default for RateLimit {
    /// Generous: 1,200 requests a minute per credential, three times Linode's own limit on
    /// placement-group routes.
    fn default() -> RateLimit {
        RateLimit { requests: 1200, window: Duration::from_secs(60) }
    }
}

/// The outcome for one request, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// When the window ends, in UNIX seconds.
    pub(crate) reset: i64,
    /// Seconds until a refused request may be retried.
    pub(crate) retry_after: u64,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    limit: Option<RateLimit>,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// Above this many tracked credentials, windows that ended are forgotten.
const PRUNE_ABOVE: usize = 10_000;

impl Limiter {
    pub(crate) fn new(limit: Option<RateLimit>) -> Limiter {
        Limiter { limit, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one request of `credential` at `now_millis`; `None` when limits are off.
    pub(crate) fn check(&self, credential: &str, now_millis: i64) -> Option<Verdict> {
        let limit = self.limit?;
        let window = i64::try_from(limit.window.as_millis()).unwrap_or(i64::MAX).max(1);
        let start = now_millis - now_millis.rem_euclid(window);
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (began, _)| *began >= start);
        }
        let entry = windows.entry(credential.to_string()).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        let allowed = entry.1 < limit.requests;
        if allowed {
            entry.1 += 1;
        }
        let end = start + window;
        Some(Verdict {
            allowed,
            limit: limit.requests,
            remaining: limit.requests - entry.1,
            reset: (end + 999) / 1000,
            retry_after: u64::try_from((end - now_millis).max(0)).unwrap_or(0).div_ceil(1000).max(1),
        })
    }
}

/// Adds the `X-RateLimit-*` headers, and `Retry-After` on a refusal.
pub(crate) fn headers(verdict: &Verdict, headers: &mut axum::http::HeaderMap) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-ratelimit-limit", verdict.limit.to_string());
    set("x-ratelimit-remaining", verdict.remaining.to_string());
    set("x-ratelimit-reset", verdict.reset.to_string());
    if !verdict.allowed {
        set("retry-after", verdict.retry_after.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_gets_its_requests_per_window_and_then_waits_for_the_next() {
        let limiter = Limiter::new(Some(RateLimit { requests: 2, window: Duration::from_secs(10) }));
        let first = limiter.check("a", 100_000).unwrap();
        assert_eq!((first.allowed, first.remaining, first.reset), (true, 1, 110));
        assert!(limiter.check("a", 101_000).unwrap().allowed);
        let refused = limiter.check("a", 104_500).unwrap();
        assert_eq!((refused.allowed, refused.remaining, refused.retry_after), (false, 0, 6));
        assert!(limiter.check("b", 104_500).unwrap().allowed, "each credential has its own window");
        assert!(limiter.check("a", 110_000).unwrap().allowed, "a new window starts afresh");
    }

    #[test]
    fn limits_can_be_turned_off() {
        assert_eq!(Limiter::new(None).check("a", 0), None);
    }
}
