//! Math intrinsics: MathRandom and MathAdd.

use serde_json::Value;

use super::expect_integer;
use crate::asl::error::StatesError;
use crate::asl::eval::Env;
use crate::asl::random::{RandomSource, SeededRandom};

/// A random integer in `[start, end)`: AWS documents the start as inclusive and the end
/// as exclusive. With a seed the result depends only on the seed and the bounds.
pub(super) fn random(
    start: &Value,
    end: &Value,
    seed: Option<&Value>,
    env: &mut Env,
) -> Result<Value, StatesError> {
    const F: &str = "States.MathRandom";
    let start = expect_integer(F, 1, start)?;
    let end = expect_integer(F, 2, end)?;
    if end <= start {
        return Err(StatesError::intrinsic(format!(
            "{F}: the end ({end}) must be greater than the start ({start})"
        )));
    }
    let span = (end - start) as u64;
    let word = match seed {
        Some(seed) => SeededRandom::new(expect_integer(F, 3, seed)? as u64).next_u64(),
        None => env.random.next_u64(),
    };
    Ok(Value::from(start + (word % span) as i64))
}

/// The sum of two integers, each within the 32-bit signed range as AWS requires.
pub(super) fn add(a: &Value, b: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.MathAdd";
    let mut sum = 0i64;
    for (position, value) in [(1, a), (2, b)] {
        let n = expect_integer(F, position, value)?;
        if i32::try_from(n).is_err() {
            return Err(StatesError::intrinsic(format!(
                "{F}: argument {position} ({n}) is outside -2147483648..2147483647"
            )));
        }
        sum += n;
    }
    Ok(Value::from(sum))
}

#[cfg(test)]
mod tests {
    use crate::asl::intrinsics::tests::eval;
    use serde_json::json;

    #[test]
    fn math_random_example_stays_in_range() {
        let input = json!({"start": 1, "end": 999});
        let n = eval("States.MathRandom($.start, $.end)", input)
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..999).contains(&n));
        for _ in 0..50 {
            let n = eval("States.MathRandom(0, 2)", json!({}))
                .unwrap()
                .as_i64()
                .unwrap();
            assert!((0..2).contains(&n));
        }
    }

    #[test]
    fn math_random_with_seed_is_repeatable() {
        let a = eval("States.MathRandom(1, 1000000, 7)", json!({})).unwrap();
        let b = eval("States.MathRandom(1, 1000000, 7)", json!({})).unwrap();
        let c = eval("States.MathRandom(1, 1000000, 8)", json!({})).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn math_random_rules() {
        assert!(
            eval("States.MathRandom(5, 5)", json!({}))
                .unwrap_err()
                .cause
                .contains("greater than the start")
        );
        assert!(eval("States.MathRandom('a', 5)", json!({})).is_err());
    }

    #[test]
    fn math_add_example_and_rules() {
        let input = json!({"value1": 111, "step": -1});
        assert_eq!(
            eval("States.MathAdd($.value1, $.step)", input).unwrap(),
            json!(110)
        );
        assert_eq!(eval("States.MathAdd(1.6, 1)", json!({})).unwrap(), json!(3));
        // Each operand rounds a half toward positive infinity, as AWS does.
        for (a, sum) in [
            (-1.5, -1),
            (-0.5, 0),
            (0.5, 1),
            (1.5, 2),
            (2.5, 3),
            (-2.5, -2),
        ] {
            assert_eq!(
                eval("States.MathAdd($.a, 0)", json!({"a": a})).unwrap(),
                json!(sum),
                "{a}"
            );
        }
        assert_eq!(
            eval("States.MathAdd($.a, 0)", json!({"a": 0.49999999999999994})).unwrap(),
            json!(0)
        );
        assert_eq!(
            eval("States.MathAdd(2147483647, 1)", json!({})).unwrap(),
            json!(2147483648i64)
        );
        assert!(
            eval("States.MathAdd(2147483648, 1)", json!({}))
                .unwrap_err()
                .cause
                .contains("outside")
        );
        assert!(eval("States.MathAdd('1', 1)", json!({})).is_err());
    }
}
