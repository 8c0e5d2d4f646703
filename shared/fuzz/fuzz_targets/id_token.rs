//! `cargo fuzz run id_token`: see `session_shared::http::fuzzing::check_id_token`.
#![no_main]

use std::sync::OnceLock;

use session_shared::http::fuzzing;
use session_shared::identity::IdTokenVerifier;

fn setup() -> &'static (tokio::runtime::Runtime, IdTokenVerifier) {
    static SETUP: OnceLock<(tokio::runtime::Runtime, IdTokenVerifier)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        (runtime, fuzzing::ticket_verifier())
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (runtime, verifier) = setup();
    runtime.block_on(fuzzing::check_id_token(verifier, data));
});
