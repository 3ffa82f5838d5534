//! Small facts about JSON values that several parts of the language need: how to name a
//! value's type in an error, when two values are equal, and how big and how deep a
//! payload is.
//!
//! Depth is bounded, not only size: a parser, a serializer or a `Drop` that walks a
//! value recurses once per level, so a value nested deeply enough ends a thread on its
//! stack, and serde_json refuses to read back (128 levels by default) what it wrote
//! without complaint. [`MAX_NESTING`] is the one limit every edge applies (API inputs,
//! task results, definitions) and the engine applies to what it builds.

use serde_json::Value;

/// Names a JSON value's type for error messages ("a string", "an array", ...).
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// JSON equality in which numbers compare by value, so `1` equals `1.0`.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// How deeply JSON may nest (arrays and objects inside one another) wherever it enters
/// Stepwise or a state builds it. Far deeper than real documents go, and far enough
/// below serde_json's own limit (128) and the stack that the levels a stored record adds
/// around a payload, and every recursive walk over it, stay safe. AWS documents no
/// nesting limit; its payload quota (256 KiB) is the other bound.
pub const MAX_NESTING: usize = 100;

/// A payload's size in bytes of JSON text (as AWS measures payloads) and how deeply its
/// arrays and objects nest (`1` is 0, `[]` is 1, `{"a": [1]}` is 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measure {
    /// Bytes of UTF-8 JSON text.
    pub bytes: usize,
    /// The deepest nesting.
    pub depth: usize,
}

/// Follows JSON text byte by byte, without recursion, counting bytes and nesting; it
/// trusts the text to be JSON (brackets inside strings are skipped, nothing else is
/// checked), so text that is not JSON gets a meaningless but finite answer.
#[derive(Default)]
struct Scanner {
    measure: Measure,
    open: usize,
    in_string: bool,
    escaped: bool,
    /// Where nesting first went past `limit`, if a limit was set.
    limit: Option<usize>,
    too_deep_at: Option<usize>,
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) {
        let base = self.measure.bytes;
        self.measure.bytes += bytes.len();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.open += 1;
                    if self.open > self.measure.depth {
                        self.measure.depth = self.open;
                        if self.too_deep_at.is_none() && self.limit.is_some_and(|l| self.open > l) {
                            self.too_deep_at = Some(base + i);
                        }
                    }
                }
                b']' | b'}' => self.open = self.open.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
    }
}

impl std::io::Write for Scanner {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size and depth of a value's JSON text, in one pass over it.
pub fn measure(value: &Value) -> Measure {
    let mut scanner = Scanner::default();
    // Writing a Value into a counting sink cannot fail.
    let _ = serde_json::to_writer(&mut scanner, value);
    scanner.measure
}

/// The size and depth of JSON text, before anything parses it.
pub fn measure_text(text: &[u8]) -> Measure {
    let mut scanner = Scanner::default();
    scanner.feed(text);
    scanner.measure
}

/// Where JSON text first nests deeper than `limit` (a byte offset), if it does.
pub fn too_deep_at(text: &[u8], limit: usize) -> Option<usize> {
    let mut scanner = Scanner {
        limit: Some(limit),
        ..Scanner::default()
    };
    scanner.feed(text);
    scanner.too_deep_at
}

/// The size of a payload as AWS measures it: the bytes of its UTF-8 JSON text.
pub fn payload_size(value: &Value) -> usize {
    measure(value).bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(values_equal(&json!(1), &json!(1.0)));
        assert!(values_equal(
            &json!([1, {"a": 2}]),
            &json!([1.0, {"a": 2.0}])
        ));
        assert!(!values_equal(&json!(1), &json!("1")));
        assert!(!values_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn payload_size_counts_json_bytes() {
        assert_eq!(payload_size(&json!({"a": "é"})), r#"{"a":"é"}"#.len());
    }

    fn nested(depth: usize) -> Value {
        let mut value = json!("leaf");
        for i in 0..depth {
            value = if i % 2 == 0 {
                json!([value])
            } else {
                json!({ "k": value })
            };
        }
        value
    }

    #[test]
    fn depth_counts_arrays_and_objects_not_brackets_in_strings() {
        assert_eq!(measure(&json!(1)).depth, 0);
        assert_eq!(measure(&json!([])).depth, 1);
        assert_eq!(measure(&json!({"a": [1], "b": {}})).depth, 2);
        assert_eq!(measure(&json!({"a": "[[[{{{\\\"]]"})).depth, 1);
        for depth in [0, 1, 7, MAX_NESTING, MAX_NESTING + 1] {
            let value = nested(depth);
            assert_eq!(measure(&value).depth, depth);
            assert_eq!(measure_text(value.to_string().as_bytes()).depth, depth);
        }
        let m = measure(&json!({"a": "é"}));
        assert_eq!(m.bytes, r#"{"a":"é"}"#.len());
    }

    #[test]
    fn too_deep_at_names_the_first_bracket_past_the_limit() {
        let text = r#"{"a": [[["x"]]], "b": "[[[["}"#;
        assert_eq!(too_deep_at(text.as_bytes(), 4), None);
        assert_eq!(
            too_deep_at(text.as_bytes(), 3),
            Some(text.find("[\"x").unwrap())
        );
        assert_eq!(too_deep_at(b"[[[[", 2), Some(2));
    }
}
