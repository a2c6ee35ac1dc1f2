//! See `minga_protocol::fuzzing::entry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_protocol::fuzzing::entry(data));
