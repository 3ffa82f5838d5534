//! The engine cancels every timer it armed once nothing can fire it usefully: an ending
//! execution's (its TimeoutSeconds, a Parallel's retry delay known only to the ledger,
//! a Map's continuation) and an aborted thread's while the execution goes on. The
//! harness also checks, after every command, that no timer outlives its execution.

use serde_json::json;

use super::tests::{World, lambda};
use super::*;

fn backoffs(world: &World) -> Vec<TimerKey> {
    world
        .timer_keys()
        .into_iter()
        .filter(|key| matches!(key, TimerKey::Backoff { .. }))
        .collect()
}

#[test]
fn a_succeeding_execution_cancels_its_own_timeout() {
    let definition = json!({"TimeoutSeconds": 10, "StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": lambda("work"), "End": true}}});
    let mut world = World::start(definition, json!({}));
    assert_eq!(world.timer_keys(), vec![TimerKey::Execution]);
    world.succeed("work", json!(1));
    assert_eq!(world.status(), Status::Succeeded);
    assert!(world.timer_keys().is_empty());
}

/// A Parallel retried on any error, whose one branch is a task.
fn retried_parallel(next: serde_json::Value) -> serde_json::Value {
    let mut parallel = json!({"Type": "Parallel",
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 30}],
        "Branches": [{"StartAt": "Inner", "States": {
            "Inner": {"Type": "Task", "Resource": lambda("inner"), "End": true}}}]});
    let fields = parallel.as_object_mut().unwrap();
    match next {
        serde_json::Value::String(next) => fields.insert("Next".into(), json!(next)),
        _ => fields.insert("End".into(), json!(true)),
    };
    parallel
}

#[test]
fn a_stopped_execution_cancels_a_parallels_retry_delay() {
    let definition = json!({"StartAt": "Fan", "States": {"Fan": retried_parallel(json!(null))}});
    let mut world = World::start(definition, json!({}));
    world.fail("inner", "Boom", "first attempt");
    // No event records this retry (AWS records none): only the timer and the ledger know
    // when it is due.
    let [TimerKey::Backoff { error, .. }] = &backoffs(&world)[..] else {
        panic!("{:?}", world.timer_keys())
    };
    assert_eq!(error.as_deref(), Some("Boom"));
    world.stop();
    assert_eq!(world.status(), Status::Aborted);
    assert!(world.timer_keys().is_empty());
}

#[test]
fn an_aborted_branch_cancels_its_parallels_retry_delay_while_the_execution_goes_on() {
    let definition = json!({"StartAt": "Outer", "States": {
        "Outer": {"Type": "Parallel", "Next": "Done",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
            "Branches": [
                {"StartAt": "Fan", "States": {"Fan": retried_parallel(json!(null))}},
                {"StartAt": "Other", "States": {
                    "Other": {"Type": "Task", "Resource": lambda("other"), "End": true}}}
            ]},
        "Done": {"Type": "Pass", "Next": "Hold"},
        "Hold": {"Type": "Wait", "Seconds": 100, "End": true}}});
    let mut world = World::start(definition, json!({}));
    world.fail("inner", "Boom", "first attempt");
    assert_eq!(backoffs(&world).len(), 1, "{:?}", world.timer_keys());
    // The sibling branch fails: the retrying Parallel is aborted with its delay.
    world.fail("other", "Other", "sibling");
    assert_eq!(world.status(), Status::Running);
    assert!(backoffs(&world).is_empty(), "{:?}", world.timer_keys());
    assert!(matches!(world.timer_keys()[..], [TimerKey::Wait { .. }]));
}

#[test]
fn a_stopped_execution_cancels_a_maps_continuation() {
    let definition = json!({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}});
    let items: Vec<u64> = (0..3000).collect();
    let mut world = World::start(definition, json!({"items": items}));
    assert!(matches!(
        world.timer_keys()[..],
        [TimerKey::MapContinue { .. }]
    ));
    world.stop();
    assert!(world.timer_keys().is_empty());
}
