//! The retry pieces every admin call shares: what an attempt answers per
//! item ([`Step`]) and the capped exponential [`Backoff`] between attempts.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use super::AdminError;

/// An attempt's answer for one item of a call.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Final: the item's result.
    Done(Result<T, AdminError>),
    /// Try this item again after a backoff; the error is kept as the last
    /// one in case the call times out.
    Retry(AdminError),
}

/// Waits between attempts: `first`, doubled per attempt, capped at `max`,
/// shortened by up to 20 % at random (KIP-580's jitter, only ever
/// downwards, so that `max` is a true bound).
#[derive(Debug)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    attempts: u32,
    state: u64,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self::with_seed(first, max, RandomState::new().hash_one(Instant::now()))
    }

    pub(crate) fn with_seed(first: Duration, max: Duration, seed: u64) -> Self {
        Self {
            first,
            max: max.max(first),
            attempts: 0,
            state: seed,
        }
    }

    /// The wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let doublings = self.attempts.min(30);
        self.attempts = self.attempts.saturating_add(1);
        let full = self.first.saturating_mul(1 << doublings).min(self.max);
        full.mul_f64(1.0 - 0.2 * self.jitter())
    }

    /// A fraction in [0, 1) (splitmix64).
    fn jitter(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_jitter_only_shortens() {
        let first = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for seed in 0..50 {
            let mut backoff = Backoff::with_seed(first, max, seed);
            let waits: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
            for (i, wait) in waits.iter().enumerate() {
                let full = (first * (1 << i.min(20))).min(max);
                assert!(*wait <= full, "attempt {i}: {wait:?} > {full:?}");
                assert!(*wait >= full.mul_f64(0.8), "attempt {i}: {wait:?}");
            }
            assert!(waits[9] <= max);
        }
    }
}
