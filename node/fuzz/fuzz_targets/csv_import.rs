//! See `minga_node::fuzzing::csv_import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_node::fuzzing::csv_import(data));
