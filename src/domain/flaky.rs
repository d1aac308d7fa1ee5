//! Flakiness in a project (API.md section 9) as pure rules: the three
//! signals and when each fires, a flaky test's state, and the order of the
//! flaky list. `db::signals` keeps the signal events as runs close;
//! `db::flaky` counts them in a window and applies these rules.
//!
//! Choices where API.md is silent:
//! - signals are counted as runs close (finalized, failed, or marked stale),
//!   when their results are final; flips follow the order runs close in,
//!   which is their creation order unless two default-branch runs of the
//!   project are open at once;
//! - a change counts in the window when the later of its two results is in
//!   it; a same-commit pair is dated by the run that completed it;
//! - a test's first failure on the default branch is a change when it passed
//!   in one of the [`FIRST_FAILURE_LOOKBACK`] runs of the same name on the
//!   default branch before (after its fixed mark, if any);
//! - the list ranks by how many signals fired, then by the events counted,
//!   then by the latest event.

use serde::Serialize;

/// The window of a single test's flakiness where none is asked for (its
/// page, a failure's context): the flaky list's default.
pub const FLAKY_WINDOW_DAYS: u32 = 30;

/// How many earlier default-branch runs are read for a test's previous
/// result when it fails there for the first time.
pub const FIRST_FAILURE_LOOKBACK: u32 = 10;

/// A kind of signal event, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Retry = 0,
    SameCommit = 1,
    Flip = 2,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Retry => "retry",
            Signal::SameCommit => "same_commit",
            Signal::Flip => "flip",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        match s {
            "retry" => Some(Signal::Retry),
            "same_commit" => Some(Signal::SameCommit),
            "flip" => Some(Signal::Flip),
            _ => None,
        }
    }
}

/// A test's signal counts in a window (since its fixed mark, if later).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Signals {
    /// Runs in which it failed, then passed.
    pub retry: u32,
    /// Commits on which it passed in one run and failed in another.
    pub same_commit: u32,
    /// Changes between passing and failing on the default branch.
    pub flips: u32,
}

impl Signals {
    pub fn add(&mut self, signal: Signal, n: u32) {
        match signal {
            Signal::Retry => self.retry += n,
            Signal::SameCommit => self.same_commit += n,
            Signal::Flip => self.flips += n,
        }
    }

    /// The signals that fired, by their API names: `retry` and
    /// `same_commit` at one event, `flips` at the project's threshold.
    pub fn fired(&self, flip_threshold: u32) -> Vec<&'static str> {
        let mut fired = Vec::new();
        if self.retry > 0 {
            fired.push("retry");
        }
        if self.same_commit > 0 {
            fired.push("same_commit");
        }
        if self.flips >= flip_threshold {
            fired.push("flips");
        }
        fired
    }

    pub fn events(&self) -> u32 {
        self.retry + self.same_commit + self.flips
    }
}

/// Where a listed test stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Flaky,
    Quarantined,
    Fixed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Flaky => "flaky",
            State::Quarantined => "quarantined",
            State::Fixed => "fixed",
        }
    }
}

/// A test's state, or `None` when it is not listed: flaky when a signal
/// fired (quarantined when a rule covers it), fixed when it was marked fixed
/// in the window and no signal fired since.
pub fn state(fired: bool, marked_fixed: bool, quarantined: bool) -> Option<State> {
    match (fired, marked_fixed, quarantined) {
        (true, _, true) => Some(State::Quarantined),
        (true, _, false) => Some(State::Flaky),
        (false, true, _) => Some(State::Fixed),
        (false, false, _) => None,
    }
}

/// Whether a default-branch result that passed or failed changes the
/// test's standing there (`previous_failing`: its last such result, if any).
pub fn is_flip(previous_failing: Option<bool>, failing: bool) -> bool {
    previous_failing.is_some_and(|p| p != failing)
}

/// A listed test's place in the flaky list: more signals fired first, then
/// more events, then the latest event (compare in descending order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    pub fired: usize,
    pub events: u32,
    pub latest: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_fire_at_their_thresholds() {
        let mut s = Signals::default();
        assert!(s.fired(4).is_empty());
        s.add(Signal::Flip, 3);
        assert!(s.fired(4).is_empty(), "3 changes under a threshold of 4");
        s.add(Signal::Flip, 1);
        assert_eq!(s.fired(4), ["flips"]);
        s.add(Signal::Retry, 1);
        s.add(Signal::SameCommit, 2);
        assert_eq!(s.fired(4), ["retry", "same_commit", "flips"]);
        assert_eq!(s.fired(50), ["retry", "same_commit"]);
        assert_eq!(s.events(), 7);
    }

    #[test]
    fn a_regression_fixed_once_is_two_changes() {
        // pass, fail, pass: two changes, under every allowed threshold.
        let results = [false, true, true, false];
        let mut previous = None;
        let mut flips = 0;
        for failing in results {
            flips += u32::from(is_flip(previous, failing));
            previous = Some(failing);
        }
        assert_eq!(flips, 2);
        let s = Signals { flips, ..Signals::default() };
        assert!(s.fired(crate::domain::analysis::DEFAULT_FLIP_THRESHOLD).is_empty());
    }

    #[test]
    fn states() {
        assert_eq!(state(true, false, false), Some(State::Flaky));
        assert_eq!(state(true, true, false), Some(State::Flaky), "flaked again after the mark");
        assert_eq!(state(true, false, true), Some(State::Quarantined));
        assert_eq!(state(false, true, true), Some(State::Fixed));
        assert_eq!(state(false, false, true), None);
    }

    #[test]
    fn ranking() {
        let two = Rank { fired: 2, events: 2, latest: 1 };
        let many = Rank { fired: 1, events: 9, latest: 5 };
        assert!(two > many, "two signals fired outrank one");
        let newer = Rank { fired: 1, events: 1, latest: 9 };
        assert!(newer > Rank { latest: 3, ..newer }, "then the latest event");
        assert!(many > newer, "then more events");
    }

    #[test]
    fn signal_names_round_trip() {
        for s in [Signal::Retry, Signal::SameCommit, Signal::Flip] {
            assert_eq!(Signal::parse(s.as_str()), Some(s));
        }
        assert_eq!(Signal::parse("flips"), None);
    }
}
