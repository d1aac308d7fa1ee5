//! Merging the attempts of one test in one run: `Merged` and `combine`.

use super::Outcome::{self, Error, Failed, Flaky, Passed, Skipped};
use super::{combine, Merged};

#[test]
fn merged_remembers_every_attempt() {
    let merge = |seq: &[Outcome]| {
        let mut m = Merged::new(seq[0]);
        for o in &seq[1..] {
            m.add(*o);
        }
        m.outcome()
    };
    assert_eq!(merge(&[Failed, Skipped, Passed]), Flaky, "a skip between does not hide the failure");
    assert_eq!(merge(&[Passed, Skipped, Error]), Flaky);
    assert_eq!(merge(&[Failed, Skipped]), Skipped, "else the last result");
    assert_eq!(merge(&[Passed, Passed]), Passed);
    assert_eq!(merge(&[Skipped, Failed, Failed]), Failed);
}

#[test]
fn combine_table() {
    let all = [Passed, Failed, Error, Skipped, Flaky];
    // Rows: earlier; columns: later, in the order of `all`.
    let table = [
        [Passed, Flaky, Flaky, Skipped, Flaky],
        [Flaky, Failed, Error, Skipped, Flaky],
        [Flaky, Failed, Error, Skipped, Flaky],
        [Passed, Failed, Error, Skipped, Flaky],
        [Flaky, Flaky, Flaky, Flaky, Flaky],
    ];
    for (i, earlier) in all.iter().enumerate() {
        for (j, later) in all.iter().enumerate() {
            assert_eq!(combine(*earlier, *later), table[i][j], "{earlier} then {later}");
        }
    }
    assert_eq!(Flaky.as_str(), "flaky");
    assert_eq!(Error.to_string(), "error");
}

#[test]
fn a_stored_merge_continues_where_it_stopped() {
    // As a run's result row keeps it: the outcome and the attempt bits.
    let mut stored = Merged::new(Failed);
    stored.add(Skipped);
    let mut resumed = Merged::stored(stored.outcome(), stored.attempt_bits());
    resumed.add(Passed);
    assert_eq!(resumed.outcome(), Flaky, "the failure before the skip still counts");
    // Rows written before the bits were kept carry 0: the outcome stands for its attempts.
    let mut legacy = Merged::stored(Failed, 0);
    legacy.add(Passed);
    assert_eq!(legacy.outcome(), Flaky);
    let mut legacy = Merged::stored(Skipped, 0);
    legacy.add(Passed);
    assert_eq!(legacy.outcome(), Passed);
    for o in [Passed, Failed, Error, Skipped, Flaky] {
        assert_eq!(Outcome::parse(o.as_str()), Some(o));
    }
    assert_eq!(Outcome::parse("PASSED"), None);
}
