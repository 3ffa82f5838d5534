//! The repository's example workflows (`examples/` at its root) for the unit tests: the
//! same files the README's walk-through runs, read from inside the repository, so a
//! clone with nothing beside it tests on its own.

use serde_json::Value;

/// The text of `examples/NAME`.
pub fn text(name: &str) -> String {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `examples/NAME` as JSON.
pub fn json(name: &str) -> Value {
    serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("examples/{name}: {e}"))
}
