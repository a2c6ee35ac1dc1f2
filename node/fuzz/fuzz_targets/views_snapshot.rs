//! See `minga_node::fuzzing::views_snapshot`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_node::fuzzing::views_snapshot(data));
