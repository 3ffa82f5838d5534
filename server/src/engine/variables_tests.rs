//! Engine tests of JSONata states and workflow variables: each field in each state type,
//! AWS's evaluation order and scoping rules, the errors, and that a history replayed
//! (as after a restart) restores the variables in flight.

use serde_json::{Value, json};

use super::execution::{Execution, Status};
use super::history::EventKind;
use super::tests::{World, identity, lambda};

/// The variables each StateExited assigned, by state name, in order.
fn assignments(world: &World) -> Vec<(String, Value)> {
    world
        .history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StateExited { name, assigned, .. } if !assigned.is_empty() => {
                Some((name.clone(), serde_json::to_value(assigned).unwrap()))
            }
            _ => None,
        })
        .collect()
}

fn failure(world: &World) -> (String, String) {
    (
        world.execution.error.clone().unwrap_or_default(),
        world.execution.cause.clone().unwrap_or_default(),
    )
}

#[test]
fn jsonata_pass_states_assign_and_output_with_the_values_from_before_the_state() {
    let world = World::start(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
            "A": {"Type": "Pass", "Assign": {"x": 1, "y": "{% $states.input.v %}"},
                  "Output": {"v": "{% $states.input.v + 1 %}"}, "Next": "B"},
            "B": {"Type": "Pass", "Assign": {"x": "{% $x + 10 %}"},
                  "Output": {"seenX": "{% $x %}", "y": "{% $y %}"}, "Next": "C"},
            "C": {"Type": "Succeed", "Output": {"x": "{% $x %}", "previous": "{% $states.input %}"}}
        }}),
        json!({"v": 5}),
    );
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    // Output in B read x before B's own Assign; C reads what B assigned.
    assert_eq!(
        world.execution.output,
        Some(json!({"x": 11, "previous": {"seenX": 1, "y": 5}}))
    );
    assert_eq!(
        assignments(&world),
        [
            ("A".to_string(), json!({"x": 1, "y": 5})),
            ("B".to_string(), json!({"x": 11}))
        ]
    );
}

#[test]
fn jsonpath_assign_reads_the_selected_result_and_paths_read_variables() {
    let world = World::start(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": {"r": 7}, "ResultPath": "$.res",
                  "Assign": {"fromResult.$": "$.r", "greeting": "hi"}, "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {
                    "a.$": "$fromResult",
                    "b.$": "States.Format('{} {}', $greeting, $fromResult)",
                    "c.$": "$.res.r"}, "Next": "C"},
            "C": {"Type": "Choice", "Choices": [
                    {"Variable": "$fromResult", "NumericEquals": 7, "Next": "Seven",
                     "Assign": {"taken": "seven"}}],
                  "Default": "Other"},
            "Seven": {"Type": "Pass", "Parameters": {"taken.$": "$taken", "all.$": "$"}, "End": true},
            "Other": {"Type": "Fail", "Error": "Wrong"}
        }}),
        json!({}),
    );
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    assert_eq!(
        world.execution.output,
        Some(json!({"taken": "seven", "all": {"a": 7, "b": "hi 7", "c": 7}}))
    );
}

#[test]
fn jsonata_task_arguments_settings_output_assign_and_catch() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": lambda("work"),
              "Arguments": {"job": "{% $states.input.job %}", "tag": "{% $tag %}"},
              "TimeoutSeconds": "{% $states.input.limit * 2 %}",
              "HeartbeatSeconds": 10,
              "Assign": {"answer": "{% $states.result.value %}"},
              "Output": {"doubled": "{% $states.result.value * 2 %}", "input": "{% $states.input.job %}"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught",
                         "Output": {"why": "{% $states.errorOutput.Error %}", "job": "{% $states.input.job %}"},
                         "Assign": {"failedWith": "{% $states.errorOutput.Cause %}"}}],
              "Next": "Done"},
        "Done": {"Type": "Succeed", "Output": "{% {'out': $states.input, 'answer': $answer} %}"},
        "Caught": {"Type": "Succeed", "Output": "{% $merge([$states.input, {'cause': $failedWith}]) %}"}
    }});
    let mut branch = definition.clone();
    branch.as_object_mut().unwrap().remove("QueryLanguage");
    let machine = json!({"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"tag": "nightly"}, "Next": "Run"},
        "Run": {"Type": "Parallel", "Branches": [branch], "End": true,
                "Output": "{% $states.result[0] %}"}
    }});
    let mut world = World::start(machine.clone(), json!({"job": 3, "limit": 30}));
    assert_eq!(world.status(), Status::Running, "{:?}", failure(&world));
    let scheduled = world
        .history
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::TaskScheduled {
                timeout_seconds,
                heartbeat_seconds,
                ..
            } => Some((*timeout_seconds, *heartbeat_seconds)),
            _ => None,
        })
        .unwrap();
    assert_eq!(scheduled, (Some(60), Some(10)));
    let input = world.succeed("work", json!({"value": 21}));
    assert_eq!(input, json!({"job": 3, "tag": "nightly"}));
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    assert_eq!(
        world.execution.output,
        Some(json!({"out": {"doubled": 42, "input": 3}, "answer": 21}))
    );

    // The same Task failing goes to the catcher, whose Output and Assign read errorOutput.
    // (Alone, the branch reads `$tag`, which nothing assigned: that error is caught too.)
    let world = World::start(definition, json!({"job": 4, "limit": 30}));
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    assert_eq!(
        world.execution.output.as_ref().unwrap()["why"],
        "States.QueryEvaluationError"
    );
    let mut world = World::start(machine, json!({"job": 4, "limit": 30}));
    world.fail("work", "Boom", "it broke");
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    assert_eq!(
        world.execution.output,
        Some(json!({"why": "Boom", "job": 4, "cause": "it broke"}))
    );
}

#[test]
fn jsonata_choice_wait_fail_and_map_fields() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Pick", "States": {
        "Pick": {"Type": "Choice", "Assign": {"seen": "{% $states.input.n %}"},
                 "Choices": [
                    {"Condition": "{% $states.input.n > 10 %}", "Next": "Big",
                     "Assign": {"size": "big"}, "Output": {"n": "{% $states.input.n %}"}},
                    {"Condition": "{% $states.input.n < 0 %}", "Next": "Negative", "Output": "{% $states.input %}"}],
                 "Default": "Small", "Output": {"default": true}},
        "Big": {"Type": "Wait", "Seconds": "{% $states.input.n %}", "Output": {"waited": "{% $states.input.n %}"}, "Next": "Each"},
        "Each": {"Type": "Map", "Items": "{% [1, 2, $seen] %}", "MaxConcurrency": "{% 2 %}",
                 "ItemSelector": {"item": "{% $states.context.Map.Item.Value %}", "index": "{% $states.context.Map.Item.Index %}", "size": "{% $size %}"},
                 "ItemProcessor": {"StartAt": "Square", "States": {
                    "Square": {"Type": "Pass", "Assign": {"local": "{% $states.input.item %}"}, "Output": "{% $states.input.item * $states.input.item & '/' & $states.input.size %}", "End": true}}},
                 "Assign": {"count": "{% $count($states.result) %}"},
                 "Output": {"squares": "{% $states.result %}", "count": "{% $count($states.result) %}"}, "End": true},
        "Small": {"Type": "Wait", "Timestamp": "{% '2016-03-14T01:59:00Z' %}", "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Negative": {"Type": "Fail", "Error": "{% 'Negative.' & $string($seen) %}", "Cause": "{% 'n was ' & $states.input.n %}"}
    }});
    let mut world = World::start(definition.clone(), json!({"n": 12}));
    assert_eq!(world.status(), Status::Running, "{:?}", failure(&world));
    world.fire_next_timer();
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    assert_eq!(
        world.execution.output,
        Some(json!({"squares": ["1/big", "4/big", "144/big"], "count": 3}))
    );
    // Iterations assign in their own scope: `local` never reaches the machine's.
    assert!(
        assignments(&world)
            .iter()
            .any(|(name, v)| name == "Square" && v["local"] == json!(12))
    );
    let root_names: Vec<&String> = world
        .execution
        .threads
        .values()
        .flat_map(|t| t.variables.keys())
        .collect();
    assert!(root_names.is_empty(), "an ended execution keeps no threads");

    let world = World::start(definition.clone(), json!({"n": 3}));
    assert_eq!(
        world.status(),
        Status::Succeeded,
        "a past Timestamp waits no time"
    );
    assert_eq!(world.execution.output, Some(json!({"default": true})));

    let world = World::start(definition, json!({"n": -2}));
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(
        failure(&world),
        ("Negative.-2".to_string(), "n was -2".to_string())
    );
}

#[test]
fn branch_and_iteration_variables_stay_inside_and_outer_ones_are_readable() {
    let world = World::start(
        json!({"StartAt": "Set", "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": 1, "common": "outer"}, "Next": "Fork"},
            "Fork": {"Type": "Parallel", "End": true,
                     "Assign": {"afterFork.$": "$[0].inner"},
                     "Branches": [
                        {"StartAt": "B1", "States": {
                            "B1": {"Type": "Pass", "Assign": {"common": "branch", "mine": 1}, "Next": "B2"},
                            "B2": {"Type": "Pass", "Parameters": {"inner.$": "$common", "outer.$": "$outer"}, "End": true}}},
                        {"StartAt": "C1", "States": {
                            "C1": {"Type": "Pass", "Parameters": {"common.$": "$common"}, "End": true}}}
                     ]}
        }}),
        json!({}),
    );
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    assert_eq!(
        world.execution.output,
        Some(json!([{"inner": "branch", "outer": 1}, {"common": "outer"}])),
        "a branch reads its own value first, a sibling still sees the outer one"
    );
    assert_eq!(
        assignments(&world).last().unwrap(),
        &("Fork".to_string(), json!({"afterFork": "branch"}))
    );
}

#[test]
fn variables_in_flight_survive_a_replay_of_the_history() {
    let mut world = World::start(
        json!({"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
            "Set": {"Type": "Pass", "Assign": {"token": "{% $states.input.t %}", "list": [1, 2]}, "Next": "Work"},
            "Work": {"Type": "Task", "Resource": lambda("slow"), "Output": {"token": "{% $token %}", "list": "{% $list %}", "r": "{% $states.result %}"}, "End": true}
        }}),
        json!({"t": "abc"}),
    );
    // What a restart does: rebuild the execution from its stored history alone.
    let replayed = Execution::replay(identity(), &world.history);
    assert_eq!(replayed.threads[&0].variables["token"], json!("abc"));
    assert_eq!(replayed, world.execution);
    world.execution = replayed;
    world.succeed("slow", json!("done"));
    assert_eq!(
        world.execution.output,
        Some(json!({"token": "abc", "list": [1, 2], "r": "done"}))
    );
}

#[test]
fn evaluation_errors_fail_with_aws_causes_and_can_be_caught() {
    let world = World::start(
        json!({"QueryLanguage": "JSONata", "StartAt": "E", "States": {
            "E": {"Type": "Pass", "Output": {"v": "{% $states.input.missing %}"}, "End": true}
        }}),
        json!({}),
    );
    assert_eq!(
        failure(&world),
        (
            "States.QueryEvaluationError".to_string(),
            "An error occurred while executing the state 'E' (entered at the event id #2). The JSONata expression '$states.input.missing' specified for the field 'Output/v' returned nothing (undefined).".to_string()
        )
    );
    let world = World::start(
        json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("x"), "Arguments": "{% $error('nope') %}",
                  "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Handled"}], "End": true},
            "Handled": {"Type": "Succeed"}
        }}),
        json!({}),
    );
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    let output = world.execution.output.clone().unwrap();
    assert_eq!(output["Error"], json!("States.QueryEvaluationError"));
    assert!(
        output["Cause"]
            .as_str()
            .unwrap()
            .contains("field 'Arguments' threw an error during evaluation"),
        "{output}"
    );
    let world = World::start(
        json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% 'yes' %}", "Next": "D"}]},
            "D": {"Type": "Succeed"}
        }}),
        json!({}),
    );
    assert!(
        failure(&world).1.contains(
            "'Choices[0]/Condition' returned an unexpected result type. Expected a boolean"
        ),
        "{:?}",
        failure(&world)
    );
}

#[test]
fn variables_past_aws_limits_fail_with_data_limit_exceeded() {
    let big = "x".repeat(200 * 1024);
    let world = World::start(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Assign": {"a.$": "$.big", "b.$": "$.big"}, "End": true}
        }}),
        json!({"big": big}),
    );
    assert_eq!(world.status(), Status::Failed);
    let (error, cause) = failure(&world);
    assert_eq!(error, "States.DataLimitExceeded");
    assert!(cause.contains("limit for one Assign"), "{cause}");
    let world = World::start(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Assign": {"a.$": "$.big"}, "Next": "B"},
            "B": {"Type": "Pass", "Assign": {"b.$": "$.big"}, "End": true}
        }}),
        json!({"big": big}),
    );
    assert_eq!(
        world.status(),
        Status::Succeeded,
        "two Assigns under the limits each"
    );
}

#[test]
fn the_other_fields_of_each_state_type_run_in_both_languages() {
    // JSONPath: Assign on a Task (reading the result after ResultSelector), on a Catcher
    // (reading the error output), on a Wait and on a Map (reading its result), and a
    // variable read inside the Map's ItemSelector and iterations.
    let mut world = World::start(
        json!({"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": lambda("jp"), "ResultSelector": {"v.$": "$.value"},
                     "ResultPath": "$.r", "Assign": {"fromTask.$": "$.v"},
                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Nap", "Assign": {"error.$": "$.Error"}}],
                     "Next": "Nap"},
            "Nap": {"Type": "Wait", "Seconds": 0, "Assign": {"napped": true}, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"item.$": "$$.Map.Item.Value", "base.$": "$fromTask"},
                     "ItemProcessor": {"StartAt": "Add", "States": {
                        "Add": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.item, $.base)", "napped.$": "$napped"}, "End": true}}},
                     "Assign": {"sums.$": "$[*].sum"}, "ResultPath": null, "Next": "Show"},
            "Show": {"Type": "Pass", "Parameters": {"sums.$": "$sums"}, "End": true}
        }}),
        json!({"items": [1, 2]}),
    );
    world.succeed("jp", json!({"value": 10}));
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    assert_eq!(world.execution.output, Some(json!({"sums": [11, 12]})));
    let mut world = World::start(
        json!({"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": lambda("jp"),
                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Show", "ResultPath": "$.caught", "Assign": {"error.$": "$.Error"}}],
                     "End": true},
            "Show": {"Type": "Pass", "Parameters": {"error.$": "$error", "caught.$": "$.caught.Cause"}, "End": true}
        }}),
        json!({}),
    );
    world.fail("jp", "Oops", "bad day");
    assert_eq!(
        world.execution.output,
        Some(json!({"error": "Oops", "caught": "bad day"}))
    );

    // JSONata: Parallel Arguments and Assign, Wait Assign, Map tolerated failures as
    // expressions.
    let world = World::start(
        json!({"QueryLanguage": "JSONata", "StartAt": "Fork", "States": {
            "Fork": {"Type": "Parallel", "Arguments": {"x": "{% $states.input.x * 10 %}"},
                     "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Output": "{% $states.input.x + 1 %}", "End": true}}}],
                     "Assign": {"forked": "{% $states.result[0] %}"}, "Output": {}, "Next": "Nap"},
            "Nap": {"Type": "Wait", "Seconds": 0, "Assign": {"napped": "{% $forked %}"}, "Next": "Each"},
            "Each": {"Type": "Map", "Items": [1, 0, 2],
                     "ToleratedFailureCount": "{% 1 %}", "ToleratedFailurePercentage": "{% 50 %}",
                     "ItemProcessor": {"StartAt": "Div", "States": {
                        "Div": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input = 0 %}", "Next": "Zero"}], "Default": "Ok"},
                        "Zero": {"Type": "Fail", "Error": "Zero"},
                        "Ok": {"Type": "Succeed", "Output": "{% $napped / $states.input %}"}}},
                     "Output": {"results": "{% $states.result %}"}, "End": true}
        }}),
        json!({"x": 2}),
    );
    assert_eq!(world.status(), Status::Succeeded, "{:?}", failure(&world));
    let output = world.execution.output.clone().unwrap();
    assert_eq!(output["results"][0], json!(21));
    assert_eq!(output["results"][2], json!(10.5));
    assert_eq!(output["results"][1]["Error"], json!("Zero"), "{output}");
}
