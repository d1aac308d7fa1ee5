//! Every query string and form of the pages, read as their extractors and
//! handlers read them (`routes::ui::fuzzing::read_all`, which checks the
//! readers' promises as it goes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| proctor::routes::ui::fuzzing::read_all(data));
