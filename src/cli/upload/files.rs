//! The report files of `proctor upload`: FILE arguments (paths or globs)
//! expanded to a list, and each file read, typed (JUnit XML or CTRF JSON)
//! and gzipped for the wire.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The FILE arguments, expanded: every file in order, once, and the
/// arguments that matched nothing (worth a warning, not an error, while
/// another argument matched).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    pub files: Vec<PathBuf>,
    pub unmatched: Vec<String>,
}

/// Expands each argument: an existing file is taken as it is (its name may
/// contain `[` or `*`), anything else is a glob pattern (`*`, `?`, `[ab]`,
/// `**`). Directories are refused when named, skipped when matched. Fails
/// when nothing at all matched.
pub fn expand(args: &[String]) -> Result<Expanded, String> {
    let mut out = Expanded::default();
    let mut seen = HashSet::new();
    let mut add = |path: PathBuf, files: &mut Vec<PathBuf>| {
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        if seen.insert(key) {
            files.push(path);
        }
    };
    for arg in args {
        let literal = Path::new(arg);
        if literal.is_file() {
            add(literal.to_path_buf(), &mut out.files);
            continue;
        }
        if literal.is_dir() {
            return Err(format!(
                "{arg} is a directory: name the report files, e.g. {}/*.xml",
                arg.trim_end_matches('/')
            ));
        }
        let entries = glob::glob(arg).map_err(|e| format!("invalid file pattern {arg:?}: {e}"))?;
        let mut matched = false;
        for entry in entries {
            let path = entry.map_err(|e| format!("cannot read {}: {}", e.path().display(), e.error()))?;
            if path.is_file() {
                matched = true;
                add(path, &mut out.files);
            }
        }
        if !matched {
            out.unmatched.push(arg.clone());
        }
    }
    if out.files.is_empty() {
        return Err(format!("no report file matches {}", out.unmatched.join(" ")));
    }
    Ok(out)
}

/// Checks every argument before anything runs: each is an existing file or
/// a well-formed pattern (what [`expand`] would refuse later).
pub fn check_patterns(args: &[String]) -> Result<(), String> {
    for arg in args {
        if !Path::new(arg).is_file() {
            glob::Pattern::new(arg).map_err(|e| format!("invalid file pattern {arg:?}: {e}"))?;
        }
    }
    Ok(())
}

pub const XML: &str = "application/xml";
pub const JSON: &str = "application/json";

/// One report ready to send: gzip bytes and the type of what they hold.
#[derive(Debug)]
pub struct Prepared {
    pub gzip: Vec<u8>,
    pub content_type: &'static str,
}

/// Reads `path` and gzips it unless its name ends in `.gz` (then it is sent
/// as it is). The type comes from the name (`.xml`, `.json`, before any
/// `.gz`), else from the first character of the content.
pub fn prepare(path: &Path) -> Result<Prepared, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let (stem, gzipped) = match name.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (name.as_str(), false),
    };
    let head = if gzipped {
        let mut head = Vec::with_capacity(1024);
        GzDecoder::new(bytes.as_slice())
            .take(1024)
            .read_to_end(&mut head)
            .map_err(|e| format!("{shown} is not a valid gzip file: {e}"))?;
        head
    } else {
        bytes.iter().take(1024).copied().collect()
    };
    let content_type = content_type(stem, &head)
        .ok_or_else(|| format!("{shown} is neither a JUnit XML (.xml) nor a CTRF JSON (.json) report"))?;
    let gzip = if gzipped { bytes } else { gzip(&bytes) };
    Ok(Prepared { gzip, content_type })
}

/// The report's media type from its (lower-case, `.gz`-less) file name, or
/// when the name says nothing, from the first non-blank character.
pub fn content_type(name: &str, head: &[u8]) -> Option<&'static str> {
    if name.ends_with(".xml") {
        return Some(XML);
    }
    if name.ends_with(".json") {
        return Some(JSON);
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Some(XML),
        Some(b'{') => Some(JSON),
        _ => None,
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), Compression::default());
    encoder.write_all(bytes).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("reports/nested")).unwrap();
        for file in ["reports/a.xml", "reports/b.xml", "reports/c.json", "reports/nested/d.xml", "odd[1].xml"] {
            std::fs::write(dir.path().join(file), "<testsuite/>").unwrap();
        }
        dir
    }

    fn arg(dir: &tempfile::TempDir, rel: &str) -> String {
        dir.path().join(rel).to_string_lossy().into_owned()
    }

    fn names(dir: &tempfile::TempDir, files: &[PathBuf]) -> Vec<String> {
        files.iter().map(|f| f.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn globs_expand_in_order_without_duplicates() {
        let dir = tree();
        let args = [arg(&dir, "reports/*.xml"), arg(&dir, "reports/a.xml"), arg(&dir, "reports/**/*.json")];
        let expanded = expand(&args).unwrap();
        assert_eq!(names(&dir, &expanded.files), ["reports/a.xml", "reports/b.xml", "reports/c.json"]);
        assert!(expanded.unmatched.is_empty());
        let deep = expand(&[arg(&dir, "reports/**/*.xml")]).unwrap();
        assert_eq!(names(&dir, &deep.files), ["reports/a.xml", "reports/b.xml", "reports/nested/d.xml"]);
    }

    #[test]
    fn an_existing_file_is_taken_literally_even_with_glob_characters() {
        let dir = tree();
        let expanded = expand(&[arg(&dir, "odd[1].xml")]).unwrap();
        assert_eq!(names(&dir, &expanded.files), ["odd[1].xml"]);
    }

    #[test]
    fn unmatched_arguments_are_listed_and_nothing_at_all_is_an_error() {
        let dir = tree();
        let expanded = expand(&[arg(&dir, "reports/a.xml"), arg(&dir, "missing/*.xml")]).unwrap();
        assert_eq!(expanded.unmatched, [arg(&dir, "missing/*.xml")]);
        let err = expand(&[arg(&dir, "missing/*.xml"), arg(&dir, "nope.xml")]).unwrap_err();
        assert!(err.starts_with("no report file matches "), "{err}");
        assert!(err.contains("nope.xml"), "{err}");
        // A pattern that matches only directories matches no report.
        assert!(expand(&[arg(&dir, "report*")]).is_err());
    }

    #[test]
    fn a_directory_or_a_bad_pattern_is_refused_with_a_hint() {
        let dir = tree();
        let err = expand(&[arg(&dir, "reports")]).unwrap_err();
        assert!(err.contains("is a directory") && err.ends_with("reports/*.xml"), "{err}");
        assert!(expand(&["reports/[".to_string()]).unwrap_err().contains("invalid file pattern"));
        assert!(check_patterns(&["reports/[".to_string()]).unwrap_err().contains("invalid file pattern"));
        assert_eq!(check_patterns(&[arg(&dir, "odd[1].xml"), "later/**/*.xml".to_string()]), Ok(()));
    }

    #[test]
    fn types_come_from_the_name_then_the_content() {
        assert_eq!(content_type("junit.xml", b"garbage"), Some(XML));
        assert_eq!(content_type("ctrf.json", b""), Some(JSON));
        assert_eq!(content_type("results", b"\xEF\xBB\xBF  \n<?xml version='1.0'?>"), Some(XML));
        assert_eq!(content_type("results.txt", b"\n{\"results\":{}}"), Some(JSON));
        assert_eq!(content_type("results.txt", b"PASS all"), None);
    }

    #[test]
    fn files_are_gzipped_unless_they_already_are() {
        let dir = tempfile::tempdir().unwrap();
        let xml = b"<testsuite name=\"s\"><testcase name=\"t\"/></testsuite>".repeat(50);
        std::fs::write(dir.path().join("r.xml"), &xml).unwrap();
        std::fs::write(dir.path().join("r.JSON.gz"), gzip(b"{\"results\":{}}")).unwrap();
        std::fs::write(dir.path().join("plain.gz"), b"not gzip").unwrap();

        let prepared = prepare(&dir.path().join("r.xml")).unwrap();
        assert_eq!(prepared.content_type, XML);
        assert!(prepared.gzip.len() < xml.len());
        let mut back = Vec::new();
        GzDecoder::new(prepared.gzip.as_slice()).read_to_end(&mut back).unwrap();
        assert_eq!(back, xml);

        let already = prepare(&dir.path().join("r.JSON.gz")).unwrap();
        assert_eq!(already.content_type, JSON);
        assert_eq!(already.gzip, std::fs::read(dir.path().join("r.JSON.gz")).unwrap(), "sent as it is");

        assert!(prepare(&dir.path().join("plain.gz")).unwrap_err().contains("not a valid gzip file"));
        assert!(prepare(&dir.path().join("absent.xml")).unwrap_err().starts_with("cannot read"));
    }
}
