//! JSON intrinsics: StringToJson, JsonToString and JsonMerge.

use serde_json::Value;

use super::expect_string;
use crate::asl::error::StatesError;
use crate::asl::json::describe;

/// Parses a string holding JSON text.
pub(super) fn string_to_json(text: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.StringToJson";
    let text = expect_string(F, 1, text)?;
    // An empty or blank string holds no JSON value; AWS's JSON reader (Jackson) reads it
    // as no value at all, which the payload shows as null, rather than failing.
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|e| StatesError::intrinsic(format!("{F}: the string is not valid JSON ({e})")))
}

/// Serializes a value as compact JSON text.
pub(super) fn json_to_string(value: &Value) -> Result<Value, StatesError> {
    Ok(Value::String(value.to_string()))
}

/// Shallow merge: keys of the second object replace those of the first. AWS supports
/// only the shallow mode, so the third argument must be `false`.
pub(super) fn merge(first: &Value, second: &Value, deep: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.JsonMerge";
    if deep != &Value::Bool(false) {
        return Err(StatesError::intrinsic(format!(
            "{F}: only shallow merging is supported, so argument 3 must be false (got {deep})"
        )));
    }
    let (Value::Object(a), Value::Object(b)) = (first, second) else {
        let (position, value) = if first.is_object() {
            (2, second)
        } else {
            (1, first)
        };
        return Err(StatesError::intrinsic(format!(
            "{F}: argument {position} must be an object, not {}",
            describe(value)
        )));
    };
    let mut merged = a.clone();
    for (key, value) in b {
        merged.insert(key.clone(), value.clone());
    }
    Ok(Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use crate::asl::intrinsics::tests::eval;
    use serde_json::json;

    #[test]
    fn string_to_json_of_empty_or_blank_text_is_null() {
        assert_eq!(
            eval("States.StringToJson('')", json!({})).unwrap(),
            json!(null)
        );
        assert_eq!(
            eval("States.StringToJson($.s)", json!({"s": " \n\t "})).unwrap(),
            json!(null)
        );
    }

    #[test]
    fn string_to_json_examples() {
        let input = json!({"escapedJsonString": "{\"foo\": \"bar\"}"});
        assert_eq!(
            eval("States.StringToJson($.escapedJsonString)", input).unwrap(),
            json!({"foo": "bar"})
        );
        let input = json!({"someString": "{\"number\": 20}", "zebra": "stripe"});
        assert_eq!(
            eval("States.StringToJson($.someString)", input).unwrap(),
            json!({"number": 20})
        );
        assert!(
            eval("States.StringToJson('{nope')", json!({}))
                .unwrap_err()
                .cause
                .contains("not valid JSON")
        );
    }

    #[test]
    fn json_to_string_example() {
        let input = json!({"someJson": {"name": "Foo", "year": 2020}, "zebra": "stripe"});
        assert_eq!(
            eval("States.JsonToString($.someJson)", input).unwrap(),
            json!("{\"name\":\"Foo\",\"year\":2020}")
        );
    }

    #[test]
    fn json_merge_example_and_rules() {
        let input = json!({
            "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
            "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}
        });
        assert_eq!(
            eval("States.JsonMerge($.json1, $.json2, false)", input.clone()).unwrap(),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
        );
        assert!(
            eval("States.JsonMerge($.json1, $.json2, true)", input.clone())
                .unwrap_err()
                .cause
                .contains("shallow")
        );
        assert!(
            eval("States.JsonMerge($.json1, 'x', false)", input)
                .unwrap_err()
                .cause
                .contains("argument 2 must be an object")
        );
    }
}
