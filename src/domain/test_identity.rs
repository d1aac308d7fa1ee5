//! A test's stable identity within a project: `test_id` is the first 128
//! bits of SHA-256 over the project, the suite or classname, the name and the
//! file (stored as 16 bytes, shown as 32 hex digits). Runs of the same test
//! on any branch share it.

use sha2::{Digest, Sha256};

/// The class name when the report has one (it names the test's home more
/// precisely than a suite), else the suite.
pub fn scope<'a>(suite: &'a str, classname: &'a str) -> &'a str {
    if classname.is_empty() {
        suite
    } else {
        classname
    }
}

/// A test id as stored.
pub type TestKey = [u8; 16];

pub fn test_key(project_id: i64, suite: &str, classname: &str, name: &str, file: Option<&str>) -> TestKey {
    let mut hash = Sha256::new();
    for part in [project_id.to_string().as_str(), scope(suite, classname), name, file.unwrap_or("")] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The `test_id` the API shows: [`test_key`] as 32 lowercase hex digits.
pub fn test_id(project_id: i64, suite: &str, classname: &str, name: &str, file: Option<&str>) -> String {
    test_key(project_id, suite, classname, name, file).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct() {
        let a = test_id(1, "suite", "pkg.Class", "works", Some("a.rs"));
        assert_eq!(a.len(), 32);
        assert_eq!(a, test_id(1, "other suite", "pkg.Class", "works", Some("a.rs")), "classname wins over suite");
        assert_ne!(a, test_id(2, "suite", "pkg.Class", "works", Some("a.rs")), "per project");
        assert_ne!(a, test_id(1, "suite", "pkg.Class", "works", None));
        assert_ne!(test_id(1, "ab", "", "c", None), test_id(1, "a", "", "bc", None), "length-framed");
        assert_eq!(test_id(1, "s", "", "n", None), test_id(1, "x", "s", "n", None));
    }
}
