//! Token-shaped text: a secret pasted where it does not belong (a name, a
//! query string, the login form's email field, a test's failure message) is
//! found here, so that it is refused or cut out before it is stored, logged
//! or shown. Any `prc_<kind>_` followed by 8 or more letters and digits
//! counts, in any letter case (a lower-cased secret can be recovered by
//! trying each letter's case against its checksum), and for every kind,
//! present and future.

use std::borrow::Cow;

/// Where a token-shaped string starts in `text` at or after `from`, where
/// its random part starts and where it ends.
struct Found {
    body_start: usize,
    end: usize,
}

/// The kind part of a prefix (`pat`, `key`, …) is 2–8 letters.
const KIND_LETTERS: std::ops::RangeInclusive<usize> = 2..=8;
/// Fewer random characters than this cannot be a usable secret.
const MIN_BODY: usize = 8;

fn find(text: &[u8], mut from: usize) -> Option<Found> {
    while let Some(offset) = text.get(from..).and_then(|rest| rest.iter().position(|b| matches!(b, b'p' | b'P'))) {
        let at = from + offset;
        from = at + 1;
        let mark = text.get(at..at + 4)?;
        if !mark.eq_ignore_ascii_case(b"prc_") {
            continue;
        }
        let kind = text[at + 4..].iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let underscore = at + 4 + kind;
        if !KIND_LETTERS.contains(&kind) || text.get(underscore) != Some(&b'_') {
            continue;
        }
        let body_start = underscore + 1;
        let body = text[body_start..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if body >= MIN_BODY {
            return Some(Found { body_start, end: body_start + body });
        }
    }
    None
}

/// Whether `text` holds anything shaped like an access token.
pub fn contains_token(text: &str) -> bool {
    find(text.as_bytes(), 0).is_some()
}

/// `text` with the random part of every token-shaped string replaced by
/// `[redacted]` (the prefix stays, so a reader still sees what was there).
/// Borrows when there is nothing to cut, which is almost always.
pub fn redact(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let Some(mut found) = find(bytes, 0) else { return Cow::Borrowed(text) };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    loop {
        // Both ends sit next to ASCII bytes, so they are char boundaries.
        out.push_str(&text[copied..found.body_start]);
        out.push_str("[redacted]");
        copied = found.end;
        match find(bytes, found.end) {
            Some(next) => found = next,
            None => break,
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// [`redact`] for an owned string, reusing it when nothing is cut.
pub fn redact_owned(text: String) -> String {
    match redact(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(cut) => cut,
    }
}

/// [`redact`] for every string inside a JSON value (audit details).
pub fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if contains_token(s) {
                *s = redact(s).into_owned();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(fields) => {
            // Keys too (a run's tags are free text on both sides).
            if fields.keys().any(|k| contains_token(k)) {
                let taken = std::mem::take(fields);
                fields.extend(taken.into_iter().map(|(k, v)| (redact(&k).into_owned(), v)));
            }
            fields.values_mut().for_each(redact_json)
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAT: &str = "prc_pat_X6HjZofxIOAcX4Je8vJeANPue9UqrwRZ0NF9IO";

    #[test]
    fn cuts_the_random_part_of_every_token_shaped_string() {
        assert_eq!(redact(&format!("unknown permission \"{PAT}\"")), "unknown permission \"prc_pat_[redacted]\"");
        assert_eq!(redact("prc_key_abcdefgh and prc_pat_ and prc_x"), "prc_key_[redacted] and prc_pat_ and prc_x");
        assert_eq!(redact(&format!("/api?token={PAT}&x={PAT}")), "/api?token=prc_pat_[redacted]&x=prc_pat_[redacted]");
        // Lower-cased (the login form's email field) and upper-cased too.
        assert_eq!(redact(&PAT.to_lowercase()), "prc_pat_[redacted]");
        assert_eq!(redact(&PAT.to_uppercase()), "PRC_PAT_[redacted]");
        // Kinds to come are covered by the shape.
        assert_eq!(redact("prc_oidc_abcdefgh12"), "prc_oidc_[redacted]");
        assert_eq!(redact("xprc_key_abcdefgh!"), "xprc_key_[redacted]!");
    }

    #[test]
    fn leaves_everything_else_alone() {
        for text in
            ["nothing here", "é prc_pat_short", "prc_", "prc_p_abcdefghij", "prc_toolongkind_abcdefghij", "p", ""]
        {
            assert!(matches!(redact(text), Cow::Borrowed(t) if t == text), "{text}");
            assert!(!contains_token(text), "{text}");
        }
        assert!(contains_token(&format!("Ci {PAT}")));
    }

    #[test]
    fn json_strings_are_cut_wherever_they_nest() {
        let mut value = serde_json::json!({"name": PAT, "list": [1, {"deep": format!("a {PAT}")}], "n": 3, PAT: "k"});
        redact_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"name": "prc_pat_[redacted]", "list": [1, {"deep": "a prc_pat_[redacted]"}], "n": 3,
                               "prc_pat_[redacted]": "k"})
        );
    }
}
