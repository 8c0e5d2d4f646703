//! `cargo fuzz run authorization_header`: see `session_shared::http::fuzzing::check_authorization_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    session_shared::http::fuzzing::check_authorization_header(data);
});
