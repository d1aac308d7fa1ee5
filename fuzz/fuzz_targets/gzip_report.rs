//! An upload read the way ingestion reads it (`ops::ingest::read_upload`:
//! gunzip under the size cap, hash, parse, redact, derive test ids), all
//! but the database. The first byte says how: bit 0 the format (JUnit,
//! CTRF); bit 1 whether the rest is sent as the gzip stream it may or may
//! not be, or compressed here and read both gzipped and plain (which must
//! agree); bits 2-3 the cap on the decompressed size.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use proctor::db::runs::Counts;
use proctor::domain::report::{ReportFormat, TestCase};
use proctor::domain::secrets::contains_token;
use proctor::domain::test_identity::TestKey;
use proctor::ops::ingest::{read_upload, Distinct, Upload};
use proctor::ops::{OpsError, Refusal};
use sha2::{Digest, Sha256};

/// What reading an upload came to, comparable.
#[derive(Debug, PartialEq)]
struct Read {
    sha256: Vec<u8>,
    bytes: u64,
    counts: Counts,
    warnings: Vec<String>,
    cases: Vec<(TestKey, TestCase)>,
}

fn read(bytes: &[u8], format: ReportFormat, gzip: bool, max_bytes: u64) -> Result<Read, Refusal> {
    let upload = Upload { body: Box::new(bytes), len: bytes.len() as u64, format, gzip, max_bytes };
    let mut cases = Vec::new();
    let parsed = read_upload(7, upload, Distinct::Counted, |key, case| {
        cases.push((key, case));
        Ok(())
    });
    match parsed {
        Ok(p) => {
            let counts = p.counts.expect("counted while reading");
            Ok(Read { sha256: p.sha256, bytes: p.bytes, counts, warnings: p.warnings, cases })
        }
        // A bad upload is refused for what it is, never as anything else.
        Err(OpsError::Refused(r @ (Refusal::InvalidReport(_) | Refusal::ReportTooLarge { .. }))) => Err(r),
        Err(other) => panic!("an upload was refused as {other:?}"),
    }
}

/// What any accepted upload promises.
fn check(read: &Read, max_bytes: u64) {
    assert!(read.bytes <= max_bytes, "{} bytes read under a cap of {max_bytes}", read.bytes);
    let c = &read.counts;
    assert_eq!(c.passed + c.failed + c.errors + c.skipped + c.flaky, c.tests);
    assert!(c.tests as usize <= read.cases.len());
    assert_eq!(c.quarantined, 0);
    for (_, case) in &read.cases {
        for text in [&case.message, &case.details].into_iter().flatten() {
            assert!(!contains_token(text), "a token survived redaction: {text:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, body)) = data.split_first() else { return };
    let format = if how & 1 == 0 { ReportFormat::JUnit } else { ReportFormat::Ctrf };
    let len = body.len() as u64;
    let max_bytes = match (how >> 2) & 3 {
        0 => 50 << 20,
        1 => len,
        2 => len.saturating_sub(1),
        _ => u64::from(how >> 4) * 64,
    };
    if how & 2 != 0 {
        if let Ok(read) = read(body, format, true, max_bytes) {
            check(&read, max_bytes);
        }
        return;
    }
    let plain = read(body, format, false, max_bytes);
    if let Ok(read) = &plain {
        check(read, max_bytes);
        assert_eq!(read.bytes, len, "an accepted report was not read to its end");
        assert_eq!(read.sha256, Sha256::digest(body).to_vec());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).expect("writing to a Vec");
    let gz = gz.finish().expect("writing to a Vec");
    let zipped = read(&gz, format, true, max_bytes);
    if len <= max_bytes {
        assert_eq!(plain, zipped, "the report read differently gzipped");
    } else {
        // Too large is never accepted, whatever else is wrong with it.
        assert!(plain.is_err() && zipped.is_err(), "{len} bytes accepted under a cap of {max_bytes}");
    }
});
