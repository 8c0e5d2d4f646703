//! `cargo fuzz run json_body`: see `session_shared::http::fuzzing::check_json_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    session_shared::http::fuzzing::check_json_body(data);
});
