//! Entry points for the cargo-fuzz targets in `server/fuzz/`, kept in the library so the
//! inputs the fuzzers found are replayed by ordinary `cargo test` as regression tests.
//! Each takes any text and must return without panicking.

use serde_json::{Value, json};

use super::Env;
use super::intrinsics::{Call, looks_like_call};
use super::path::{Path, ReferencePath};
use super::random::SeededRandom;
use super::template::Template;

/// Parses and validates `text` as a definition; a valid one is also validated again
/// from its own re-serialised JSON (what the store keeps must read back).
pub fn definition(text: &str) {
    if super::parse(text).is_ok()
        && let Ok(value) = serde_json::from_str::<Value>(text)
    {
        let _ = super::parse(&value.to_string());
    }
}

/// Reads `text` as an expression, a newline and a JSON input (null when it is not JSON),
/// and runs the expression as a path, a reference path (get and set), an intrinsic call
/// and a payload template field.
pub fn expression(text: &str) {
    let (expression, input) = text.split_once('\n').unwrap_or((text, ""));
    let input: Value = serde_json::from_str(input).unwrap_or(Value::Null);
    let context =
        json!({"Execution": {"Id": "arn", "Input": input.clone()}, "State": {"Name": "S"}});
    let mut random = SeededRandom::new(7);
    if let Ok(path) = Path::parse(expression) {
        let _ = path.select(&input, &context);
    }
    if let Ok(path) = ReferencePath::parse(expression) {
        let _ = path.get(&input, &context);
        let _ = path.set(input.clone(), json!("set"));
    }
    if looks_like_call(expression)
        && let Ok(call) = Call::parse(expression)
    {
        let _ = call.evaluate(&input, &mut Env::new(&context, &mut random));
    }
    if let Ok(template) = Template::parse(&json!({ "field.$": expression })) {
        let _ = template.evaluate(&input, &mut Env::new(&context, &mut random));
    }
}
