//! Failpoints: named places inside a governance action where a test makes
//! the process die or the database refuse. Compiled in only with the
//! `failpoints` feature; otherwise every point is an empty inline function.
//!
//! A test arms the `n`-th point reached (counting every point, in order), so
//! it can first run an action to count its points and then kill it at each
//! one in turn without naming them.

use crate::CoreError;

/// What an armed failpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database refuses: the point returns an internal error.
    Refuse,
    /// The process dies: the point panics (the test then drops the control
    /// plane, reopens the store and restarts).
    Die,
}

#[cfg(feature = "failpoints")]
mod armed {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    /// Whether a test is counting; off, a point costs one atomic load.
    pub(super) static COUNTING: AtomicBool = AtomicBool::new(false);

    use super::Failure;

    pub(super) struct State {
        pub(super) hits: u64,
        pub(super) armed: Option<(u64, Failure)>,
        pub(super) names: Vec<&'static str>,
    }

    pub(super) static STATE: Mutex<State> = Mutex::new(State { hits: 0, armed: None, names: Vec::new() });
}

/// Resets the count and arms the `nth` point reached from now (1-based),
/// or none. Returns nothing; read the count with [`reached`].
#[cfg(feature = "failpoints")]
pub fn arm(nth: Option<u64>, failure: Failure) {
    let mut state = armed::STATE.lock().unwrap_or_else(|e| e.into_inner());
    state.hits = 0;
    state.names.clear();
    state.armed = nth.map(|n| (n, failure));
    armed::COUNTING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Stops counting and disarms.
#[cfg(feature = "failpoints")]
pub fn disarm() {
    armed::COUNTING.store(false, std::sync::atomic::Ordering::SeqCst);
    armed::STATE.lock().unwrap_or_else(|e| e.into_inner()).armed = None;
}

/// The points reached since the last [`arm`], by name, in order.
#[cfg(feature = "failpoints")]
pub fn reached() -> Vec<&'static str> {
    armed::STATE.lock().unwrap_or_else(|e| e.into_inner()).names.clone()
}

/// A failpoint: fails as armed, else does nothing.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &'static str) -> Result<(), CoreError> {
    if !armed::COUNTING.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(());
    }
    let failure = {
        let mut state = armed::STATE.lock().unwrap_or_else(|e| e.into_inner());
        state.hits += 1;
        state.names.push(name);
        match state.armed {
            Some((n, failure)) if n == state.hits => {
                state.armed = None;
                Some(failure)
            }
            _ => None,
        }
    };
    match failure {
        None => Ok(()),
        Some(Failure::Refuse) => Err(CoreError::Internal(format!("failpoint {name}: the database refused"))),
        Some(Failure::Die) => panic!("failpoint {name}: the process dies here"),
    }
}

/// A failpoint where nothing can refuse, only die (after a commit): armed
/// either way, the process dies.
pub(crate) fn die_here(name: &'static str) {
    if let Err(e) = hit(name) {
        panic!("{e}");
    }
}

/// A failpoint: without the `failpoints` feature, nothing at all.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &'static str) -> Result<(), CoreError> {
    Ok(())
}
