//! Parsing floor for the ingestion benchmark (`bench/ingest.sh`): times a raw
//! quick-xml event scan (every Start/Empty event, no attribute decoding) and
//! Proctor's own streaming JUnit parser on the same in-memory file, best of 5.
//!
//!     PROCTOR_BENCH_FILE=report.xml cargo bench --bench parse
//!
//! Prints human lines and, for the script, `RESULT <name> <seconds> <testcases>`.

use std::time::{Duration, Instant};

use proctor::domain::report::{parse, Limits, ReportFormat};
use quick_xml::events::Event;
use quick_xml::Reader;

const RUNS: usize = 5;

fn best_of<F: FnMut() -> u64>(mut f: F) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut cases = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        cases = f();
        best = best.min(started.elapsed());
    }
    (best, cases)
}

/// Counts Start/Empty events (and, among them, `<testcase>`s).
fn raw_scan(bytes: &[u8]) -> (u64, u64) {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::with_capacity(4096);
    let (mut events, mut cases) = (0u64, 0u64);
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                events += 1;
                if e.local_name().into_inner() == "testcase" {
                    cases += 1;
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at {}: {e}", reader.buffer_position()),
        }
        buf.clear();
    }
    (events, cases)
}

fn report(name: &str, took: Duration, cases: u64) {
    let secs = took.as_secs_f64();
    println!("{name:<22} {:>9.1} ms  {:>12.0} testcases/s", secs * 1000.0, cases as f64 / secs);
    println!("RESULT {name} {secs:.6} {cases}");
}

fn main() {
    let Ok(path) = std::env::var("PROCTOR_BENCH_FILE") else {
        println!("set PROCTOR_BENCH_FILE to a JUnit file (bench/gen_junit.py writes one); nothing to do");
        return;
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    println!("{path}: {} bytes, best of {RUNS}", bytes.len());

    let mut events = 0;
    let (took, cases) = best_of(|| {
        let (e, c) = raw_scan(&bytes);
        events = e;
        c
    });
    println!("raw scan: {events} Start/Empty events");
    report("raw_scan", took, cases);

    let limits = Limits::default();
    let (took, cases) = best_of(|| {
        let mut n = 0u64;
        parse(ReportFormat::JUnit, &bytes[..], &limits, |case| {
            std::hint::black_box(&case);
            n += 1;
            Ok::<(), ()>(())
        })
        .expect("valid report");
        n
    });
    report("proctor_parser", took, cases);
}
