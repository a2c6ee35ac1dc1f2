//! See `minga_protocol::fuzzing::invite`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minga_protocol::fuzzing::invite(data));
