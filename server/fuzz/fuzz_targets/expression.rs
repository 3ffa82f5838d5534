//! Any bytes as "expression, newline, JSON input": paths, reference paths and intrinsic
//! calls must parse or be refused, and evaluate or fail, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        stepwise_server::asl::fuzzing::expression(text);
    }
});
