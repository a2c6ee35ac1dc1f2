//! See `minga_node::fuzzing::sync_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_node::fuzzing::sync_frame(data));
