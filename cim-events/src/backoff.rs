//! Jittered exponential backoff for retries, so that racing writers and clients waiting
//! out a leader election spread out instead of retrying in lockstep.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Backoff before retry `attempt` (0-based): a random duration in `[d/2, d]` where `d`
/// doubles from `base` per attempt up to `cap`.
pub(crate) fn delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let full = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(cap)
        .as_micros() as u64;
    let half = full / 2;
    Duration::from_micros(half + random() % (full - half + 1))
}

/// Sleeps for [`delay`].
pub(crate) async fn sleep(attempt: u32, base: Duration, cap: Duration) {
    tokio::time::sleep(delay(attempt, base, cap)).await;
}

/// Lets other tasks run once before a retry, so that writers racing for one aggregate
/// interleave instead of one of them spinning. Needs no timer, so it works on any runtime.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// A random number from the standard library's per-hasher random keys: good enough to
/// decorrelate retries, with no extra dependency.
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_jittered_and_capped() {
        let base = Duration::from_millis(10);
        let cap = Duration::from_millis(100);
        for attempt in 0..20 {
            let d = delay(attempt, base, cap);
            let full = (base * (1 << attempt.min(16))).min(cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
