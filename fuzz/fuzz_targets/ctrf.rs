//! The CTRF JSON parser (`domain::report`) on arbitrary bytes: never a
//! panic, the same result however the bytes arrive, and the caps kept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proctor::domain::report::ReportFormat;

fuzz_target!(|data: &[u8]| proctor_fuzz::check_report(ReportFormat::Ctrf, data));
