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
