//! [`Backoff`] and [`Jitter`]: the one capped exponential backoff of the
//! client, for every layer that retries.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Capped exponential backoff: `first`, doubled per attempt, at most `max`,
/// shortened at random by up to a fifth. Jitter spreads the retries of many
/// clients after a broker restart; it only ever shortens a wait, so `max`
/// is a true bound (the Java client's jitter can exceed its maximum).
///
/// ```
/// use std::time::Duration;
/// use vltava_net::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(backoff.delay(1, 0.0), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3, 0.0), Duration::from_millis(400));
/// assert_eq!(backoff.delay(9, 0.0), Duration::from_secs(1));
/// assert!(backoff.delay(9, 0.99) >= Duration::from_millis(800));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// A backoff from `first` up to `max` (raised to `first` if lower).
    pub const fn new(first: Duration, max: Duration) -> Self {
        let max = if max.as_nanos() < first.as_nanos() {
            first
        } else {
            max
        };
        Self { first, max }
    }

    /// The wait after the `attempt`-th failure in a row (1-based), with
    /// `jitter` in [0, 1) taking up to 20% off.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let full = self.first.saturating_mul(1 << doublings).min(self.max);
        full.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
    }
}

/// Fractions in [0, 1) for jitter, from a shared counter (splitmix64:
/// spread, not secrecy). Cheap, lock-free, and seedable for tests.
#[derive(Debug)]
pub struct Jitter(AtomicU64);

impl Jitter {
    /// A source seeded at random.
    pub fn new() -> Self {
        Self::seeded(RandomState::new().hash_one(Instant::now()))
    }

    /// A source that gives the same sequence for the same seed.
    pub fn seeded(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next fraction in [0, 1).
    pub fn next(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_jitter_only_shortens() {
        let b = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let delays: Vec<u128> = (1..=7).map(|n| b.delay(n, 0.0).as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX, 0.0), b.max);
        assert_eq!(b.delay(0, 0.0), b.first);
        let j = Jitter::seeded(1);
        for _ in 0..1000 {
            let d = b.delay(6, j.next());
            assert!(d <= b.max && d >= b.max.mul_f64(0.8), "{d:?}");
        }
        assert_eq!(
            Backoff::new(Duration::from_secs(2), Duration::from_secs(1)).max,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn jitter_spreads_over_zero_to_one_and_a_seed_repeats() {
        let j = Jitter::seeded(7);
        let samples: Vec<f64> = (0..1000).map(|_| j.next()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let low = samples.iter().filter(|&&x| x < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below 0.5");
        let again = Jitter::seeded(7);
        assert_eq!(again.next(), samples[0]);
    }
}
