//! Small text helpers shared by the parsers: capped accumulation, truncation at char boundaries, durations.

/// A text accumulator that stops storing at its cap but accepts (and drops)
/// everything after it, so a 1 GB `system-out` costs at most `cap` bytes.
///
/// Line ends are normalised as XML requires (`\r\n` and lone `\r` become
/// `\n`) and leading whitespace is never stored, because every consumer
/// trims it anyway and it would otherwise eat into the cap.
#[derive(Debug, Default)]
pub(super) struct Capped {
    bytes: Vec<u8>,
    cap: usize,
    /// The last byte pushed was `\r`: a following `\n` belongs to it.
    after_cr: bool,
}

impl Capped {
    pub(super) fn new(cap: usize) -> Self {
        Capped { bytes: Vec::new(), cap, after_cr: false }
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.after_cr = false;
    }

    /// Appends a piece of valid UTF-8 (pieces may split a character; the
    /// concatenation must be valid).
    pub(super) fn push(&mut self, mut piece: &[u8]) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = piece.strip_prefix(b"\n") {
                piece = rest;
            }
        }
        if self.bytes.is_empty() {
            let skip = piece.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(piece.len());
            piece = &piece[skip..];
        }
        let room = self.cap.saturating_sub(self.bytes.len());
        if piece.is_empty() || room == 0 {
            return;
        }
        if !piece.contains(&b'\r') {
            self.bytes.extend_from_slice(&piece[..piece.len().min(room)]);
            return;
        }
        let mut iter = piece.iter().peekable();
        while let Some(&b) = iter.next() {
            if self.bytes.len() == self.cap {
                return;
            }
            if b == b'\r' {
                self.bytes.push(b'\n');
                match iter.peek() {
                    Some(b'\n') => {
                        iter.next();
                    }
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            } else {
                self.bytes.push(b);
            }
        }
    }

    /// The text so far with surrounding whitespace trimmed, cut back to a
    /// char boundary if the cap split a character.
    pub(super) fn as_str(&self) -> &str {
        let valid = match std::str::from_utf8(&self.bytes) {
            Ok(s) => s,
            // Only a character cut by the cap can be invalid here.
            Err(e) => std::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap_or(""),
        };
        valid.trim()
    }
}

/// Cuts `s` to at most `max` bytes without splitting a character.
pub(super) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let end = s.floor_char_boundary(max);
        s.truncate(end);
    }
}

/// `s` cut to at most `max` bytes without splitting a character.
pub(super) fn truncated(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

/// The first line of `text` that is not blank, trimmed.
pub(super) fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// A trimmed, capped copy, or `None` when nothing is left.
pub(super) fn non_empty(s: &str, max: usize) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| truncated(s, max).to_owned())
}

/// Parses a JUnit `time` (seconds as a decimal) into whole milliseconds.
///
/// Tolerates surrounding spaces and thousands separators ("1,234.5"); a
/// lone comma with other than three digits after it is read as a decimal
/// comma ("0,25"), as some locales write it. Missing, unparsable, negative
/// or absurd values give `None` rather than an error: a bad duration is no
/// reason to drop a test result.
pub(super) fn parse_seconds(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let secs: f64 = if !raw.contains(',') {
        raw.parse().ok()?
    } else {
        let groups: Vec<&str> = raw.split(',').collect();
        // "1,234" groups thousands; "0,250" cannot, so it is a decimal comma.
        let lead = groups[0];
        let thousands = raw.contains('.')
            || ((1..=3).contains(&lead.len()) && !lead.starts_with('0') && groups[1..].iter().all(|g| g.len() == 3));
        if thousands {
            raw.replace(',', "").parse().ok()?
        } else if groups.len() == 2 {
            raw.replace(',', ".").parse().ok()?
        } else {
            return None;
        }
    };
    millis(secs * 1000.0)
}

/// Rounds a millisecond count; `None` for negative, NaN or out-of-range.
pub(super) fn millis(ms: f64) -> Option<u64> {
    // 2^53 ms is ~285,000 years; anything above is garbage, not a duration.
    (0.0..9.0e15).contains(&ms).then(|| ms.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_normalises_and_stops_at_the_cap() {
        let mut c = Capped::new(8);
        c.push(b"  \n a\r");
        c.push(b"\nb\rc");
        assert_eq!(c.as_str(), "a\nb\nc");
        c.push("défghijk".as_bytes());
        // "a\nb\nc" is 5 bytes, "dé" is 3 more: the cap is exactly reached.
        assert_eq!(c.as_str(), "a\nb\ncdé");
        let mut split = Capped::new(2);
        split.push("é€".as_bytes());
        assert_eq!(split.as_str(), "é");
        let mut cut = Capped::new(3);
        cut.push("a€".as_bytes());
        assert_eq!(cut.as_str(), "a");
    }

    #[test]
    fn truncates_at_char_boundaries() {
        let mut s = String::from("aé€");
        truncate(&mut s, 5);
        assert_eq!(s, "aé");
        assert_eq!(truncated("aé€", 2), "a");
        assert_eq!(truncated("abc", 10), "abc");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_seconds("0.0015"), Some(2));
        assert_eq!(parse_seconds(" 1.2344 "), Some(1234));
        assert_eq!(parse_seconds("1,234.5"), Some(1_234_500));
        assert_eq!(parse_seconds("1,234"), Some(1_234_000));
        assert_eq!(parse_seconds("0,25"), Some(250));
        assert_eq!(parse_seconds("0,250"), Some(250));
        assert_eq!(parse_seconds("12"), Some(12_000));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("<<computed>>"), None);
        assert_eq!(parse_seconds("NaN"), None);
        assert_eq!(parse_seconds("inf"), None);
        assert_eq!(parse_seconds("1e300"), None);
        assert_eq!(parse_seconds("1,2,3"), None);
    }

    #[test]
    fn finds_the_first_non_blank_line() {
        assert_eq!(first_line("\n  \n  x y \nz"), Some("x y"));
        assert_eq!(first_line(" \n "), None);
    }
}
