//! Evaluation as a state sees it: `$states`, variables, AWS's functions, the errors and
//! the bounds.

use serde_json::{Value, json};

use super::*;
use crate::asl::random::SeededRandom;
use crate::asl::variables::{Scope, Variables};

fn eval_with(text: &str, input: Value, scope: &Scope) -> Result<Value, StatesError> {
    let expression = Expression::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    let context = json!({"Execution": {"Id": "arn:x"}});
    let mut random = SeededRandom::new(7);
    let mut env = Env::new(&context, &mut random);
    env.variables = Variables::of(vec![scope]);
    env.now_ms = 1_700_000_000_123;
    let states = States {
        input: &input,
        result: Some(&json!({"r": 1})),
        error_output: None,
    };
    expression.evaluate(&states, &mut env, "Output")
}

fn eval(text: &str) -> Result<Value, StatesError> {
    eval_with(text, json!({"a": 1, "items": [1, 2, 3]}), &Scope::new())
}

#[test]
fn states_and_variables_are_bound() {
    assert_eq!(eval("$states.input.a + 1").unwrap(), json!(2));
    assert_eq!(eval("$sum($states.input.items)").unwrap(), json!(6));
    assert_eq!(eval("$states.result.r").unwrap(), json!(1));
    assert_eq!(
        eval("$states.context.Execution.Id").unwrap(),
        json!("arn:x")
    );
    let scope: Scope = [("x".to_string(), json!({"y": [10, 20]}))].into();
    assert_eq!(eval_with("$x.y[1]", json!({}), &scope).unwrap(), json!(20));
    // Whole numbers are JSON integers; objects keep their order.
    assert_eq!(
        eval("{'b': 2 * 1.5, 'a': 1}").unwrap(),
        json!({"b": 3, "a": 1})
    );
}

#[test]
fn nothing_and_failures_are_query_evaluation_errors_naming_the_field() {
    let err = eval("$states.input.missing").unwrap_err();
    assert_eq!(err.error, "States.QueryEvaluationError");
    assert_eq!(
        err.cause,
        "The JSONata expression '$states.input.missing' specified for the field 'Output' returned nothing (undefined)."
    );
    let err = eval("$abs('x')").unwrap_err();
    assert!(
        err.cause.starts_with("The JSONata expression '$abs('x')' specified for the field 'Output' threw an error during evaluation. T0410"),
        "{}",
        err.cause
    );
}

#[test]
fn aws_functions() {
    assert_eq!(
        eval("$partition([1, 2, 3, 4, 5], 2)").unwrap(),
        json!([[1, 2], [3, 4], [5]])
    );
    assert_eq!(
        eval("$range(0, 10, 2)").unwrap(),
        json!([0, 2, 4, 6, 8, 10])
    );
    assert_eq!(eval("$range(3, 1, -1)").unwrap(), json!([3, 2, 1]));
    assert_eq!(eval("$range(1, 0, 1)").unwrap(), json!([]));
    assert!(eval("$range(0, 1, 0)").unwrap_err().cause.contains("step"));
    assert_eq!(
        eval("$hash('input data', 'SHA-1')").unwrap(),
        json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
    );
    assert!(
        eval("$hash('x', 'SHA-3')")
            .unwrap_err()
            .cause
            .contains("SHA-3")
    );
    assert_eq!(
        eval("$parse('{\"a\": [1, {\"b\": true}]}')").unwrap(),
        json!({"a": [1, {"b": true}]})
    );
    assert!(
        eval("$parse('{nope')")
            .unwrap_err()
            .cause
            .contains("not JSON")
    );
    let uuid = eval("$uuid()").unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(uuid.as_str().unwrap())
            .unwrap()
            .get_version_num(),
        4
    );
    let r = eval("$random()").unwrap().as_f64().unwrap();
    assert!((0.0..1.0).contains(&r));
    assert_eq!(eval("$random(42)").unwrap(), eval("$random(42)").unwrap());
    assert_ne!(eval("$random(42)").unwrap(), eval("$random(43)").unwrap());
    // $eval is not there; $parse is.
    assert!(eval("$eval('1 + 1')").unwrap_err().cause.contains("$parse"));
}

#[test]
fn time_is_the_engines() {
    assert_eq!(eval("$millis()").unwrap(), json!(1_700_000_000_123i64));
    assert_eq!(eval("$now()").unwrap(), json!("2023-11-14T22:13:20.123Z"));
    assert_eq!(eval("$now('[Y0001]')").unwrap(), json!("2023"));
}

#[test]
fn hostile_expressions_end_with_errors() {
    // Endless recursion: the depth limit.
    let err = eval("($f := function($n){ 1 + $f($n + 1) }; $f(0))").unwrap_err();
    assert!(err.cause.contains("D1011"), "{}", err.cause);
    // A huge range: refused before it is built.
    let err = eval("$count([1..5000000])").unwrap_err();
    assert!(err.cause.contains("D2015"), "{}", err.cause);
    let err = eval("$count($range(1, 100000000, 1))").unwrap_err();
    assert!(err.cause.contains("D2015"), "{}", err.cause);
    // Exponential string building: the memory budget.
    let err = eval(
        "($p := function($s, $n) { $n = 0 ? $s : $p($s & $s, $n - 1) }; $length($p('x', 40)))",
    )
    .unwrap_err();
    assert!(
        err.cause.contains("threw an error during evaluation: Expression evaluation memory limit exceeded: Check for excessive memory usage"),
        "a bound's message has no code, so the sentence runs on with a colon: {}",
        err.cause
    );
    // Output far larger than anything held: checked before it is built.
    for text in [
        "$join([1..1000000].($pad('', 1000)), '')",
        "$string([1..1000000].($pad('', 1000)))",
        "$pad('', 2000000000)",
        "$replace($pad('', 100000), ' ', $pad('', 100000))",
        "[1..1000000].($pad('', 1000))",
    ] {
        let err = eval(text).unwrap_err();
        assert!(err.cause.contains("memory limit"), "{text}: {}", err.cause);
    }
    // What AWS accepts is accepted.
    assert_eq!(eval("[1..873782] ~> $count()").unwrap(), json!(873782));
    assert_eq!(
        eval(
            "($p := function($s, $n) { $n = 0 ? $s : $p($s & $s, $n - 1) }; $length($p('x', 22)))"
        )
        .unwrap(),
        json!(4194304)
    );
}

#[test]
fn expressions_parse_with_aws_rules() {
    assert!(Expression::parse("$states.input").is_ok());
    assert!(
        Expression::parse("$")
            .unwrap_err()
            .message
            .contains("top level")
    );
    assert!(
        Expression::parse("1 +")
            .unwrap_err()
            .message
            .contains("S0207")
    );
    assert_eq!(expression_text("{% 1 %}"), Some(" 1 "));
    assert_eq!(expression_text(" {% 1 %}"), None);
    assert_eq!(expression_text("{% 1"), None);
    assert!(reads_member("$states.context.Execution", "context"));
    assert!(!reads_member("$states.input.context", "context"));
    assert!(reads_member("$keys($states)", "context"));
}

#[test]
fn checked_functions_chained_with_the_pipe_operator_still_apply() {
    assert_eq!(
        eval("$states.input.items ~> $join(', ')")
            .unwrap_err()
            .cause,
        eval("$join($states.input.items, ', ')")
            .unwrap_err()
            .cause
            .replace(
                "$join($states.input.items, ', ')",
                "$states.input.items ~> $join(', ')"
            ),
        "numbers cannot be joined, either way"
    );
    assert_eq!(
        eval("$states.input.items.$string() ~> $join(', ')").unwrap(),
        json!("1, 2, 3")
    );
    assert_eq!(eval("'ab' ~> $uppercase()").unwrap(), json!("AB"));
    assert_eq!(eval("'ab' ~> $pad(4, '-')").unwrap(), json!("ab--"));
}

#[test]
fn expressions_of_one_field_share_the_states_they_read() {
    let value = JsonataValue::parse(&json!({
        "a": "{% $states.input.items[0] %}",
        "b": ["{% $states.input.items[2] %}", "{% $count($states.input.items) %}"],
        "c": "{% $states.context.Execution.Id %}",
        "d": "{% $states.result.r %}"
    }))
    .unwrap();
    let context = json!({"Execution": {"Id": "arn:x"}});
    let mut random = SeededRandom::new(7);
    let mut env = Env::new(&context, &mut random);
    let input = json!({"items": [1, 2, 3]});
    let states = States {
        input: &input,
        result: Some(&json!({"r": "res"})),
        error_output: None,
    };
    assert_eq!(
        value.evaluate(&states, &mut env, "Output").unwrap(),
        json!({"a": 1, "b": [3, 3], "c": "arn:x", "d": "res"})
    );
}
