//! Values between serde_json and jsonata-core. JSONata numbers are doubles: a whole
//! number comes back as a JSON integer (`3`, not `3.0`), as JavaScript prints it.
//!
//! Coming back, the size of the JSON is counted as it is built and the conversion stops
//! past a limit: jsonata-core shares values, so a result can be small in memory and
//! still stand for gigabytes of JSON (the same long string a million times).

use indexmap::IndexMap;
use jsonata_core::value::{JArray, JValue};
use serde_json::{Map, Number, Value};

/// A serde value as a JSONata value.
pub fn to_jsonata(value: &Value) -> JValue {
    match value {
        Value::Null => JValue::Null,
        Value::Bool(b) => JValue::Bool(*b),
        Value::Number(n) => JValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => JValue::string(s.as_str()),
        Value::Array(items) => {
            let flat = !items.iter().any(Value::is_array);
            JValue::Array(JArray::new_flat(
                items.iter().map(to_jsonata).collect(),
                flat,
            ))
        }
        Value::Object(fields) => JValue::object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_jsonata(v)))
                .collect::<IndexMap<_, _>>(),
        ),
    }
}

/// A JSONata value as JSON, or why not. Undefined members of an object are left out
/// and undefined items of an array become `null`, as `JSON.stringify` does; so do
/// functions and regular expressions, which JSON cannot hold.
pub fn from_jsonata(value: &JValue, limit_bytes: usize) -> Result<Value, String> {
    let mut budget = limit_bytes;
    convert(value, &mut budget)
}

fn spend(budget: &mut usize, bytes: usize) -> Result<(), String> {
    *budget = budget.checked_sub(bytes).ok_or_else(|| {
        "Expression evaluation memory limit exceeded: Check for excessive memory usage".to_string()
    })?;
    Ok(())
}

fn convert(value: &JValue, budget: &mut usize) -> Result<Value, String> {
    match value {
        JValue::Null | JValue::Undefined => {
            spend(budget, 4)?;
            Ok(Value::Null)
        }
        JValue::Bool(b) => {
            spend(budget, 5)?;
            Ok(Value::Bool(*b))
        }
        JValue::Number(n) => {
            spend(budget, 8)?;
            number(*n).map(Value::Number)
        }
        JValue::String(s) => {
            spend(budget, s.len() + 2)?;
            Ok(Value::String(s.to_string()))
        }
        JValue::Array(items) => {
            spend(budget, 2)?;
            let mut out = Vec::with_capacity(items.len().min(*budget));
            for item in items.iter() {
                spend(budget, 1)?;
                out.push(jsonata_core::value::with_stack(|| convert(item, budget))?);
            }
            Ok(Value::Array(out))
        }
        JValue::Object(fields) => {
            spend(budget, 2)?;
            let mut out = Map::with_capacity(fields.len().min(*budget));
            for (key, item) in fields.iter() {
                if matches!(
                    item,
                    JValue::Undefined
                        | JValue::Lambda(_)
                        | JValue::Builtin { .. }
                        | JValue::Regex { .. }
                ) {
                    continue;
                }
                spend(budget, key.len() + 4)?;
                out.insert(
                    key.clone(),
                    jsonata_core::value::with_stack(|| convert(item, budget))?,
                );
            }
            Ok(Value::Object(out))
        }
        JValue::Lambda(_) | JValue::Builtin { .. } | JValue::Regex { .. } => Ok(Value::Null),
    }
}

/// A JSONata number as JSON: whole numbers within 2^53 as integers.
pub fn number(n: f64) -> Result<Number, String> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT {
        return Ok(Number::from(n as i64));
    }
    Number::from_f64(n)
        .ok_or_else(|| format!("D1001: Number out of range: {n} cannot be written as JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_with_whole_numbers_as_integers() {
        let value = json!({"a": [1, 2.5, "x", null, true, {"b": []}], "n": -3});
        let back = from_jsonata(&to_jsonata(&value), 1 << 20).unwrap();
        assert_eq!(back, value);
        assert_eq!(from_jsonata(&JValue::Number(3.0), 100).unwrap(), json!(3));
        assert_eq!(from_jsonata(&JValue::Number(0.1), 100).unwrap(), json!(0.1));
    }

    #[test]
    fn a_shared_value_is_measured_as_the_json_it_stands_for() {
        let long: JValue = JValue::string("x".repeat(1000));
        let many = JValue::array(vec![long; 10_000]);
        let err = from_jsonata(&many, 1 << 20).unwrap_err();
        assert!(err.contains("memory limit"), "{err}");
        assert!(from_jsonata(&many, 16 << 20).is_ok());
    }
}
