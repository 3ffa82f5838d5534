//! Entry points for the cargo-fuzz targets in `server/fuzz/`, kept in the library so the
//! inputs the fuzzers found are replayed by ordinary `cargo test` as regression tests.
//! Each takes any text and must return without panicking.

use serde_json::{Value, json};

use super::Env;
use super::intrinsics::{Call, looks_like_call};
use super::path::{Path, ReferencePath, Sources};
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
        let _ = path.select(&input, Sources::context_only(&context));
    }
    if let Ok(path) = ReferencePath::parse(expression) {
        let _ = path.get(&input, Sources::context_only(&context));
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

/// Which entry point a generated input is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// [`definition`].
    Definition,
    /// [`expression`].
    Expression,
}

/// The shapes [`deep_input`] can nest.
pub const DEEP_SHAPES: u8 = 9;

/// Deep nesting of one kind, for the parsers' depth limits: `shape` picks what nests
/// (JSON arrays or objects as an input or inside a definition, filter parentheses, path
/// brackets, intrinsic calls, payload templates, Choice rules), `depth` how deep, and
/// `filler` sits at the bottom. The fuzz target `deep` drives it with the fuzzer's bytes;
/// the tests below sweep the depths around each limit.
pub fn deep_input(shape: u8, depth: usize, filler: &str) -> (Entry, String) {
    let filler = serde_json::to_string(filler).unwrap_or_default();
    let repeat = |open: &str, inner: &str, close: &str| {
        format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
    };
    let state = |body: String| {
        format!(r#"{{"StartAt":"S","States":{{"S":{body},"D":{{"Type":"Succeed"}}}}}}"#)
    };
    match shape % DEEP_SHAPES {
        0 => (
            Entry::Expression,
            format!("$.a\n{}", repeat("[", &filler, "]")),
        ),
        1 => (
            Entry::Expression,
            format!("$.a\n{}", repeat(r#"{"a":"#, &filler, "}")),
        ),
        2 => (
            Entry::Expression,
            format!(
                "$.a[?{}@.b > 1{}]\n{{}}",
                "(".repeat(depth),
                ")".repeat(depth)
            ),
        ),
        3 => (Entry::Expression, format!("${}", repeat("[", "0", "]"))),
        4 => (
            Entry::Expression,
            repeat("States.Array(", "$.a", ")") + "\n{\"a\": 1}",
        ),
        5 => (
            Entry::Definition,
            state(format!(
                r#"{{"Type":"Pass","Result":{},"End":true}}"#,
                repeat("[", &filler, "]")
            )),
        ),
        6 => (
            Entry::Definition,
            state(format!(
                r#"{{"Type":"Pass","Parameters":{},"End":true}}"#,
                repeat(r#"{"k":"#, &filler, "}")
            )),
        ),
        7 => (
            Entry::Definition,
            state(format!(
                r#"{{"Type":"Choice","Default":"D","Choices":[{{"Next":"D",{}}}]}}"#,
                repeat(r#""Not":{"#, r#""Variable":"$.a","IsPresent":true"#, "}")
            )),
        ),
        _ => (
            Entry::Definition,
            state(format!(
                r#"{{"Type":"Pass","InputPath":"$.a[?{}@.b{}]","End":true}}"#,
                "(".repeat(depth),
                ")".repeat(depth)
            )),
        ),
    }
}

/// Runs a [`deep_input`] through its entry point.
pub fn deep(shape: u8, depth: usize, filler: &str) {
    match deep_input(shape, depth, filler) {
        (Entry::Definition, text) => definition(&text),
        (Entry::Expression, text) => expression(&text),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The files of `server/fuzz/<dir>/<target>/`, as bytes.
    fn raw_inputs(dir: &str, target: &str) -> Vec<Vec<u8>> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(dir)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&path) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    }

    /// The files of `server/fuzz/<dir>/<target>/` as text, each replayed through the target.
    fn inputs(dir: &str, target: &str) -> Vec<String> {
        raw_inputs(dir, target)
            .into_iter()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect()
    }

    #[test]
    fn the_fuzzers_seeds_and_every_input_they_crashed_on_run_cleanly() {
        let mut replayed = 0;
        for dir in ["seeds", "regressions"] {
            for text in inputs(dir, "definition") {
                super::definition(&text);
                replayed += 1;
            }
            for text in inputs(dir, "expression") {
                super::expression(&text);
                replayed += 1;
            }
            // As the `deep` target reads its bytes: shape, depth (u16), filler.
            for data in raw_inputs(dir, "deep").into_iter().filter(|d| d.len() >= 3) {
                let depth = u16::from_le_bytes([data[1], data[2]]) as usize;
                super::deep(data[0], depth, &String::from_utf8_lossy(&data[3..]));
                replayed += 1;
            }
        }
        assert!(replayed >= 47, "the seed corpora are there: {replayed}");
    }

    #[test]
    fn every_parser_refuses_deep_nesting_without_exhausting_a_small_stack() {
        // Half the stack of a Tokio worker thread, in a debug build: every depth of every
        // shape must be parsed or refused within it.
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(|| {
                for shape in 0..super::DEEP_SHAPES {
                    for depth in [
                        0, 1, 10, 31, 32, 33, 99, 100, 101, 127, 128, 129, 1_000, 10_000, 100_000,
                    ] {
                        super::deep(shape, depth, "leaf");
                    }
                }
            })
            .unwrap()
            .join()
            .expect("no shape at any depth overflows the stack");
    }
}
