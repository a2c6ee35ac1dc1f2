//! See `minga_protocol::fuzzing::record_doc`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_protocol::fuzzing::record_doc(data));
