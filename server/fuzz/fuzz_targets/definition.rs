//! Any bytes as a state machine definition: parsing and validating must return a
//! machine or diagnostics, never panic, overflow the stack or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        stepwise_server::asl::fuzzing::definition(text);
    }
});
