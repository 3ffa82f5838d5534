//! Deep nesting of every kind the parsers meet (JSON, filter parentheses, path brackets,
//! intrinsic calls, templates, Choice rules): the first byte picks the shape, the next
//! two the depth (up to 65,535), the rest is what sits at the bottom. Every input must be
//! parsed or refused, never overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let depth = u16::from_le_bytes([data[1], data[2]]) as usize;
    let filler = String::from_utf8_lossy(&data[3..]);
    stepwise_server::asl::fuzzing::deep(data[0], depth, &filler);
});
