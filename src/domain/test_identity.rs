//! A test's stable identity within a project: `test_id` is the first 128
//! bits (hex) of SHA-256 over the project, the suite or classname, the name
//! and the file. Runs of the same test on any branch share it.

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

pub fn test_id(project_id: i64, suite: &str, classname: &str, name: &str, file: Option<&str>) -> String {
    let mut hash = Sha256::new();
    for part in [project_id.to_string().as_str(), scope(suite, classname), name, file.unwrap_or("")] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in &digest[..16] {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
    out
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
