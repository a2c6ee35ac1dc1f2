//! See `minga_protocol::fuzzing::sync_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_protocol::fuzzing::sync_message(data));
