//! How long a step may still take: a point in time that a cancel brings forward to one grace
//! period from when the cancel is seen (never later than it already was).

use super::CANCEL_GRACE;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    end: Instant,
    /// What is left after a cancel.
    grace: Duration,
    cut: bool,
}

/// Far enough to mean "no limit of its own" without overflowing `Instant`.
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Deadline {
    /// `d` from now; a cancel leaves [`CANCEL_GRACE`].
    pub fn after(d: Duration) -> Deadline {
        let now = Instant::now();
        Deadline {
            end: now.checked_add(d).unwrap_or_else(|| now + FAR),
            grace: CANCEL_GRACE,
            cut: false,
        }
    }

    /// The same deadline, but a cancel leaves `grace` instead of [`CANCEL_GRACE`] (a step that
    /// must get a fair chance even after a cancel, such as a client started only to disconnect).
    pub fn with_grace(mut self, grace: Duration) -> Deadline {
        self.grace = grace;
        self
    }

    /// The same deadline, left as it is by a cancel (a pause that a stop waits out; the caller
    /// has seen the cancel already).
    pub fn kept(mut self) -> Deadline {
        self.cut = true;
        self
    }

    /// Pushes the end out by `d` (time a stop spent on pacing, which its grace does not count).
    pub fn extend(&mut self, d: Duration) {
        self.end = self.end.checked_add(d).unwrap_or(self.end);
    }

    /// The earlier of the two (a step's own limit within the caller's).
    pub fn within(mut self, outer: Deadline) -> Deadline {
        self.end = self.end.min(outer.end);
        self.cut |= outer.cut;
        self
    }

    /// A cancel was seen: at most the grace is left. Idempotent.
    pub fn cancel(&mut self) {
        if !self.cut {
            self.cut = true;
            self.end = self.end.min(Instant::now() + self.grace);
        }
    }

    /// Whether a cancel has shortened this deadline.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_shortens_to_the_grace_once() {
        let mut d = Deadline::after(Duration::from_secs(60));
        assert!(d.remaining() > Duration::from_secs(59));
        assert!(!d.is_cut());
        d.cancel();
        assert!(d.is_cut());
        assert!(d.remaining() <= CANCEL_GRACE);
        assert!(d.remaining() > CANCEL_GRACE - Duration::from_millis(100));
        // A second cancel does not push it further out (or in).
        let before = d;
        std::thread::sleep(Duration::from_millis(20));
        d.cancel();
        assert_eq!(d, before);
    }

    #[test]
    fn a_cancel_never_extends_a_short_deadline() {
        let mut d = Deadline::after(Duration::from_millis(50));
        d.cancel();
        assert!(d.remaining() <= Duration::from_millis(50));
        let mut d = Deadline::after(Duration::ZERO);
        assert!(d.expired());
        d.cancel();
        assert!(d.expired());
    }

    #[test]
    fn a_step_grace_and_an_outer_limit() {
        let mut d = Deadline::after(Duration::from_secs(60)).with_grace(Duration::from_secs(2));
        d.cancel();
        assert!(d.remaining() > Duration::from_millis(1900));
        assert!(d.remaining() <= Duration::from_secs(2));
        let outer = Deadline::after(Duration::from_millis(100));
        let inner = Deadline::after(Duration::from_secs(60)).within(outer);
        assert!(inner.remaining() <= Duration::from_millis(100));
        // An outer deadline already cut by a cancel makes the inner one cut too.
        let mut outer = Deadline::after(Duration::from_secs(60));
        outer.cancel();
        assert!(Deadline::after(Duration::from_secs(5))
            .within(outer)
            .is_cut());
        // No overflow for "no limit".
        assert!(!Deadline::after(Duration::MAX).expired());
    }
}
