//! How long sessions live: the idle and absolute timeouts and the sliding threshold.

use chrono::{DateTime, Duration, Utc};

use super::session::Session;

/// How long sessions live and when validate extends them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifetimes {
    idle: Duration,
    absolute: Duration,
    sliding_threshold: f64,
}

/// Timeouts that contradict each other.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LifetimesError {
    /// The idle timeout is under a second.
    #[error("the idle timeout must be at least one second")]
    IdleTooShort,
    /// The absolute timeout is shorter than the idle one.
    #[error("the absolute timeout must not be shorter than the idle timeout")]
    AbsoluteShorterThanIdle,
    /// The sliding threshold is outside 0..=1.
    #[error("the sliding threshold must be between 0 and 1, got {0}")]
    ThresholdOutOfRange(f64),
}

impl Lifetimes {
    /// `sliding_threshold` is the share of the idle window that must have passed before a
    /// validate extends the session: 0.5 means "only once half of it is used up", so most
    /// validates write nothing; 0 extends on every validate; 1 never extends on validate.
    pub fn new(
        idle: Duration,
        absolute: Duration,
        sliding_threshold: f64,
    ) -> Result<Self, LifetimesError> {
        if idle < Duration::seconds(1) {
            return Err(LifetimesError::IdleTooShort);
        }
        if absolute < idle {
            return Err(LifetimesError::AbsoluteShorterThanIdle);
        }
        if !(0.0..=1.0).contains(&sliding_threshold) {
            return Err(LifetimesError::ThresholdOutOfRange(sliding_threshold));
        }
        Ok(Self {
            idle,
            absolute,
            sliding_threshold,
        })
    }

    /// Other timeouts with the same sliding threshold.
    pub fn with_timeouts(
        &self,
        idle: Duration,
        absolute: Duration,
    ) -> Result<Self, LifetimesError> {
        Self::new(idle, absolute, self.sliding_threshold)
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The absolute timeout.
    pub fn absolute(&self) -> Duration {
        self.absolute
    }

    /// The idle deadline a session touched at `now` gets: `now + idle`, never past its
    /// absolute deadline.
    pub fn extended_deadline(&self, session: &Session, now: DateTime<Utc>) -> DateTime<Utc> {
        (now + self.idle).min(session.absolute_expires_at)
    }

    /// The new idle deadline when a validate at `now` should extend the session, or `None`
    /// when it should write nothing (not enough of the idle window used, or already capped).
    pub fn slide(&self, session: &Session, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.sliding_threshold >= 1.0 || !session.status(now).is_active() {
            return None;
        }
        let remaining = session.expires_at - now;
        let keep = self.idle.as_seconds_f64() * (1.0 - self.sliding_threshold);
        if remaining.as_seconds_f64() > keep {
            return None;
        }
        let extended = self.extended_deadline(session, now);
        (extended > session.expires_at).then_some(extended)
    }
}
