//! Where the control plane gets the time: the system clock in production, a
//! settable one in tests.

use std::sync::atomic::{AtomicI64, Ordering};

use verdict_model::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that says what it was last set to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `at`.
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(AtomicI64::new(at.seconds()))
    }

    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.seconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// The wall clock shifted by an offset that can be changed: `verdict demo`
/// plays its story on it, starting days in the past, then runs at real time.
#[derive(Debug, Default)]
pub struct ShiftedClock(AtomicI64);

impl ShiftedClock {
    /// A clock `offset` seconds from the wall clock.
    pub fn new(offset: i64) -> ShiftedClock {
        ShiftedClock(AtomicI64::new(offset))
    }

    /// Sets the offset from the wall clock.
    pub fn set_offset(&self, offset: i64) {
        self.0.store(offset, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp::now().plus(self.0.load(Ordering::SeqCst))
    }
}
