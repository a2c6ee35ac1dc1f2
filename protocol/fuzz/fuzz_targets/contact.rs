//! See `minga_protocol::fuzzing::contact`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_protocol::fuzzing::contact(data));
