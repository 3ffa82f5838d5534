//! Array intrinsics: ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem,
//! ArrayLength and ArrayUnique (`States.Array` itself needs no code: it returns its
//! arguments).

use serde_json::Value;

use super::{expect_array, expect_integer, expect_whole};
use crate::asl::error::StatesError;
use crate::asl::json::values_equal;

/// AWS: "The new array can contain up to 1000 elements."
const MAX_RANGE_ITEMS: i64 = 1000;

/// Splits an array into chunks of the given size; the last chunk may be shorter.
pub(super) fn partition(array: &Value, size: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.ArrayPartition";
    let items = expect_array(F, 1, array)?;
    let size = expect_integer(F, 2, size)?;
    if size <= 0 {
        return Err(StatesError::intrinsic(format!(
            "{F}: the chunk size (argument 2) must be a positive integer, got {size}"
        )));
    }
    Ok(Value::Array(
        items
            .chunks(size as usize)
            .map(|chunk| Value::Array(chunk.to_vec()))
            .collect(),
    ))
}

/// Whether the array holds the value.
pub(super) fn contains(array: &Value, wanted: &Value) -> Result<Value, StatesError> {
    let items = expect_array("States.ArrayContains", 1, array)?;
    Ok(Value::Bool(
        items.iter().any(|item| values_equal(item, wanted)),
    ))
}

/// The integers from `first` to `last` (inclusive) in steps of `step`.
pub(super) fn range(first: &Value, last: &Value, step: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.ArrayRange";
    let first = expect_whole(F, 1, first)?;
    let last = expect_whole(F, 2, last)?;
    let step = expect_whole(F, 3, step)?;
    if step == 0 {
        return Err(StatesError::intrinsic(format!(
            "{F}: the step (argument 3) must not be 0"
        )));
    }
    let count = if (step > 0 && last < first) || (step < 0 && last > first) {
        0
    } else {
        (last - first) / step + 1
    };
    if count > MAX_RANGE_ITEMS {
        return Err(StatesError::intrinsic(format!(
            "{F}: the range would hold {count} items; at most {MAX_RANGE_ITEMS} are allowed"
        )));
    }
    Ok(Value::Array(
        (0..count).map(|i| Value::from(first + i * step)).collect(),
    ))
}

/// The item at a zero-based index.
pub(super) fn get_item(array: &Value, index: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.ArrayGetItem";
    let items = expect_array(F, 1, array)?;
    let index = expect_integer(F, 2, index)?;
    usize::try_from(index)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| {
            StatesError::intrinsic(format!(
                "{F}: index {index} is outside the array of {} items",
                items.len()
            ))
        })
}

/// The number of items.
pub(super) fn length(array: &Value) -> Result<Value, StatesError> {
    Ok(Value::from(
        expect_array("States.ArrayLength", 1, array)?.len(),
    ))
}

/// The items with duplicates removed, keeping each first occurrence in place.
pub(super) fn unique(array: &Value) -> Result<Value, StatesError> {
    let items = expect_array("States.ArrayUnique", 1, array)?;
    let mut kept: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !kept.iter().any(|k| values_equal(k, item)) {
            kept.push(item.clone());
        }
    }
    Ok(Value::Array(kept))
}

#[cfg(test)]
mod tests {
    use crate::asl::intrinsics::tests::eval;
    use serde_json::json;

    // Each function's example from the AWS documentation, then its argument rules.

    #[test]
    fn array_example() {
        assert_eq!(
            eval("States.Array($.Id)", json!({"Id": 123456})).unwrap(),
            json!([123456])
        );
        assert_eq!(
            eval(
                "States.Array('Foo', 2020, $.someJson, null)",
                json!({"someJson": {"random": "abcdefg"}})
            )
            .unwrap(),
            json!(["Foo", 2020, {"random": "abcdefg"}, null])
        );
    }

    #[test]
    fn array_partition_example_and_rules() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]});
        assert_eq!(
            eval("States.ArrayPartition($.inputArray,4)", input.clone()).unwrap(),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
        assert_eq!(
            eval("States.ArrayPartition($.inputArray, 4.4)", input.clone()).unwrap()[0],
            json!([1, 2, 3, 4])
        );
        assert_eq!(
            eval("States.ArrayPartition($.inputArray, 0)", input.clone())
                .unwrap_err()
                .error,
            "States.IntrinsicFailure"
        );
        assert_eq!(
            eval("States.ArrayPartition('abc', 2)", input)
                .unwrap_err()
                .error,
            "States.IntrinsicFailure"
        );
    }

    #[test]
    fn array_contains_example() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5});
        assert_eq!(
            eval(
                "States.ArrayContains($.inputArray, $.lookingFor)",
                input.clone()
            )
            .unwrap(),
            json!(true)
        );
        assert_eq!(
            eval("States.ArrayContains($.inputArray, 10)", input.clone()).unwrap(),
            json!(false)
        );
        assert_eq!(
            eval("States.ArrayContains($.inputArray, 5.0)", input).unwrap(),
            json!(true)
        );
    }

    #[test]
    fn array_range_example_and_rules() {
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            eval("States.ArrayRange(10, 4, -3)", json!({})).unwrap(),
            json!([10, 7, 4])
        );
        assert_eq!(
            eval("States.ArrayRange(1, 0, 1)", json!({})).unwrap(),
            json!([])
        );
        assert_eq!(
            eval("States.ArrayRange(1, 1000, 1)", json!({}))
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1000
        );
        // AWS: "You must specify integer values for all of the arguments."
        for call in [
            "States.ArrayRange(1.5, 3, 1)",
            "States.ArrayRange(1, 3, 0.5)",
        ] {
            let err = eval(call, json!({"a": [1, 2, 3]})).unwrap_err();
            assert_eq!(err.error, "States.IntrinsicFailure", "{call}");
            assert!(
                err.cause.contains("must be an integer, not"),
                "{call}: {}",
                err.cause
            );
        }
        assert_eq!(
            eval("States.ArrayRange(1.0, 3, 1)", json!({})).unwrap(),
            json!([1, 2, 3])
        );
        let too_many = eval("States.ArrayRange(1, 1001, 1)", json!({})).unwrap_err();
        assert!(too_many.cause.contains("1001 items"), "{}", too_many.cause);
        assert!(
            eval("States.ArrayRange(1, 9, 0)", json!({}))
                .unwrap_err()
                .cause
                .contains("must not be 0")
        );
    }

    #[test]
    fn array_get_item_example_and_bounds() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5});
        assert_eq!(
            eval("States.ArrayGetItem($.inputArray, $.index)", input.clone()).unwrap(),
            json!(6)
        );
        let err = eval("States.ArrayGetItem($.inputArray, 9)", input.clone()).unwrap_err();
        assert!(
            err.cause.contains("outside the array of 9 items"),
            "{}",
            err.cause
        );
        assert!(eval("States.ArrayGetItem($.inputArray, -1)", input).is_err());
    }

    #[test]
    fn array_length_example() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]});
        assert_eq!(
            eval("States.ArrayLength($.inputArray)", input).unwrap(),
            json!(9)
        );
        assert!(eval("States.ArrayLength('x')", json!({})).is_err());
    }

    #[test]
    fn array_unique_example() {
        let input = json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]});
        assert_eq!(
            eval("States.ArrayUnique($.inputArray)", input).unwrap(),
            json!([1, 2, 3, 4])
        );
        let mixed = json!({"a": [{"k": 1}, "x", {"k": 1}, 1, 1.0, "x"]});
        assert_eq!(
            eval("States.ArrayUnique($.a)", mixed).unwrap(),
            json!([{"k": 1}, "x", 1])
        );
    }
}
