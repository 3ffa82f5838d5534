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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The files of `server/fuzz/<dir>/<target>/`, each replayed through the target.
    fn inputs(dir: &str, target: &str) -> Vec<(PathBuf, String)> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(dir)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&path) else {
            return Vec::new();
        };
        let mut files: Vec<(PathBuf, String)> = entries
            .map(|entry| entry.unwrap().path())
            .map(|file| {
                let bytes = std::fs::read(&file).unwrap();
                (file, String::from_utf8_lossy(&bytes).into_owned())
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_fuzzers_seeds_and_every_input_they_crashed_on_run_cleanly() {
        let mut replayed = 0;
        for dir in ["seeds", "regressions"] {
            for (_, text) in inputs(dir, "definition") {
                super::definition(&text);
                replayed += 1;
            }
            for (_, text) in inputs(dir, "expression") {
                super::expression(&text);
                replayed += 1;
            }
        }
        assert!(replayed >= 20, "the seed corpora are there: {replayed}");
    }
}
