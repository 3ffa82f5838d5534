//! Validation tests: for each rule a definition that breaks it and the diagnostic
//! expected, plus the two seed workflows.

use super::*;
use crate::asl::definition::Setting;
use crate::asl::retry::Jitter;
use crate::asl::states::all_operator_names;
use serde_json::json;

fn diagnostics(definition: &Value) -> Vec<Diagnostic> {
    validate(&definition.to_string())
}

/// The (code, location) pairs of the errors, in order.
fn errors(definition: &Value) -> Vec<(&'static str, String)> {
    diagnostics(definition)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.code.as_str(), d.location))
        .collect()
}

fn assert_single_error(definition: Value, code: &str, location: &str, message_part: &str) {
    let all = diagnostics(&definition);
    let errs: Vec<&Diagnostic> = all
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errs.len(), 1, "expected exactly one error, got {all:#?}");
    assert_eq!(errs[0].code.as_str(), code, "{:#?}", errs[0]);
    assert_eq!(errs[0].location, location, "{:#?}", errs[0]);
    assert!(
        errs[0].message.contains(message_part),
        "message {:?} should contain {message_part:?}",
        errs[0].message
    );
}

fn machine(states: Value) -> Value {
    let start = states
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default();
    json!({"StartAt": start, "States": states})
}

fn seed(name: &str) -> String {
    crate::examples::text(name)
}

#[test]
fn seed_examples_validate_cleanly() {
    for name in ["choice-state.asl.json", "test-pipeline.asl.json"] {
        let parsed = parse(&seed(name)).unwrap_or_else(|d| panic!("{name}: {d:#?}"));
        assert!(parsed.warnings.is_empty(), "{name}: {:#?}", parsed.warnings);
    }
}

#[test]
fn seed_choice_example_parses_into_the_expected_shape() {
    let machine = parse(&seed("choice-state.asl.json")).unwrap().machine;
    assert_eq!(machine.root.start_at, "Deciding Lambda Function");
    let names: Vec<&str> = machine.root.states.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "Deciding Lambda Function",
            "ChoiceState",
            "Correct",
            "Error"
        ]
    );
    let StateKind::Choice(choice) = &machine.root.states["ChoiceState"].kind else {
        panic!("not a Choice")
    };
    assert_eq!(choice.choices.len(), 2);
    let context = json!({});
    let mut random = crate::asl::random::SeededRandom::new(1);
    let mut env = crate::asl::eval::Env::new(&context, &mut random);
    let mut next = |input| choice.next(&input, &mut env).map(|(_, n)| n.to_string());
    assert_eq!(next(json!({"statusCode": 500})).unwrap(), "Error");
    assert_eq!(next(json!({"statusCode": 200})).unwrap(), "Correct");
    assert_eq!(
        next(json!({"statusCode": 404})).unwrap_err().error,
        "States.NoChoiceMatched"
    );
    let StateKind::Task(task) = &machine.root.states["Deciding Lambda Function"].kind else {
        panic!("not a Task")
    };
    assert_eq!(
        task.resource.queue(&json!({})).unwrap(),
        "AMIS_deciding_function"
    );
}

#[test]
fn only_paths_that_may_read_the_execution_input_copy_it_into_the_context() {
    let definition = machine(json!({
        "Item": {"Type": "Pass", "Parameters": {"v.$": "$$.Map.Item.Value", "n.$": "$$.Execution.Name"}, "Next": "Input"},
        "Input": {"Type": "Pass", "Parameters": {"i.$": "$$.Execution.Input.a"}, "Next": "Whole"},
        "Whole": {"Type": "Pass", "Parameters": {"c.$": "$$"}, "Next": "Deep"},
        "Deep": {"Type": "Pass", "Parameters": {"d.$": "$$..a"}, "End": true}
    }));
    let machine = parse(&definition.to_string()).unwrap().machine;
    let reads: Vec<(&str, bool)> = machine
        .root
        .states
        .values()
        .map(|s| (s.name.as_str(), s.reads_execution_input))
        .collect();
    assert_eq!(
        reads,
        [
            ("Item", false),
            ("Input", true),
            ("Whole", true),
            ("Deep", true)
        ]
    );
}

#[test]
fn only_states_that_mention_the_context_object_read_it() {
    let definition = machine(json!({
        "Plain": {"Type": "Pass", "Parameters": {"a.$": "$.a"}, "Next": "Format"},
        "Format": {"Type": "Pass",
            "Parameters": {"s.$": "States.Format('{}', $$.Execution.Name)"}, "Next": "Choose"},
        "Choose": {"Type": "Choice",
            "Choices": [{"Variable": "$$.State.RetryCount", "NumericEquals": 0, "Next": "Stop"}]},
        "Stop": {"Type": "Succeed"}
    }));
    let machine = parse(&definition.to_string()).unwrap().machine;
    let reads: Vec<(&str, bool)> = machine
        .root
        .states
        .values()
        .map(|s| (s.name.as_str(), s.reads_context))
        .collect();
    assert_eq!(
        reads,
        [
            ("Plain", false),
            ("Format", true),
            ("Choose", true),
            ("Stop", false)
        ]
    );
}

#[test]
fn seed_examples_with_a_broken_next_and_a_missing_end_yield_exactly_those() {
    // choice-state: misspell the Task's Next, drop End from the 1-second Wait.
    let mut choice: Value = serde_json::from_str(&seed("choice-state.asl.json")).unwrap();
    choice["States"]["Deciding Lambda Function"]["Next"] = json!("ChoiseState");
    choice["States"]["Correct"]
        .as_object_mut()
        .unwrap()
        .remove("End");
    let all = diagnostics(&choice);
    assert_eq!(
        errors(&choice),
        [
            ("SCHEMA_VALIDATION_FAILED", "/States/Correct".to_string()),
            (
                "MISSING_TRANSITION_TARGET",
                "/States/Deciding Lambda Function/Next".to_string()
            ),
        ],
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|d| d.message.contains("did you mean 'ChoiceState'?")),
        "{all:#?}"
    );
    assert_eq!(all.len(), 2);

    // test-pipeline: misspell a Next inside a branch, drop End from another branch's state.
    let mut pipeline: Value = serde_json::from_str(&seed("test-pipeline.asl.json")).unwrap();
    pipeline["States"]["Parallel"]["Branches"][0]["States"]["Unittest accept"]["Next"] =
        json!("Unittest decrpyt");
    pipeline["States"]["Parallel"]["Branches"][1]["States"]["Unittest update_db"]
        .as_object_mut()
        .unwrap()
        .remove("End");
    let all = diagnostics(&pipeline);
    assert_eq!(
        errors(&pipeline),
        [
            (
                "MISSING_TRANSITION_TARGET",
                "/States/Parallel/Branches/0/States/Unittest accept/Next".to_string()
            ),
            (
                "SCHEMA_VALIDATION_FAILED",
                "/States/Parallel/Branches/1/States/Unittest update_db".to_string()
            ),
        ],
        "{all:#?}"
    );
    assert_eq!(all.len(), 2);
    assert!(
        all[1].message.contains("neither 'Next' nor \"End\": true"),
        "{}",
        all[1].message
    );
}

#[test]
fn invalid_json_and_empty_definitions() {
    let d = validate("{\"StartAt\": ");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code.as_str(), "INVALID_JSON_DESCRIPTION");
    assert!(d[0].message.contains("line 1"), "{}", d[0].message);
    assert_eq!(validate("  ")[0].code.as_str(), "MISSING_DESCRIPTION");
    assert_single_error(
        json!([1]),
        "SCHEMA_VALIDATION_FAILED",
        "",
        "must be a JSON object",
    );
}

#[test]
fn start_at_missing_or_unknown() {
    assert_single_error(
        json!({"States": {"A": {"Type": "Succeed"}}}),
        "SCHEMA_VALIDATION_FAILED",
        "",
        "'StartAt'",
    );
    assert_single_error(
        json!({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}),
        "MISSING_TRANSITION_TARGET",
        "/StartAt",
        "StartAt names 'B'",
    );
    assert_single_error(
        json!({"StartAt": "A", "States": {}}),
        "SCHEMA_VALIDATION_FAILED",
        "/States",
        "at least one state",
    );
}

#[test]
fn next_naming_no_state_suggests_the_nearest() {
    let def = machine(json!({
        "ChoiceState": {"Type": "Choice", "Choices": [
            {"Variable": "$.a", "NumericEquals": 1, "Next": "Done"},
            {"Variable": "$.a", "NumericEquals": 2, "Next": "Eror"}
        ], "Default": "Done"},
        "Done": {"Type": "Succeed"},
        "Error": {"Type": "Fail"}
    }));
    let d = diagnostics(&def);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].location, "/States/ChoiceState/Choices/1/Next");
    assert_eq!(d[0].code.as_str(), "MISSING_TRANSITION_TARGET");
    assert!(
        d[0].message
            .contains("names 'Eror', which is not a state in this branch (did you mean 'Error'?)"),
        "{}",
        d[0].message
    );
}

#[test]
fn next_and_end_rules() {
    assert_single_error(
        machine(json!({"A": {"Type": "Pass", "Next": "B", "End": true}, "B": {"Type": "Succeed"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
        "both 'Next' and",
    );
    assert_single_error(
        machine(json!({"A": {"Type": "Pass"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
        "neither 'Next' nor",
    );
    assert_single_error(
        machine(json!({"A": {"Type": "Pass", "End": "yes"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/End",
        "true or false",
    );
    // Choice, Succeed and Fail take neither.
    assert_single_error(
        machine(json!({"A": {"Type": "Succeed", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/End",
        "not valid in a Succeed state",
    );
    assert_single_error(
        machine(json!({"A": {"Type": "Fail", "Next": "A"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Next",
        "not valid in a Fail state",
    );
}

#[test]
fn fields_that_do_not_belong_to_the_state_type() {
    assert_single_error(
        machine(
            json!({"A": {"Type": "Pass", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Resource",
        "'Resource' is not valid in a Pass state",
    );
    assert_single_error(
        machine(json!({"A": {"Type": "Pass", "Nxt": "A", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Nxt",
        "(did you mean 'Next'?)",
    );
    assert_single_error(
        machine(json!({"A": {"Type": "Wait", "Seconds": 1, "ResultPath": "$.x", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/ResultPath",
        "not valid in a Wait state",
    );
    assert_single_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "Timeout": 5}),
        "SCHEMA_VALIDATION_FAILED",
        "/Timeout",
        "did you mean 'TimeoutSeconds'?",
    );
}

#[test]
fn unknown_and_missing_types() {
    assert_single_error(
        machine(json!({"A": {"Type": "Sucede"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A/Type",
        "did you mean 'Succeed'?",
    );
    assert_single_error(
        machine(json!({"A": {"End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
        "has no 'Type'",
    );
    assert_single_error(
        machine(json!({"A": "Succeed"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/A",
        "must be an object",
    );
}

#[test]
fn wrong_field_types() {
    let cases = [
        (
            json!({"A": {"Type": "Pass", "Comment": 5, "End": true}}),
            "/States/A/Comment",
            "'Comment' must be a string",
        ),
        (
            json!({"A": {"Type": "Pass", "InputPath": 5, "End": true}}),
            "/States/A/InputPath",
            "path string or null",
        ),
        (
            json!({"A": {"Type": "Pass", "ResultPath": [], "End": true}}),
            "/States/A/ResultPath",
            "reference path string or null",
        ),
        (
            json!({"A": {"Type": "Pass", "Next": 3}}),
            "/States/A/Next",
            "'Next' must be a string",
        ),
        (
            json!({"A": {"Type": "Task", "Resource": 7, "End": true}}),
            "/States/A/Resource",
            "must be a string",
        ),
        (
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "TimeoutSeconds": "60", "End": true}}),
            "/States/A/TimeoutSeconds",
            "integer from 1",
        ),
        (
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "TimeoutSeconds": 0, "End": true}}),
            "/States/A/TimeoutSeconds",
            "integer from 1",
        ),
        (
            json!({"A": {"Type": "Wait", "Seconds": -1, "End": true}}),
            "/States/A/Seconds",
            "integer from 0",
        ),
        (
            json!({"A": {"Type": "Parallel", "Branches": {}, "End": true}}),
            "/States/A/Branches",
            "non-empty array",
        ),
        (
            json!({"A": {"Type": "Map", "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}, "MaxConcurrency": 1.5, "End": true}}),
            "/States/A/MaxConcurrency",
            "integer from 0",
        ),
        (
            json!({"A": {"Type": "Map", "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}, "ToleratedFailurePercentage": 101, "End": true}}),
            "/States/A/ToleratedFailurePercentage",
            "0 to 100",
        ),
    ];
    for (states, location, part) in cases {
        assert_single_error(machine(states), "SCHEMA_VALIDATION_FAILED", location, part);
    }
    assert_single_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "TimeoutSeconds": -3}),
        "SCHEMA_VALIDATION_FAILED",
        "/TimeoutSeconds",
        "integer from 1",
    );
}

#[test]
fn unreachable_states() {
    assert_single_error(
        machine(json!({"A": {"Type": "Pass", "End": true}, "Orphan": {"Type": "Succeed"}})),
        "UNREACHABLE_STATE",
        "/States/Orphan",
        "cannot be reached from StartAt 'A'",
    );
    // A Catch target and a Choice Default make states reachable.
    let def = machine(json!({
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}], "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "Done"}], "Default": "Other"},
        "Recover": {"Type": "Fail", "Error": "E"},
        "Done": {"Type": "Succeed"},
        "Other": {"Type": "Succeed"}
    }));
    assert!(errors(&def).is_empty(), "{:#?}", diagnostics(&def));
}

#[test]
fn a_branch_without_an_end_state() {
    assert_single_error(
        machine(json!({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}})),
        "MISSING_END_STATE",
        "/States",
        "no state ends this branch",
    );
}

#[test]
fn duplicate_state_names_across_branches() {
    let def = machine(json!({
        "P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "Work", "States": {"Work": {"Type": "Succeed"}}},
            {"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}
        ]}
    }));
    let d = diagnostics(&def);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code.as_str(), "DUPLICATE_STATE_NAME");
    assert_eq!(d[0].location, "/States/P/Branches/1/States/P");
    assert!(
        d[0].message.contains("already used at /States/P"),
        "{}",
        d[0].message
    );
}

#[test]
fn duplicate_keys_are_not_silently_dropped() {
    let text = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}, "A": {"Type": "Succeed", "Comment": "x", "Comment": "y"}}}"#;
    let d = validate(text);
    let found: Vec<(&str, &str)> = d
        .iter()
        .map(|d| (d.code.as_str(), d.location.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("DUPLICATE_STATE_NAME", "/States/A"),
            ("SCHEMA_VALIDATION_FAILED", "/States/A/Comment")
        ],
        "{d:#?}"
    );
    assert!(d[0].message.contains("defined twice"));
}

#[test]
fn state_names_longer_than_80_characters() {
    let long = "x".repeat(81);
    let def = json!({"StartAt": long, "States": {long.clone(): {"Type": "Succeed"}}});
    assert_single_error(
        def,
        "INVALID_STATE_NAME",
        &format!("/States/{long}"),
        "1 to 80 characters",
    );
    let ok = "y".repeat(80);
    assert!(
        errors(&json!({"StartAt": ok, "States": {ok.clone(): {"Type": "Succeed"}}})).is_empty()
    );
}

#[test]
fn states_all_must_be_last_and_alone() {
    let retry_not_alone = machine(
        json!({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}}),
    );
    assert_single_error(
        retry_not_alone,
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/ErrorEquals",
        "must appear alone",
    );
    let catch_not_last = machine(json!({
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}, {"ErrorEquals": ["E"], "Next": "F"}]},
        "F": {"Type": "Fail"}
    }));
    assert_single_error(
        catch_not_last,
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Catch/0/ErrorEquals",
        "must be the last one",
    );
}

#[test]
fn retrier_and_catcher_fields() {
    let bad = |retrier: Value| {
        machine(
            json!({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true, "Retry": [retrier]}}),
        )
    };
    assert_single_error(
        bad(json!({"ErrorEquals": []})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/ErrorEquals",
        "non-empty array",
    );
    assert_single_error(
        bad(json!({"IntervalSeconds": 1})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0",
        "'ErrorEquals' is required",
    );
    assert_single_error(
        bad(json!({"ErrorEquals": ["E"], "BackoffRate": 0.5})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/BackoffRate",
        "at least 1.0",
    );
    assert_single_error(
        bad(json!({"ErrorEquals": ["E"], "MaxAttempts": -1})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/MaxAttempts",
        "integer from 0",
    );
    assert_single_error(
        bad(json!({"ErrorEquals": ["E"], "IntervalSeconds": 0})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/IntervalSeconds",
        "integer from 1",
    );
    assert_single_error(
        bad(json!({"ErrorEquals": ["E"], "JitterStrategy": "SOME"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/JitterStrategy",
        "FULL",
    );
    assert_single_error(
        bad(json!({"ErrorEquals": ["E"], "MaxDelaySeconds": 31622401})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/MaxDelaySeconds",
        "31622400",
    );
    assert_single_error(
        bad(json!({"ErrorEquals": ["E"], "Next": "X"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Retry/0/Next",
        "not valid in a retrier",
    );
    let no_next = machine(
        json!({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true, "Catch": [{"ErrorEquals": ["E"]}]}}),
    );
    assert_single_error(
        no_next,
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/Catch/0",
        "'Next' of a catcher is missing",
    );
    let good = machine(
        json!({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true, "Retry": [
            {"ErrorEquals": ["E"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5, "MaxDelaySeconds": 10, "JitterStrategy": "FULL"}
        ]}}),
    );
    let parsed = parse(&good.to_string()).unwrap();
    let StateKind::Task(task) = &parsed.machine.root.states["T"].kind else {
        panic!()
    };
    let r = &task.errors.retry[0];
    assert_eq!(
        (
            r.interval_seconds,
            r.max_attempts,
            r.backoff_rate,
            r.max_delay_seconds,
            r.jitter
        ),
        (3, 2, 1.5, Some(10), Jitter::Full)
    );
}

#[test]
fn choice_rules_without_next_or_comparison() {
    let no_next = machine(
        json!({"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true}], "Default": "D"}, "D": {"Type": "Succeed"}}),
    );
    assert_single_error(
        no_next,
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0",
        "has no 'Next'",
    );
    let no_comparison = machine(
        json!({"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "Next": "D"}]}, "D": {"Type": "Succeed"}}),
    );
    assert_single_error(
        no_comparison,
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0",
        "has no comparison",
    );
    let two = machine(
        json!({"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "IsString": true, "Next": "D"}]}, "D": {"Type": "Succeed"}}),
    );
    assert_single_error(
        two,
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0",
        "exactly one operator",
    );
    let nested_next = machine(
        json!({"C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.a", "IsNull": true, "Next": "D"}, "Next": "D"}]}, "D": {"Type": "Succeed"}}),
    );
    assert_single_error(
        nested_next,
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0/Not/Next",
        "only allowed in top-level",
    );
    let typo = machine(
        json!({"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEqual": 1, "Next": "D"}]}, "D": {"Type": "Succeed"}}),
    );
    let d = diagnostics(&typo);
    assert!(
        d.iter()
            .any(|d| d.location == "/States/C/Choices/0/NumericEqual"
                && d.message.contains("did you mean 'NumericEquals'?")),
        "{d:#?}"
    );
    let no_variable = machine(
        json!({"C": {"Type": "Choice", "Choices": [{"StringEquals": "x", "Next": "D"}]}, "D": {"Type": "Succeed"}}),
    );
    assert_single_error(
        no_variable,
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0",
        "this rule has none",
    );
    let empty_and = machine(
        json!({"C": {"Type": "Choice", "Choices": [{"And": [], "Next": "D"}]}, "D": {"Type": "Succeed"}}),
    );
    assert_single_error(
        empty_and,
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0/And",
        "an empty array",
    );
    let no_choices =
        machine(json!({"C": {"Type": "Choice", "Default": "D"}, "D": {"Type": "Succeed"}}));
    assert_single_error(
        no_choices,
        "SCHEMA_VALIDATION_FAILED",
        "/States/C",
        "needs 'Choices'",
    );
}

#[test]
fn choice_operand_types() {
    let rule = |r: Value| {
        machine(json!({"C": {"Type": "Choice", "Choices": [r]}, "D": {"Type": "Succeed"}}))
    };
    assert_single_error(
        rule(json!({"Variable": "$.a", "NumericEquals": "1", "Next": "D"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0/NumericEquals",
        "must be a number",
    );
    assert_single_error(
        rule(json!({"Variable": "$.a", "BooleanEquals": 1, "Next": "D"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0/BooleanEquals",
        "true or false",
    );
    assert_single_error(
        rule(json!({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "D"})),
        "INVALID_TIMESTAMP",
        "/States/C/Choices/0/TimestampEquals",
        "RFC 3339",
    );
    assert_single_error(
        rule(json!({"Variable": "$.a", "StringEqualsPath": "b", "Next": "D"})),
        "INVALID_PATH",
        "/States/C/Choices/0/StringEqualsPath",
        "begin with '$'",
    );
    assert_single_error(
        rule(json!({"Variable": "a", "IsNull": true, "Next": "D"})),
        "INVALID_PATH",
        "/States/C/Choices/0/Variable",
        "begin with '$'",
    );
    assert_single_error(
        rule(json!({"Variable": "$.a", "IsNull": "yes", "Next": "D"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0/IsNull",
        "true or false",
    );
    assert_single_error(
        rule(json!({"Variable": "$.a", "BooleanLessThan": true, "Next": "D"})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/C/Choices/0/BooleanLessThan",
        "not valid in a Choice rule",
    );
}

#[test]
fn every_choice_operator_parses() {
    let mut rules = Vec::new();
    for name in all_operator_names() {
        let value = if name.ends_with("Path") {
            json!("$.other")
        } else if name.starts_with("Is") || name.starts_with("Boolean") {
            json!(true)
        } else if name.starts_with("Numeric") {
            json!(1)
        } else if name.starts_with("Timestamp") {
            json!("2016-03-14T01:59:00Z")
        } else {
            json!("text*")
        };
        rules.push(json!({"Variable": "$.v", name: value, "Next": "D"}));
    }
    assert_eq!(
        rules.len(),
        4 * 5 * 2 - 8 + 1 + 6,
        "every operator of every family, with and without Path"
    );
    rules.push(
        json!({"And": [{"Or": [{"Not": {"Variable": "$.v", "IsNull": true}}]}], "Next": "D"}),
    );
    let def = machine(json!({"C": {"Type": "Choice", "Choices": rules}, "D": {"Type": "Succeed"}}));
    assert!(diagnostics(&def).is_empty(), "{:#?}", diagnostics(&def));
}

#[test]
fn wait_needs_exactly_one_time_field() {
    assert_single_error(
        machine(json!({"W": {"Type": "Wait", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/W",
        "it has none",
    );
    assert_single_error(
        machine(
            json!({"W": {"Type": "Wait", "Seconds": 1, "Timestamp": "2016-03-14T01:59:00Z", "End": true}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/W",
        "it has Seconds and Timestamp",
    );
    assert_single_error(
        machine(json!({"W": {"Type": "Wait", "Timestamp": "2016-03-14 01:59:00", "End": true}})),
        "INVALID_TIMESTAMP",
        "/States/W/Timestamp",
        "2016-03-14T01:59:00Z",
    );
    assert_single_error(
        machine(json!({"W": {"Type": "Wait", "SecondsPath": "$.a[*]", "End": true}})),
        "INVALID_PATH",
        "/States/W/SecondsPath",
        "not allowed",
    );
}

#[test]
fn fail_fields() {
    assert_single_error(
        machine(json!({"F": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/F/ErrorPath",
        "not both",
    );
    assert_single_error(
        machine(json!({"F": {"Type": "Fail", "CausePath": "States.Format('{}')"}})),
        "INVALID_INTRINSIC",
        "/States/F/CausePath",
        "placeholder",
    );
    assert!(errors(&machine(json!({"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('x {}', $.c)"}}))).is_empty());
}

#[test]
fn task_resources_and_timeouts() {
    assert_single_error(
        machine(json!({"T": {"Type": "Task", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T",
        "'Resource'",
    );
    assert_single_error(
        machine(json!({"T": {"Type": "Task", "Resource": "my-function", "End": true}})),
        "INVALID_RESOURCE",
        "/States/T/Resource",
        "not an ARN",
    );
    assert_single_error(
        machine(
            json!({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "TimeoutSeconds": 10, "HeartbeatSeconds": 10, "End": true}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/HeartbeatSeconds",
        "must be smaller",
    );
    assert_single_error(
        machine(
            json!({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "TimeoutSeconds": 10, "TimeoutSecondsPath": "$.t", "End": true}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/T/TimeoutSecondsPath",
        "not both",
    );
}

#[test]
fn credentials_are_accepted_with_a_warning() {
    let def = machine(
        json!({"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Credentials": {"RoleArn": "arn:aws:iam::1:role/x"}, "End": true}}),
    );
    let parsed = parse(&def.to_string()).unwrap();
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].severity, Severity::Warning);
    assert_eq!(parsed.warnings[0].code.as_str(), "IGNORED_FIELD");
    assert_eq!(parsed.warnings[0].location, "/States/T/Credentials");
}

#[test]
fn missing_dollar_suffix_is_a_warning() {
    let def = machine(
        json!({"P": {"Type": "Pass", "Parameters": {"id": "$.order.id", "nested": {"f": "States.UUID()"}, "ok.$": "$.x", "plain": "text"}, "End": true}}),
    );
    let d = diagnostics(&def);
    let warnings: Vec<(&str, &str)> = d
        .iter()
        .map(|d| (d.code.as_str(), d.location.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            ("NO_DOLLAR", "/States/P/Parameters/id"),
            ("NO_DOLLAR", "/States/P/Parameters/nested/f")
        ]
    );
    assert!(d.iter().all(|d| d.severity == Severity::Warning));
}

#[test]
fn path_and_intrinsic_syntax_errors_point_at_the_field() {
    assert_single_error(
        machine(json!({"P": {"Type": "Pass", "InputPath": "$.a[", "End": true}})),
        "INVALID_PATH",
        "/States/P/InputPath",
        "never closed",
    );
    assert_single_error(
        machine(json!({"P": {"Type": "Pass", "ResultPath": "$..a", "End": true}})),
        "INVALID_PATH",
        "/States/P/ResultPath",
        "not a valid reference path",
    );
    assert_single_error(
        machine(json!({"P": {"Type": "Pass", "ResultPath": "$$.Execution", "End": true}})),
        "INVALID_PATH",
        "/States/P/ResultPath",
        "context object",
    );
    assert_single_error(
        machine(
            json!({"P": {"Type": "Pass", "Parameters": {"a": {"b.$": "States.Array(1"}}, "End": true}}),
        ),
        "INVALID_INTRINSIC",
        "/States/P/Parameters/a/b.$",
        "never closed",
    );
    assert_single_error(
        machine(json!({"P": {"Type": "Pass", "Parameters": {"x.$": "$.a["}, "End": true}})),
        "INVALID_PATH",
        "/States/P/Parameters/x.$",
        "not a valid path",
    );
    assert_single_error(
        machine(json!({"P": {"Type": "Pass", "Parameters": {"x.$": 5}, "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/P/Parameters/x.$",
        "must be a string",
    );
}

#[test]
fn branch_errors_carry_the_branch_path() {
    let def = machine(json!({
        "P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "Nowhere"}}}
        ]},
    }));
    assert_single_error(
        def,
        "MISSING_TRANSITION_TARGET",
        "/States/P/Branches/1/States/B/Next",
        "'Nowhere'",
    );
    let map = machine(
        json!({"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Wait", "End": true}}}}}),
    );
    assert_single_error(
        map,
        "SCHEMA_VALIDATION_FAILED",
        "/States/M/ItemProcessor/States/X",
        "exactly one of Seconds",
    );
    // A Next may not leave its branch.
    let escape = machine(json!({
        "P": {"Type": "Parallel", "Next": "After", "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "After"}}}]},
        "After": {"Type": "Succeed"}
    }));
    assert_single_error(
        escape,
        "MISSING_TRANSITION_TARGET",
        "/States/P/Branches/0/States/A/Next",
        "not a state in this branch",
    );
}

#[test]
fn map_fields() {
    let processor = json!({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}});
    assert_single_error(
        machine(json!({"M": {"Type": "Map", "End": true}})),
        "SCHEMA_VALIDATION_FAILED",
        "/States/M",
        "needs 'ItemProcessor'",
    );
    assert_single_error(
        machine(
            json!({"M": {"Type": "Map", "End": true, "ItemProcessor": processor, "Iterator": processor}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/M/Iterator",
        "not both",
    );
    assert_single_error(
        machine(
            json!({"M": {"Type": "Map", "End": true, "ItemProcessor": processor, "ItemSelector": {}, "Parameters": {}}}),
        ),
        "SCHEMA_VALIDATION_FAILED",
        "/States/M/Parameters",
        "not both",
    );
    // The older Iterator and Parameters still work.
    let legacy = machine(
        json!({"M": {"Type": "Map", "End": true, "Iterator": processor, "Parameters": {"i.$": "$$.Map.Item.Index"}, "ItemsPath": "$.items", "MaxConcurrency": 2}}),
    );
    let parsed = parse(&legacy.to_string()).unwrap_or_else(|d| panic!("{d:#?}"));
    let StateKind::Map(m) = &parsed.machine.root.states["M"].kind else {
        panic!()
    };
    assert!(m.item_selector.is_some());
    assert_eq!(m.max_concurrency, Setting::Fixed(2));
    assert!(
        parsed.machine.root.states["M"].flow.parameters.is_none(),
        "Map's Parameters is its ItemSelector"
    );
}

#[test]
fn unsupported_features_are_rejected_clearly() {
    let cases = [
        (
            machine(
                json!({"M": {"Type": "Map", "End": true, "ItemReader": {}, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}),
            ),
            "/States/M/ItemReader",
            "distributed Map",
        ),
        (
            machine(
                json!({"M": {"Type": "Map", "End": true, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}),
            ),
            "/States/M/ItemProcessor/ProcessorConfig/Mode",
            "DISTRIBUTED",
        ),
        (
            machine(
                json!({"M": {"Type": "Map", "End": true, "ItemBatcher": {}, "ResultWriter": {}, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}),
            ),
            "/States/M/ItemBatcher",
            "distributed Map",
        ),
    ];
    for (def, location, part) in cases {
        let d = diagnostics(&def);
        let first = d
            .iter()
            .find(|d| d.severity == Severity::Error)
            .unwrap_or_else(|| panic!("{def}: no error"));
        assert_eq!(first.code.as_str(), "UNSUPPORTED_FEATURE", "{def}: {d:#?}");
        assert_eq!(first.location, location);
        assert!(first.message.contains(part), "{}", first.message);
    }
    // QueryLanguage JSONPath is the default and accepted.
    let jsonpath =
        json!({"StartAt": "A", "QueryLanguage": "JSONPath", "States": {"A": {"Type": "Succeed"}}});
    assert!(diagnostics(&jsonpath).is_empty());
}

#[test]
fn all_problems_are_reported_not_just_the_first() {
    let def = json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "Missing"},
            "B": {"Type": "Wait", "End": true},
            "C": {"Type": "Task", "Resource": "nope", "End": true}
        }
    });
    let codes: Vec<&str> = errors(&def).into_iter().map(|(c, _)| c).collect();
    assert_eq!(
        codes,
        [
            "SCHEMA_VALIDATION_FAILED",
            "INVALID_RESOURCE",
            "MISSING_TRANSITION_TARGET"
        ]
    );
}

#[test]
fn diagnostics_display_with_code_location_and_message() {
    let d = Diagnostic {
        severity: Severity::Error,
        code: Code::MissingTransitionTarget,
        location: "/States/A/Next".into(),
        message: "Next names 'B'".into(),
    };
    assert_eq!(
        d.to_string(),
        "error MISSING_TRANSITION_TARGET at /States/A/Next: Next names 'B'"
    );
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"severity": "ERROR", "code": "MISSING_TRANSITION_TARGET", "location": "/States/A/Next", "message": "Next names 'B'"})
    );
}

#[test]
fn a_full_definition_parses_into_typed_states() {
    let def = json!({
        "Comment": "every state type",
        "StartAt": "Prepare",
        "TimeoutSeconds": 3600,
        "Version": "1.0",
        "States": {
            "Prepare": {"Type": "Pass", "Result": {"n": [1, 2, 3]}, "ResultPath": "$.data", "Next": "Work"},
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "worker", "Payload.$": "$"},
                "ResultSelector": {"out.$": "$.Payload"}, "ResultPath": "$.result", "TimeoutSecondsPath": "$.timeout", "HeartbeatSeconds": 5,
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}], "Next": "Fan"},
            "Fan": {"Type": "Parallel", "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Wait", "Seconds": 0, "End": true}}},
                {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": true}}}
            ], "ResultSelector": {"first.$": "$[0]"}, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.data.n", "ItemSelector": {"value.$": "$$.Map.Item.Value"}, "MaxConcurrencyPath": "$.max",
                "ToleratedFailureCount": 1, "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double", "States": {"Double": {"Type": "Pass", "End": true}}},
                "Next": "Route"},
            "Route": {"Type": "Choice", "Choices": [{"Variable": "$[0].value", "NumericGreaterThan": 0, "Next": "Done"}], "Default": "Failed"},
            "Done": {"Type": "Succeed", "OutputPath": "$[0]"},
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "Cause": "it broke"}
        }
    });
    let parsed = parse(&def.to_string()).unwrap_or_else(|d| panic!("{d:#?}"));
    let m = parsed.machine;
    assert_eq!(m.timeout_seconds, Some(3600));
    assert_eq!(m.version.as_deref(), Some("1.0"));
    assert_eq!(m.root.comment.as_deref(), Some("every state type"));
    let types: Vec<&str> = m.root.states.values().map(|s| s.kind.type_name()).collect();
    assert_eq!(
        types,
        [
            "Pass", "Task", "Parallel", "Map", "Choice", "Succeed", "Fail"
        ]
    );
    assert_eq!(m.root.start().name, "Prepare");
    assert_eq!(
        m.root.states["Prepare"].transition,
        Some(Transition::Next("Work".into()))
    );
    let StateKind::Task(task) = &m.root.states["Work"].kind else {
        panic!()
    };
    assert_eq!(task.heartbeat, Some(Setting::Fixed(5)));
    assert!(matches!(task.timeout, Some(Setting::Path(_))));
    assert_eq!(task.errors.catch[0].next, "Failed");
    let StateKind::Parallel(parallel) = &m.root.states["Fan"].kind else {
        panic!()
    };
    assert_eq!(parallel.branches.len(), 2);
    assert_eq!(m.root.states["Done"].transition, None);
}

#[test]
fn a_definition_nested_past_the_limit_is_refused_at_its_line() {
    let template = |levels: usize| (0..levels).fold(json!("x"), |inner, _| json!({ "k": inner }));
    let definition = |levels: usize| {
        json!({"StartAt": "P", "States": {"P": {
            "Type": "Pass", "Parameters": template(levels), "End": true}}})
    };
    // The document, States and P are three levels; the template's objects the rest.
    assert!(parse(&definition(json::MAX_NESTING - 3).to_string()).is_ok());
    let text = serde_json::to_string_pretty(&definition(json::MAX_NESTING - 2)).unwrap();
    let errs = parse(&text).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].code, Code::InvalidJsonDescription);
    // The 101st '{' is the first one past the limit.
    let (at, _) = text.match_indices('{').nth(json::MAX_NESTING).unwrap();
    let deepest_line = text[..at].matches('\n').count() + 1;
    assert!(
        errs[0].message.contains(&format!(
            "more than 100 levels deep (line {deepest_line}, column"
        )),
        "{}",
        errs[0].message
    );
}

#[test]
fn a_filter_nested_a_thousand_deep_is_a_diagnostic_not_a_crash() {
    let filter = format!("$.a[?{}@.b > 1{}]", "(".repeat(1000), ")".repeat(1000));
    let errs = parse(
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": filter, "End": true}}})
            .to_string(),
    )
    .unwrap_err();
    assert!(
        errs.iter()
            .any(|d| d.location == "/States/P/InputPath" && d.message.contains("nest more than")),
        "{errs:#?}"
    );
}

#[test]
fn the_last_second_of_year_9999_is_a_valid_timestamp() {
    for stamp in ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999-05:00"] {
        let definition = machine(json!({"W": {"Type": "Wait", "Timestamp": stamp, "End": true}}));
        assert!(parse(&definition.to_string()).is_ok(), "{stamp}");
    }
}
