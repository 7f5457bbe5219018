//! The retry pieces every admin call shares: what an attempt answers per
//! item ([`Step`]) and the capped exponential [`Backoff`] between attempts.

use std::time::Duration;

use vltava_net::Jitter;

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

/// Waits between attempts: [`vltava_net::Backoff`] (doubling, capped,
/// jitter only shortening), counting this call's attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    backoff: vltava_net::Backoff,
    attempts: u32,
    jitter: Jitter,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self::with_jitter(first, max, Jitter::new())
    }

    #[cfg(test)]
    pub(crate) fn with_seed(first: Duration, max: Duration, seed: u64) -> Self {
        Self::with_jitter(first, max, Jitter::seeded(seed))
    }

    fn with_jitter(first: Duration, max: Duration, jitter: Jitter) -> Self {
        Self {
            backoff: vltava_net::Backoff::new(first, max),
            attempts: 0,
            jitter,
        }
    }

    /// The wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        self.backoff.delay(self.attempts, self.jitter.next())
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
