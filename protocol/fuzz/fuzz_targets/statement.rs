//! See `minga_protocol::fuzzing::statement`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_protocol::fuzzing::statement(data));
