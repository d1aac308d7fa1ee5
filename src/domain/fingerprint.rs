//! Failure groups: a failure's message reduced to what stays the same when
//! the same bug fails again, and a fingerprint of that text.
//!
//! The first line of the message (of the details when there is no message)
//! is kept, and what changes from one run to the next becomes a
//! placeholder: UUIDs `<id>`, timestamps `<time>`, addresses (`10.0.0.7:5432`,
//! `[::1]:80`) `<addr>`, hex numbers and object ids (`0x7ffd…`, a commit)
//! `<hex>`, absolute paths `<path>` (temporary directories `<tmp>`) and
//! numbers `<N>`, units kept (`in <N> ms`). Numbers inside words stay
//! (`utf8`, `test_2`): they name things.

/// Longest normalized message kept, in characters.
const MAX_CHARS: usize = 300;

/// The message of a failure normalized, or `None` when it has none.
pub fn normalize(message: Option<&str>, details: Option<&str>) -> Option<String> {
    let line = message.and_then(first_line).or_else(|| details.and_then(first_line))?;
    let chars: Vec<char> = line.chars().take(MAX_CHARS * 2).collect();
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let (placeholder, len) = placeholder_at(&chars, i);
        match placeholder {
            Some(p) => out.push_str(p),
            None => out.extend(&chars[i..i + len]),
        }
        i += len;
    }
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect();
    }
    Some(out)
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// A stable 64-bit fingerprint of a normalized message (FNV-1a: the same
/// text gives the same number in every version of Proctor).
pub fn fingerprint(normalized: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in normalized.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// What starts at `i`: a placeholder and how many characters it replaces,
/// or `None` and how many characters to copy.
fn placeholder_at(c: &[char], i: usize) -> (Option<&'static str>, usize) {
    let word_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    if c[i] == '/' && !word_before && c.get(i + 1).is_some_and(|n| !n.is_whitespace() && *n != '/') {
        let len = run(c, i, |ch| !ch.is_whitespace() && !"'\"()<>,;".contains(ch));
        let path: String = c[i..i + len].iter().collect();
        if path[1..].contains('/') {
            let (path, tail) = split_line_number(&path);
            let kind = if is_temporary(path) { "<tmp>" } else { "<path>" };
            return (Some(kind), len - tail);
        }
    }
    if c[i] == '[' {
        let len = run(c, i + 1, |ch| ch.is_ascii_hexdigit() || ch == ':');
        if len >= 2 && c.get(i + 1 + len) == Some(&']') && c[i + 1..i + 1 + len].contains(&':') {
            let port =
                if c.get(i + 2 + len) == Some(&':') { 1 + run(c, i + 3 + len, |ch| ch.is_ascii_digit()) } else { 0 };
            return (Some("<addr>"), len + 2 + port);
        }
    }
    if word_before || !c[i].is_ascii_alphanumeric() {
        return (None, 1);
    }
    let word = run(c, i, |ch| ch.is_ascii_alphanumeric() || ch == '_');
    if let Some(len) = uuid_at(c, i) {
        return (Some("<id>"), len);
    }
    if let Some(len) = timestamp_at(c, i) {
        return (Some("<time>"), len);
    }
    if let Some(len) = ipv4_at(c, i) {
        return (Some("<addr>"), len);
    }
    let text: String = c[i..i + word].iter().collect();
    if is_hex_id(&text) {
        return (Some("<hex>"), word);
    }
    if c[i].is_ascii_digit() {
        let mut len = run(c, i, |ch| ch.is_ascii_digit());
        if c.get(i + len) == Some(&'.') && c.get(i + len + 1).is_some_and(char::is_ascii_digit) {
            len += 1 + run(c, i + len + 1, |ch| ch.is_ascii_digit());
        }
        // "500ms": the number goes, its unit stays.
        return (Some("<N>"), len);
    }
    (None, word)
}

fn run(c: &[char], from: usize, keep: impl Fn(char) -> bool) -> usize {
    c.get(from..).map_or(0, |rest| rest.iter().take_while(|ch| keep(**ch)).count())
}

/// `/a/b.py:12:5` → the path and the length of its `:12:5` tail.
fn split_line_number(path: &str) -> (&str, usize) {
    let trimmed = path.trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == ':');
    (trimmed, path.len() - trimmed.len())
}

fn is_temporary(path: &str) -> bool {
    ["/tmp/", "/var/tmp/", "/var/folders/", "/private/var/folders/", "/dev/shm/"].iter().any(|t| path.starts_with(t))
}

fn is_hex_id(word: &str) -> bool {
    let hex = word.strip_prefix("0x").unwrap_or(word);
    let all_hex = !hex.is_empty() && hex.chars().all(|ch| ch.is_ascii_hexdigit());
    let has_digit = hex.chars().any(|ch| ch.is_ascii_digit());
    let has_letter = hex.chars().any(|ch| ch.is_ascii_alphabetic());
    all_hex && (word.starts_with("0x") || (hex.len() >= 8 && has_digit && has_letter))
}

fn uuid_at(c: &[char], i: usize) -> Option<usize> {
    let mut at = i;
    for (n, group) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            (c.get(at) == Some(&'-')).then_some(())?;
            at += 1;
        }
        (run(c, at, |ch| ch.is_ascii_hexdigit()) == group).then_some(())?;
        at += group;
    }
    Some(at - i)
}

/// `2026-12-03`, optionally with a time (`T10:00:00.5Z`, ` 10:00:00+01:00`).
fn timestamp_at(c: &[char], i: usize) -> Option<usize> {
    let digits = |at: usize, n: usize| run(c, at, |ch| ch.is_ascii_digit()) == n;
    let date = digits(i, 4) && c.get(i + 4) == Some(&'-') && digits(i + 5, 2) && c.get(i + 7) == Some(&'-');
    (date && digits(i + 8, 2)).then_some(())?;
    let mut len = 10;
    if matches!(c.get(i + 10), Some('T' | ' ')) && digits(i + 11, 2) && c.get(i + 13) == Some(&':') {
        len = 11 + run(c, i + 11, |ch| ch.is_ascii_digit() || ":.+-Z".contains(ch));
    }
    Some(len)
}

/// `10.0.0.7` or `10.0.0.7:5432`.
fn ipv4_at(c: &[char], i: usize) -> Option<usize> {
    let mut at = i;
    for n in 0..4 {
        if n > 0 {
            (c.get(at) == Some(&'.')).then_some(())?;
            at += 1;
        }
        let len = run(c, at, |ch| ch.is_ascii_digit());
        (1..=3).contains(&len).then_some(())?;
        at += len;
    }
    if c.get(at) == Some(&':') && c.get(at + 1).is_some_and(char::is_ascii_digit) {
        at += 1 + run(c, at + 1, |ch| ch.is_ascii_digit());
    }
    Some(at - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(message: &str) -> String {
        normalize(Some(message), None).unwrap()
    }

    #[test]
    fn numbers_become_placeholders_and_units_stay() {
        assert_eq!(n("TimeoutError: page did not load in 5000 ms"), "TimeoutError: page did not load in <N> ms");
        assert_eq!(n("took 1.25s (limit 500ms)"), "took <N>s (limit <N>ms)");
        assert_eq!(n("expected 3 but was 4"), "expected <N> but was <N>");
    }

    #[test]
    fn numbers_inside_words_stay() {
        assert_eq!(n("utf8 decode failed in test_2"), "utf8 decode failed in test_2");
        assert_eq!(n("HTTP/1.1 503"), "HTTP/<N> <N>");
    }

    #[test]
    fn ids_hex_and_addresses() {
        assert_eq!(n("user 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b not found"), "user <id> not found");
        assert_eq!(n("segfault at 0x7ffd5e8a"), "segfault at <hex>");
        assert_eq!(n("object deadbeef42 missing"), "object <hex> missing");
        assert_eq!(n("connect to 10.0.0.7:5432 refused"), "connect to <addr> refused");
        assert_eq!(n("bind [::1]:8080 failed"), "bind <addr> failed");
        assert_eq!(n("at 2026-12-03T10:00:00.5Z"), "at <time>");
        assert_eq!(n("a cafe is not an id"), "a cafe is not an id");
    }

    #[test]
    fn paths_and_temporary_directories() {
        assert_eq!(n("no such file /home/ci/work/app/data.json"), "no such file <path>");
        assert_eq!(n("cannot open /tmp/pytest-of-ci/pytest-12/x.db"), "cannot open <tmp>");
        assert_eq!(n("at /src/app/main.py:12: boom"), "at <path>:<N>: boom");
        assert_eq!(n("a/b relative stays"), "a/b relative stays");
        assert_eq!(n("ratio 1/2"), "ratio <N>/<N>");
    }

    #[test]
    fn the_first_line_of_the_message_or_the_details() {
        assert_eq!(normalize(Some("\n  first 1\nsecond"), None).unwrap(), "first <N>");
        assert_eq!(normalize(None, Some("Traceback 3\n  more")).unwrap(), "Traceback <N>");
        assert_eq!(normalize(Some("  "), Some("from details")).unwrap(), "from details");
        assert_eq!(normalize(None, None), None);
        assert_eq!(normalize(Some(&"x".repeat(5000)), None).unwrap().len(), MAX_CHARS);
    }

    #[test]
    fn same_bug_same_fingerprint() {
        let a = n("timeout after 5000 ms on 10.1.2.3:80");
        let b = n("timeout after 7000 ms on 10.9.9.9:81");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&n("refused after 5000 ms")));
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325_u64 as i64, "FNV-1a offset basis");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in ["[", "[:", "/", "//", "0x", "2026-", "1.", "[::]", "é/ü 12", "\u{0}/\u{0}/", "1.2.3.4:", "ab-cd"] {
            let _ = normalize(Some(s), None);
        }
    }
}
