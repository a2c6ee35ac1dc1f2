//! See `minga_node::fuzzing::view_layout`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_node::fuzzing::view_layout(data));
