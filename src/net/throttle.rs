//! How many requests go to one server at once, when it says it gets too many.
//!
//! Unlimited until the server answers `429 Too Many Requests`; then the number of requests in
//! flight is halved, and raised by one each time as many answers as the limit have come back
//! without a 429 (additive increase, multiplicative decrease, as TCP does with its window).
//! A burst of 429s answering one burst of requests lowers the limit once, not once per answer;
//! a server that has answered no 429 for [`LIFT_AFTER`] gets requests unlimited again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// 429s within this long of a decrease answer requests sent before it: they lower nothing more.
const SETTLE: Duration = Duration::from_millis(200);
/// A limit raised back to this many requests at once is lifted.
const LIFTED_AT: usize = 1024;
/// A limit is lifted this long after the last 429 (rate limits are counted over seconds or a
/// minute: one burst refused must not slow the server's requests for hours).
pub const LIFT_AFTER: Duration = Duration::from_secs(30);

/// The requests in flight to one server, and how many it is allowed.
#[derive(Debug, Default)]
pub struct Throttle {
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// `None`: unlimited.
    limit: Option<usize>,
    in_flight: usize,
    /// Answers without a 429 since the limit last moved.
    passed: usize,
    lowered_at: Option<Instant>,
}

/// A request's place in flight; given back when dropped.
#[derive(Debug)]
pub struct ThrottlePermit {
    throttle: Arc<Throttle>,
}

impl Throttle {
    /// Waits for room for one more request.
    pub async fn acquire(self: &Arc<Self>) -> ThrottlePermit {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            {
                let mut state = self.lock();
                if state
                    .lowered_at
                    .is_some_and(|at| at.elapsed() >= LIFT_AFTER)
                {
                    state.limit = None;
                    state.lowered_at = None;
                }
                if state.limit.is_none_or(|limit| state.in_flight < limit) {
                    state.in_flight += 1;
                    return ThrottlePermit {
                        throttle: Arc::clone(self),
                    };
                }
                // Registered before the lock goes, so a permit given back meanwhile wakes it.
                freed.as_mut().enable();
            }
            freed.await;
        }
    }

    /// The server answered 429: halves what is in flight, unless it was just lowered.
    /// Returns the new limit when it moved (not when it was one already).
    pub fn throttled(&self) -> Option<usize> {
        let mut state = self.lock();
        let now = Instant::now();
        if state
            .lowered_at
            .is_some_and(|at| now.duration_since(at) < SETTLE)
        {
            return None;
        }
        let current = state
            .limit
            .map_or(state.in_flight, |limit| limit.min(state.in_flight));
        let lowered = (current / 2).max(1);
        let moved = state.limit != Some(lowered);
        state.limit = Some(lowered);
        state.passed = 0;
        state.lowered_at = Some(now);
        moved.then_some(lowered)
    }

    /// The server answered without a 429: one step towards a higher limit.
    pub fn passed(&self) {
        let mut state = self.lock();
        let Some(limit) = state.limit else { return };
        state.passed += 1;
        if state.passed < limit {
            return;
        }
        state.passed = 0;
        state.limit = (limit + 1 < LIFTED_AT).then_some(limit + 1);
        drop(state);
        self.freed.notify_one();
    }

    /// The current limit (`None`: unlimited).
    #[must_use]
    pub fn limit(&self) -> Option<usize> {
        self.lock().limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ThrottlePermit {
    fn drop(&mut self) {
        self.throttle.lock().in_flight -= 1;
        self.throttle.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn permits(throttle: &Arc<Throttle>, count: usize) -> Vec<ThrottlePermit> {
        let mut held = Vec::new();
        for _ in 0..count {
            held.push(throttle.acquire().await);
        }
        held
    }

    /// Whether one more request would have to wait.
    async fn full(throttle: &Arc<Throttle>) -> bool {
        tokio::time::timeout(Duration::from_millis(20), throttle.acquire())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn unlimited_until_a_429_then_half_of_what_was_in_flight() {
        let throttle = Arc::new(Throttle::default());
        let mut held = permits(&throttle, 64).await;
        assert_eq!(throttle.limit(), None);
        assert_eq!(throttle.throttled(), Some(32));
        // Further 429s answering the same burst lower nothing more.
        assert_eq!(throttle.throttled(), None);
        held.truncate(32);
        assert!(full(&throttle).await, "32 in flight, limit 32");
        held.pop();
        let one_more = throttle.acquire().await;
        assert!(full(&throttle).await);
        drop((held, one_more));
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_429_halves_again_down_to_one() {
        let throttle = Arc::new(Throttle::default());
        let held = permits(&throttle, 8).await;
        assert_eq!(throttle.throttled(), Some(4));
        tokio::time::advance(SETTLE).await;
        // Halved from the limit, not from more requests still in flight.
        assert_eq!(throttle.throttled(), Some(2));
        tokio::time::advance(SETTLE).await;
        assert_eq!(throttle.throttled(), Some(1));
        tokio::time::advance(SETTLE).await;
        assert_eq!(throttle.throttled(), None, "never below one");
        assert_eq!(throttle.limit(), Some(1));
        drop(held);
    }

    #[tokio::test]
    async fn answers_without_429_raise_the_limit_until_it_is_lifted() {
        let throttle = Arc::new(Throttle::default());
        let held = permits(&throttle, 4).await;
        assert_eq!(throttle.throttled(), Some(2));
        drop(held);
        throttle.passed();
        assert_eq!(
            throttle.limit(),
            Some(2),
            "one round is as many answers as the limit"
        );
        throttle.passed();
        assert_eq!(throttle.limit(), Some(3));
        for _ in 0..3 {
            throttle.passed();
        }
        assert_eq!(throttle.limit(), Some(4));
        for limit in 4..LIFTED_AT {
            for _ in 0..limit {
                throttle.passed();
            }
        }
        assert_eq!(throttle.limit(), None, "lifted once high again");
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_is_lifted_a_while_after_the_last_429() {
        let throttle = Arc::new(Throttle::default());
        let held = permits(&throttle, 2).await;
        assert_eq!(throttle.throttled(), Some(1));
        let almost = LIFT_AFTER / 2;
        tokio::time::advance(almost).await;
        assert!(full(&throttle).await);
        tokio::time::advance(almost).await;
        let more = permits(&throttle, 8).await;
        assert_eq!(throttle.limit(), None);
        drop((held, more));
    }

    #[tokio::test]
    async fn a_waiting_request_goes_when_the_limit_rises() {
        let throttle = Arc::new(Throttle::default());
        let mut held = permits(&throttle, 2).await;
        assert_eq!(throttle.throttled(), Some(1));
        held.pop();
        assert!(full(&throttle).await);
        let waiting = tokio::spawn({
            let throttle = Arc::clone(&throttle);
            async move { throttle.acquire().await }
        });
        throttle.passed();
        let permit = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(
            permit.is_ok(),
            "the raised limit let the waiting request go"
        );
        drop(held);
    }
}
