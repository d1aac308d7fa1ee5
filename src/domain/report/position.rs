//! Buffered report input that validates UTF-8 as bytes arrive and knows the line and column of the next unread byte.
//!
//! quick-xml reports byte offsets, and by the time it notices a problem the
//! bytes may be long gone from any buffer we could rescan. So this reader
//! counts lines and columns itself: lazily, in bulk, just before consumed
//! bytes are dropped from its buffer (counting on every small `consume`
//! cost a tenth of the parse). The XML driver [`Input::mark`]s the start of
//! each token; the position of the mark is kept even if the token is longer
//! than the buffer, so errors can be reported where the token began.
//!
//! UTF-8 is validated here rather than left to quick-xml so that the error
//! points at the offending byte itself, and so that everything handed out by
//! [`BufRead::fill_buf`] is known-good text that never ends inside a
//! multi-byte character.

use std::io::{self, BufRead, Read};

/// Enough to amortise reads; a chunk is never held longer than one token.
const CHUNK: usize = 64 * 1024;

/// A 1-based (line, column) pair; columns count characters.
pub(super) type Pos = (u64, u64);

/// Anything that can turn an absolute offset into a position; lets error
/// paths locate themselves without knowing the reader's type.
pub(super) trait Locate {
    fn position_at(&self, offset: u64) -> Pos;
}

impl<R: Read> Locate for Input<R> {
    fn position_at(&self, offset: u64) -> Pos {
        Input::position_at(self, offset)
    }
}

/// A token's start: where errors about it are reported.
#[derive(Clone, Copy)]
pub(super) struct Here<'a> {
    pub(super) input: &'a dyn Locate,
    pub(super) offset: u64,
}

impl Here<'_> {
    pub(super) fn pos(&self) -> Pos {
        self.input.position_at(self.offset)
    }
}

/// The payload of the `io::Error` returned at the first byte that cannot
/// be text: invalid UTF-8, or a NUL, which XML 1.0 allows nowhere (not even
/// as `&#0;`) and which C-based readers of stored text take for its end.
#[derive(Debug)]
pub(super) struct InvalidUtf8 {
    pub(super) message: &'static str,
    pub(super) line: u64,
    pub(super) column: u64,
}

pub(super) const NOT_UTF8: &str = "invalid UTF-8";
pub(super) const NUL: &str = "a NUL character (U+0000), which XML does not allow";

impl std::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {}, column {}", self.message, self.line, self.column)
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Finds our [`InvalidUtf8`] inside an I/O error, if that is what it is.
pub(super) fn invalid_utf8(e: &io::Error) -> Option<&InvalidUtf8> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<InvalidUtf8>())
}

pub(super) struct Input<R> {
    inner: R,
    buf: Vec<u8>,
    /// First unconsumed byte.
    start: usize,
    /// End of the bytes known to be valid UTF-8.
    valid: usize,
    /// End of the bytes read from `inner`.
    end: usize,
    eof: bool,
    /// The byte at `valid` starts an invalid (or truncated) UTF-8 sequence,
    /// or is a NUL (`bad_is_nul`).
    bad_utf8: bool,
    bad_is_nul: bool,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// `buf` index up to which lines are counted; never beyond `start`.
    counted: usize,
    /// Line and column at `counted`.
    line: u64,
    column: u64,
    /// Absolute offset of the current token, and its position once the
    /// bytes before it had to be dropped.
    mark: u64,
    mark_pos: Option<Pos>,
}

impl<R: Read> Input<R> {
    pub(super) fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0; CHUNK],
            start: 0,
            valid: 0,
            end: 0,
            eof: false,
            bad_utf8: false,
            bad_is_nul: false,
            base: 0,
            counted: 0,
            line: 1,
            column: 1,
            mark: 0,
            mark_pos: None,
        }
    }

    /// Absolute offset of the next unconsumed byte.
    pub(super) fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Remembers the next unconsumed byte as the start of a token and
    /// returns its offset, for [`Self::position_at`].
    pub(super) fn mark(&mut self) -> u64 {
        self.mark = self.offset();
        self.mark_pos = None;
        self.mark
    }

    /// Line and column of the next unconsumed byte.
    pub(super) fn position(&self) -> Pos {
        self.position_at(self.offset())
    }

    /// Line and column of `offset`, which must be the mark or not yet
    /// consumed past the last refill (errors are only reported there).
    pub(super) fn position_at(&self, offset: u64) -> Pos {
        if let (true, Some(pos)) = (offset == self.mark, self.mark_pos) {
            return pos;
        }
        let counted = (self.line, self.column);
        match offset.checked_sub(self.base + self.counted as u64) {
            Some(ahead) if self.counted + ahead as usize <= self.valid => {
                advance(counted, &self.buf[self.counted..self.counted + ahead as usize])
            }
            // Not reachable by the parsers; the last known position is the
            // best answer left.
            _ => counted,
        }
    }

    /// At least `n` bytes of validated input unless the input ends (or turns
    /// invalid) sooner; an empty slice means end of input.
    pub(super) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.valid - self.start < n && !self.eof && !self.bad_utf8 {
            self.refill()?;
        }
        if self.valid == self.start && self.bad_utf8 {
            return Err(self.utf8_error());
        }
        Ok(&self.buf[self.start..self.valid])
    }

    /// Whether the input starts with a UTF-16 byte order mark, which would
    /// otherwise only show up as invalid UTF-8.
    pub(super) fn starts_with_utf16_bom(&mut self) -> io::Result<bool> {
        while self.end - self.start < 2 && !self.eof {
            self.refill()?;
        }
        Ok(matches!(self.buf[self.start..self.end], [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..]))
    }

    fn utf8_error(&self) -> io::Error {
        // The consumer is at the bad byte: everything before it was handed out.
        let (line, column) = self.position();
        let message = if self.bad_is_nul { NUL } else { NOT_UTF8 };
        io::Error::new(io::ErrorKind::InvalidData, InvalidUtf8 { message, line, column })
    }

    /// Reads more bytes and extends the validated region as far as possible.
    fn refill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            // Count what is about to be dropped, stopping at the mark to
            // remember its position on the way.
            if self.mark_pos.is_none() && self.mark <= self.offset() {
                self.mark_pos = Some(self.position_at(self.mark));
            }
            let (line, column) = advance((self.line, self.column), &self.buf[self.counted..self.start]);
            (self.line, self.column) = (line, column);
            self.base += self.start as u64;
            self.counted = 0;
            // Keep unconsumed bytes at the front so the buffer never grows.
            self.buf.copy_within(self.start..self.end, 0);
            self.valid -= self.start;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only reachable with a multi-byte sequence split by a full
            // buffer of unconsumed bytes, which peek() never asks for.
            self.buf.resize(self.buf.len() + CHUNK, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        let checked = self.valid;
        match std::str::from_utf8(&self.buf[self.valid..self.end]) {
            Ok(_) => self.valid = self.end,
            Err(e) => {
                self.valid += e.valid_up_to();
                // A sequence cut by the read boundary is fine until the input ends.
                if e.error_len().is_some() || self.eof {
                    self.bad_utf8 = true;
                }
            }
        }
        if let Some(nul) = self.buf[checked..self.valid].iter().position(|&b| b == 0) {
            self.valid = checked + nul;
            self.bad_utf8 = true;
            self.bad_is_nul = true;
        }
        Ok(())
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.peek(1)
    }

    fn consume(&mut self, amt: usize) {
        // Lines are counted later, in bulk (see refill).
        self.start += amt.min(self.valid - self.start);
    }
}

/// The position just after `bytes`, which start at `pos`.
pub(super) fn advance(pos: Pos, bytes: &[u8]) -> Pos {
    let newlines = count(bytes, |b| b == b'\n');
    if newlines == 0 {
        return (pos.0, pos.1 + count_chars(bytes));
    }
    let last = bytes.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    (pos.0 + newlines, 1 + count_chars(&bytes[last + 1..]))
}

/// Characters in valid UTF-8: every byte that is not a continuation byte.
fn count_chars(bytes: &[u8]) -> u64 {
    count(bytes, |b| (b as i8) >= -0x40)
}

/// Bytes matching `pred`. Runs over every byte of the input: counting in
/// byte-wide lanes (at most 255 per block) lets the compiler compare 16 or
/// 32 bytes per instruction instead of widening each match to 64 bits.
fn count(bytes: &[u8], pred: impl Fn(u8) -> bool) -> u64 {
    bytes.chunks(255).map(|block| block.iter().fold(0u8, |n, &b| n + u8::from(pred(b))) as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, to split everything.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || out.is_empty() {
                return Ok(0);
            }
            out[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn counts_lines_and_characters() {
        let mut input = Input::new(Trickle("ab\ncé€\r\nx".as_bytes()));
        let mut seen = Vec::new();
        loop {
            let chunk = input.fill_buf().expect("valid input").to_vec();
            if chunk.is_empty() {
                break;
            }
            seen.extend_from_slice(&chunk);
            input.consume(chunk.len());
            if seen == "ab\ncé€".as_bytes() {
                assert_eq!(input.position(), (2, 4));
            }
        }
        assert_eq!(seen, "ab\ncé€\r\nx".as_bytes());
        assert_eq!(input.position(), (3, 2));
    }

    #[test]
    fn the_mark_survives_refills() {
        let text = format!("a\nb{}\n", "é".repeat(100_000));
        let mut input = Input::new(text.as_bytes());
        assert!(input.fill_buf().expect("valid").len() > 2);
        input.consume(2);
        let mark = input.mark();
        loop {
            let n = input.fill_buf().expect("valid").len();
            if n == 0 {
                break;
            }
            input.consume(n);
        }
        assert_eq!(input.position_at(mark), (2, 1));
        assert_eq!(input.position(), (3, 1));
        assert_eq!(input.offset(), text.len() as u64);
    }

    #[test]
    fn reports_invalid_utf8_at_the_bad_byte() {
        let mut input = Input::new(Trickle(b"ok\nab\xffcd"));
        let mut read = 0;
        let err = loop {
            match input.fill_buf() {
                Ok(chunk) => {
                    let n = chunk.len();
                    assert!(n > 0, "must not reach the end");
                    read += n;
                    input.consume(n);
                }
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(read, 5);
        let at = invalid_utf8(&err).expect("our error");
        assert_eq!((at.line, at.column), (2, 3));
    }

    #[test]
    fn truncated_sequence_at_end_is_invalid() {
        let mut input = Input::new(&b"a\xe2\x82"[..]);
        assert_eq!(input.fill_buf().expect("first byte"), b"a");
        input.consume(1);
        assert!(input.fill_buf().is_err());
    }

    #[test]
    fn peek_spans_read_boundaries() {
        let mut input = Input::new(Trickle(b"<![CDATA[x]]>"));
        assert_eq!(input.peek(9).expect("peek"), b"<![CDATA[");
        input.consume(9);
        assert_eq!(input.peek(100).expect("peek"), b"x]]>");
    }
}
