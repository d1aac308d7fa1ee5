//! Reading an upload as ingestion does, without the database: gunzip
//! under the size cap, SHA-256 of the decompressed bytes, the parser, token
//! redaction and test ids, on a thread of its own beside the writer.

use std::collections::HashMap;
use std::io::{BufReader, Read};

use sha2::{Digest, Sha256};

use crate::db::runs::Counts;
use crate::domain::report::{self, Limits, Merged, ParseError, ReportFormat, TestCase};
use crate::domain::secrets::redact_owned;
use crate::domain::test_identity::{test_key, TestKey};
use crate::ops::{OpsError, Refusal};

/// The body of an upload as it arrived.
pub struct Upload<'a> {
    pub body: Box<dyn Read + Send + 'a>,
    /// Its size as received (an empty body is refused).
    pub len: u64,
    pub format: ReportFormat,
    pub gzip: bool,
    /// Cap on the decompressed size.
    pub max_bytes: u64,
}

/// A report read to the end.
#[derive(Debug)]
pub struct Parsed {
    /// SHA-256 of the decompressed bytes.
    pub sha256: Vec<u8>,
    /// Decompressed size.
    pub bytes: u64,
    /// The report's distinct tests by result, when [`Distinct::Counted`].
    pub counts: Option<Counts>,
    /// What the parser read past, as sentences.
    pub warnings: Vec<String>,
}

/// How the report's counts of distinct tests are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distinct {
    /// While reading, in a map of its tests (about 17 bytes each).
    Counted,
    /// Not while reading: they are what the writer adds to a run that held
    /// no results before ([`Parsed::counts`] is `None`).
    Written,
}

/// Cases handed from the parsing thread to the writer at a time: with the
/// channel's 4 and one at each end, at most 1,536 cases in memory (1,024
/// per batch held 2 MB more for no measurable speed).
const BATCH: usize = 256;

/// Parses `upload` on a second thread (decompressing, hashing, parsing and
/// deriving test ids) while this thread hands each case to `store` (SQLite),
/// so the two halves of the work overlap. A bounded channel between them
/// keeps memory flat; when `store` fails, the parser stops at its next batch.
pub(super) fn parse_alongside(
    project_id: i64,
    upload: Upload,
    distinct: Distinct,
    mut store: impl FnMut(&TestKey, &TestCase) -> Result<(), OpsError>,
) -> Result<Parsed, OpsError> {
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<(TestKey, TestCase)>>(4);
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("report-parser".into())
            .spawn_scoped(scope, move || parse_upload(project_id, upload, distinct, send))
            .map_err(OpsError::internal)?;
        let mut stored = Ok(());
        'batches: for batch in &receive {
            for (key, case) in &batch {
                stored = store(key, case);
                if stored.is_err() {
                    break 'batches;
                }
            }
        }
        drop(receive);
        let parsed = parser.join().map_err(|_| OpsError::internal("the report parser panicked"))?;
        stored?;
        parsed
    })
}

/// The parsing thread: reads the whole upload, sending cases in batches.
fn parse_upload(
    project_id: i64,
    upload: Upload,
    distinct: Distinct,
    send: std::sync::mpsc::SyncSender<Vec<(TestKey, TestCase)>>,
) -> Result<Parsed, OpsError> {
    let mut batch = Vec::with_capacity(BATCH);
    let parsed = read_upload(project_id, upload, distinct, |key, case| {
        batch.push((key, case));
        if batch.len() == BATCH {
            // Fails only when the writer stopped; its error is the one reported.
            send.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .map_err(|_| OpsError::internal("the writer stopped"))?;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        send.send(batch).map_err(|_| OpsError::internal("the writer stopped"))?;
    }
    Ok(parsed)
}

/// Reads a whole upload without touching the database: decompresses it
/// (when gzipped) under its size cap, hashes it, parses it, redacts tokens
/// from messages and derives each case's test id, handing the cases to
/// `each` in report order. [`super::ingest`]'s parsing thread runs this; so does
/// the `gzip_report` fuzz target (fuzz/).
pub fn read_upload(
    project_id: i64,
    upload: Upload,
    distinct: Distinct,
    mut each: impl FnMut(TestKey, TestCase) -> Result<(), OpsError>,
) -> Result<Parsed, OpsError> {
    let source: Box<dyn Read + Send + '_> =
        if upload.gzip { Box::new(flate2::read::GzDecoder::new(upload.body)) } else { upload.body };
    let mut input = BufReader::with_capacity(
        64 * 1024,
        Tap { inner: source, max: upload.max_bytes, exceeded: false, hasher: Sha256::new(), total: 0 },
    );
    // The report's counts are of its distinct tests: a test repeated in the
    // report counts once, merged like the run's results. Keyed by the first
    // 64 bits of the test id so a 200,000-test report's map stays a few MB.
    let mut tests: HashMap<u64, Merged> = HashMap::new();
    let parsed = report::parse(upload.format, &mut input, &Limits::default(), |mut case| {
        // A test that prints the CI's environment must not store its token.
        case.message = case.message.map(redact_owned);
        case.details = case.details.map(redact_owned);
        let key = test_key(project_id, &case.suite, &case.classname, &case.name, case.file.as_deref());
        if distinct == Distinct::Counted {
            let short = u64::from_be_bytes([key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7]]);
            tests.entry(short).and_modify(|m| m.add(case.outcome)).or_insert_with(|| Merged::new(case.outcome));
        }
        each(key, case)
    });
    let tap = input.into_inner();
    if tap.exceeded {
        let max = upload.max_bytes;
        return Err(Refusal::ReportTooLarge { max }.into());
    }
    let summary = match parsed {
        Ok(summary) => summary,
        Err(ParseError::Sink(e)) => return Err(e),
        Err(ParseError::Invalid(e)) => return Err(Refusal::InvalidReport(e.to_string()).into()),
    };
    let counts = (distinct == Distinct::Counted).then(|| {
        let mut counts = Counts::default();
        for outcome in tests.into_values().map(Merged::outcome) {
            counts.tests += 1;
            counts.add(outcome, 1);
        }
        counts
    });
    let warnings = summary.warnings.sentences(summary.cases);
    Ok(Parsed { sha256: tap.hasher.finalize().to_vec(), bytes: tap.total, counts, warnings })
}

/// Reads through, hashing and counting, and stops at the size cap.
struct Tap<'a> {
    inner: Box<dyn Read + Send + 'a>,
    max: u64,
    exceeded: bool,
    hasher: Sha256,
    total: u64,
}

impl Read for Tap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| std::io::Error::new(e.kind(), format!("not valid gzip: {e}")))?;
        let total = self.total + n as u64;
        if total > self.max {
            self.exceeded = true;
            return Err(std::io::Error::other("report too large"));
        }
        self.total = total;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
