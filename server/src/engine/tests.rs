//! Engine tests: run definitions against a scripted world (a clock, a task queue and a
//! timer list kept by the test), and check the history, the outcome, and that replaying
//! the history rebuilds the same execution state.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::asl::random::SeededRandom;
use crate::asl::validate::parse;

const START_MS: i64 = 1_700_000_000_000;

struct Offer {
    token: String,
    queue: String,
    input: Value,
}

/// An execution driven by hand, for tests elsewhere in the crate too.
pub(crate) struct World {
    machine: Machine,
    pub(crate) execution: Execution,
    pub(crate) history: Vec<Event>,
    now_ms: i64,
    random: SeededRandom,
    timers: BTreeMap<TimerKey, i64>,
    /// The engine's ledger of its timers, kept as the runtime keeps it.
    armed: ArmedTimers,
    offers: Vec<Offer>,
    closed: Vec<String>,
    /// The most events the execution may have (AWS's 25,000 unless a test lowers it).
    history_limit: u64,
}

impl World {
    fn new(definition: Value) -> Self {
        let parsed = parse(&definition.to_string()).unwrap_or_else(|d| panic!("{d:#?}"));
        World {
            machine: Machine::new(parsed.machine),
            execution: Execution::new(identity()),
            history: Vec::new(),
            now_ms: START_MS,
            random: SeededRandom::new(11),
            timers: BTreeMap::new(),
            armed: ArmedTimers::default(),
            offers: Vec::new(),
            closed: Vec::new(),
            history_limit: 25_000,
        }
    }

    pub(crate) fn start(definition: Value, input: Value) -> Self {
        Self::start_limited(definition, input, 25_000)
    }

    /// Starts an execution that may have at most `history_limit` events.
    pub(crate) fn start_limited(definition: Value, input: Value, history_limit: u64) -> Self {
        let mut world = World::new(definition);
        world.history_limit = history_limit;
        world
            .apply(Command::Start {
                input,
                role_arn: "arn:aws:iam::000000000000:role/stepwise".into(),
                timeout_seconds: None,
            })
            .unwrap();
        world
    }

    fn apply(&mut self, command: Command) -> Result<(), CommandError> {
        let limits = crate::asl::jsonata::Limits::default();
        let mut env = Env {
            now_ms: self.now_ms,
            random: &mut self.random,
            max_payload_bytes: 256 * 1024,
            max_history_events: self.history_limit,
            jsonata: &limits,
        };
        let outcome = apply(
            &mut self.execution,
            &mut self.armed,
            &self.machine,
            command,
            &mut env,
        )?;
        for (i, event) in outcome.events.iter().enumerate() {
            let expected = self.history.len() as u64 + 1 + i as u64;
            assert_eq!(event.id, expected, "event ids are contiguous");
        }
        self.history.extend(outcome.events);
        for effect in outcome.effects {
            match effect {
                Effect::OfferTask {
                    delivery_token,
                    queue,
                    input,
                    ..
                } => self.offers.push(Offer {
                    token: delivery_token,
                    queue,
                    input,
                }),
                // A taken task is no longer on offer (as the runtime's queue hands it out).
                Effect::TaskTaken { delivery_token, .. } => {
                    self.offers.retain(|o| o.token != delivery_token)
                }
                Effect::CloseTask {
                    task_token,
                    delivery_token,
                    ..
                } => {
                    self.offers.retain(|o| o.token != delivery_token);
                    self.closed.push(task_token);
                }
                Effect::ArmTimer { key, due_ms } => {
                    self.timers.insert(key, due_ms);
                }
                Effect::CancelTimer { key, due_ms } => {
                    // (A timer that just fired is no longer armed.)
                    if let (Some(due_ms), Some(armed)) = (due_ms, self.timers.get(&key)) {
                        assert_eq!(*armed, due_ms, "a cancelled timer names its due time");
                    }
                    self.timers.remove(&key);
                }
            }
        }
        // The engine's ledger holds the armed timers no event records, and an ended
        // execution leaves no timer behind: the engine cancelled every one itself.
        let durable: BTreeMap<TimerKey, i64> = self
            .timers
            .iter()
            .filter(|(key, _)| key.is_durable() && !key.due_in_history())
            .map(|(key, due)| (key.clone(), *due))
            .collect();
        assert_eq!(
            ArmedTimers::restore(durable.clone()),
            self.armed,
            "the ledger matches the armed timers"
        );
        if self.execution.status != Status::Running {
            assert!(
                self.timers.is_empty(),
                "an ended execution leaves timers armed: {:?}",
                self.timers
            );
        }
        // The property the store relies on: the history alone rebuilds the state.
        assert_eq!(
            Execution::replay(identity(), &self.history),
            self.execution,
            "replay(history) == state"
        );
        Ok(())
    }

    /// StopExecution without an error or cause.
    pub(crate) fn stop(&mut self) {
        self.apply(Command::Stop {
            error: None,
            cause: None,
        })
        .unwrap();
    }

    /// Takes the oldest offer on `queue` (TaskStarted) and returns its token and input.
    pub(crate) fn take(&mut self, queue: &str) -> (String, Value) {
        let index = self
            .offers
            .iter()
            .position(|o| o.queue == queue)
            .unwrap_or_else(|| panic!("nothing offered on {queue}; offers: {:?}", self.queues()));
        let offer = self.offers.remove(index);
        self.apply(Command::TaskStarted {
            token: offer.token.clone(),
            worker_name: "test-worker".into(),
            poll_id: None,
        })
        .unwrap();
        (offer.token, offer.input)
    }

    pub(crate) fn succeed(&mut self, queue: &str, output: Value) -> Value {
        let (token, input) = self.take(queue);
        self.apply(Command::TaskSucceeded { token, output })
            .unwrap();
        input
    }

    pub(crate) fn fail(&mut self, queue: &str, error: &str, cause: &str) {
        let (token, _) = self.take(queue);
        self.apply(Command::TaskFailed {
            token,
            error: error.into(),
            cause: cause.into(),
        })
        .unwrap();
    }

    fn queues(&self) -> Vec<String> {
        self.offers.iter().map(|o| o.queue.clone()).collect()
    }

    /// Moves the clock to the earliest timer and fires it; returns how far it moved.
    pub(crate) fn fire_next_timer(&mut self) -> i64 {
        let (key, due) = self
            .timers
            .iter()
            .min_by_key(|(_, due)| **due)
            .map(|(k, d)| (k.clone(), *d))
            .expect("a timer is armed");
        self.timers.remove(&key);
        let moved = due - self.now_ms;
        self.now_ms = self.now_ms.max(due);
        self.apply(Command::TimerFired(key)).unwrap();
        moved
    }

    /// The timers armed now, as the runtime would hold them.
    pub(crate) fn timer_keys(&self) -> Vec<TimerKey> {
        self.timers.keys().cloned().collect()
    }

    pub(crate) fn types(&self) -> Vec<String> {
        self.history.iter().map(|e| e.kind.type_name()).collect()
    }

    pub(crate) fn status(&self) -> Status {
        self.execution.status
    }
}

pub(crate) fn identity() -> Identity {
    Identity {
        arn: "arn:aws:states:us-east-1:000000000000:execution:M:run-1".into(),
        name: "run-1".into(),
        machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:M".into(),
        machine_name: "M".into(),
    }
}

fn fixture(name: &str) -> Value {
    crate::examples::json(name)
}

pub(crate) fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
}

#[test]
fn pass_chain_runs_to_completion_in_one_step() {
    let world = World::start(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.x, $.n)"}, "Next": "C"},
            "C": {"Type": "Succeed"}
        }}),
        json!({"n": 41}),
    );
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(world.execution.output, Some(json!({"sum": 42})));
    assert_eq!(
        world.types(),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(world.execution.transitions, 3);
    assert!(world.execution.threads.is_empty());
}

#[test]
fn choice_seed_routes_200_500_and_fails_otherwise() {
    for (status, wait_ms, outcome) in [
        (200, 1000, Status::Succeeded),
        (500, 5000, Status::Succeeded),
        (404, 0, Status::Failed),
    ] {
        let mut world = World::start(fixture("choice-state.asl.json"), json!({}));
        world.succeed("AMIS_deciding_function", json!({"statusCode": status}));
        if outcome == Status::Succeeded {
            assert_eq!(world.status(), Status::Running);
            assert_eq!(world.fire_next_timer(), wait_ms);
        }
        assert_eq!(world.status(), outcome, "status code {status}");
        if outcome == Status::Failed {
            assert_eq!(
                world.execution.error.as_deref(),
                Some("States.NoChoiceMatched")
            );
            assert_eq!(world.types().last().unwrap(), "ExecutionFailed");
        } else {
            let name = if status == 200 { "Correct" } else { "Error" };
            let entered = world
                .history
                .iter()
                .any(|e| matches!(&e.kind, EventKind::StateEntered { name: n, .. } if n == name));
            assert!(entered, "{name} was entered");
        }
    }
}

#[test]
fn test_pipeline_runs_branches_concurrently_then_waits_240_seconds() {
    let mut world = World::start(fixture("test-pipeline.asl.json"), json!({"commit": "abc"}));
    let mut queues = world.queues();
    queues.sort();
    assert_eq!(
        queues,
        [
            "AMIS_perftest_test",
            "AMIS_unittest_test_accept",
            "AMIS_unittest_test_update_db"
        ],
        "all three branches start at once"
    );
    world.succeed("AMIS_unittest_test_accept", json!({"accept": "ok"}));
    assert_eq!(
        world
            .queues()
            .iter()
            .filter(|q| *q == "AMIS_unittest_test_decrypt")
            .count(),
        1,
        "decrypt follows accept"
    );
    world.succeed("AMIS_unittest_test_update_db", json!({"update_db": "ok"}));
    world.succeed("AMIS_perftest_test", json!({"perf": "ok"}));
    world.succeed("AMIS_unittest_test_decrypt", json!({"decrypt": "ok"}));
    assert_eq!(world.status(), Status::Running);
    assert_eq!(world.fire_next_timer(), 240_000);
    world.succeed("AMIS_perftest_get_stats", json!({"stats": [1, 2]}));
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(
        world.execution.output,
        Some(json!([{"decrypt": "ok"}, {"update_db": "ok"}, {"stats": [1, 2]}]))
    );
    let types = world.types();
    assert!(types.contains(&"ParallelStateStarted".to_string()));
    assert!(
        !types.contains(&"ParallelStateSucceeded".to_string()),
        "AWS records no ParallelStateSucceeded"
    );
    let started = types
        .iter()
        .position(|t| t == "ParallelStateStarted")
        .unwrap();
    let exited = types
        .iter()
        .rposition(|t| t == "ParallelStateExited")
        .unwrap();
    assert!(started < exited);
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "LambdaFunctionScheduled")
            .count(),
        5
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "LambdaFunctionStarted")
            .count(),
        5
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "LambdaFunctionSucceeded")
            .count(),
        5
    );
}

#[test]
fn test_pipeline_failing_unit_test_fails_the_parallel_and_cancels_the_others() {
    let mut world = World::start(fixture("test-pipeline.asl.json"), json!({}));
    world.take("AMIS_perftest_test");
    world.fail(
        "AMIS_unittest_test_update_db",
        "AssertionError",
        "test_update_db failed",
    );
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(world.execution.error.as_deref(), Some("AssertionError"));
    assert!(
        world.offers.is_empty(),
        "the queued accept task was withdrawn"
    );
    assert_eq!(world.closed.len(), 3, "every task was closed");
    let types = world.types();
    assert_eq!(
        types.iter().filter(|t| *t == "TaskStateAborted").count(),
        2,
        "{types:?}"
    );
    assert!(types.contains(&"ParallelStateFailed".to_string()));
    assert_eq!(types.last().unwrap(), "ExecutionFailed");
    // A late result for an aborted task is rejected.
    let stale = world.closed[0].clone();
    assert_eq!(
        world.apply(Command::TaskSucceeded {
            token: stale,
            output: json!({})
        }),
        Err(CommandError::NotRunning("FAILED"))
    );
}

fn retrying_task(retry: Value, catch: Value) -> Value {
    json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": lambda("flaky"), "Retry": retry, "Catch": catch, "Next": "Done"},
        "Recovered": {"Type": "Pass", "End": true},
        "Done": {"Type": "Succeed"}
    }})
}

#[test]
fn retries_back_off_as_durable_timers_then_succeed() {
    let mut world = World::start(
        retrying_task(
            json!([{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 3}]),
            json!([{"ErrorEquals": ["Unrelated"], "Next": "Recovered"}]),
        ),
        json!({"job": 1}),
    );
    world.fail("flaky", "Flaky", "once");
    assert!(
        world.offers.is_empty(),
        "nothing is offered during the backoff"
    );
    assert_eq!(world.fire_next_timer(), 2000);
    world.fail("flaky", "Flaky", "twice");
    assert_eq!(world.fire_next_timer(), 6000);
    let input = world.succeed("flaky", json!({"ok": true}));
    assert_eq!(
        input,
        json!({"job": 1}),
        "every attempt gets the same input"
    );
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(
        world.execution.transitions,
        2 + 2,
        "two states entered plus two retries"
    );
    let scheduled = world
        .types()
        .iter()
        .filter(|t| *t == "LambdaFunctionScheduled")
        .count();
    assert_eq!(scheduled, 3);
}

#[test]
fn retries_exhausted_go_to_the_catcher_with_error_output() {
    let mut world = World::start(
        retrying_task(
            json!([{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}]),
            json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recovered"}]),
        ),
        json!({"job": 2}),
    );
    world.fail("flaky", "Boom", "first");
    world.fire_next_timer();
    world.fail("flaky", "Boom", "second");
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(
        world.execution.output,
        Some(json!({"job": 2, "error": {"Error": "Boom", "Cause": "second"}}))
    );
    let types = world.types();
    let failed = types
        .iter()
        .position(|t| t == "LambdaFunctionFailed")
        .unwrap();
    assert_eq!(
        types[failed + 1],
        "LambdaFunctionScheduled",
        "a retry schedules the task again without re-entering"
    );
    assert!(types.contains(&"TaskStateExited".to_string()));
}

#[test]
fn heartbeat_timeout_fails_with_states_heartbeat_timeout() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:000000000000:activity:slow", "HeartbeatSeconds": 5, "TimeoutSeconds": 60,
            "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Late"}], "End": true},
        "Late": {"Type": "Pass", "End": true}
    }});
    let mut world = World::start(definition, json!({}));
    let (token, _) = world.take("slow");
    assert_eq!(
        world.fire_next_timer(),
        5000,
        "the heartbeat deadline comes first"
    );
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(
        world.execution.output,
        Some(
            json!({"Error": "States.HeartbeatTimeout", "Cause": "No heartbeat within HeartbeatSeconds (5 s)"})
        )
    );
    assert!(world.types().contains(&"ActivityTimedOut".to_string()));
    assert!(world.timers.is_empty(), "the task timeout was cancelled");
    assert_eq!(
        world.apply(Command::TaskSucceeded {
            token,
            output: json!({})
        }),
        Err(CommandError::NotRunning("SUCCEEDED"))
    );
}

#[test]
fn task_timeout_fails_the_execution_and_late_results_are_rejected() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "TimeoutSeconds": 30, "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 100, "End": true}
    }});
    let mut world = World::start(definition, json!({}));
    assert_eq!(world.fire_next_timer(), 30_000);
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(world.execution.error.as_deref(), Some("States.Timeout"));
    assert_eq!(world.types()[3], "TaskTimedOut");
}

#[test]
fn map_runs_items_with_max_concurrency_and_collects_outputs_in_order() {
    let definition = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
            "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "tag.$": "$.tag"},
            "ItemProcessor": {"StartAt": "Double", "States": {
                "Double": {"Type": "Task", "Resource": lambda("double"), "End": true}
            }}, "End": true}
    }});
    let mut world = World::start(definition, json!({"items": [1, 2, 3, 4, 5], "tag": "t"}));
    assert_eq!(world.queues().len(), 2, "MaxConcurrency 2");
    let mut seen = Vec::new();
    while world.status() == Status::Running {
        assert!(world.queues().len() <= 2);
        // Finish the newest first to show the outputs keep item order.
        let last = world.offers.len() - 1;
        let queue = world.offers[last].queue.clone();
        let (token, input) = {
            let offer = world.offers.remove(last);
            world.offers.push(offer);
            world.take(&queue)
        };
        seen.push(input["i"].as_u64().unwrap());
        let n = input["n"].as_i64().unwrap();
        assert_eq!(input["tag"], "t");
        world
            .apply(Command::TaskSucceeded {
                token,
                output: json!(n * 2),
            })
            .unwrap();
    }
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(world.execution.output, Some(json!([2, 4, 6, 8, 10])));
    assert_eq!(seen.len(), 5);
    let types = world.types();
    assert_eq!(
        types.iter().filter(|t| *t == "MapIterationStarted").count(),
        5
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "MapIterationSucceeded")
            .count(),
        5
    );
    assert!(types.contains(&"MapStateSucceeded".to_string()));
}

#[test]
fn map_over_an_empty_array_succeeds_at_once() {
    let definition = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}
    }});
    let world = World::start(definition, json!([]));
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(world.execution.output, Some(json!([])));
}

#[test]
fn map_tolerates_failures_up_to_the_threshold() {
    let definition = |tolerated: u64| {
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ToleratedFailureCount": tolerated,
                "ItemProcessor": {"StartAt": "Check", "States": {
                    "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 2, "Next": "Bad"}], "Default": "Good"},
                    "Bad": {"Type": "Fail", "Error": "TooBig", "Cause": "over 2"},
                    "Good": {"Type": "Succeed"}
                }}, "End": true}
        }})
    };
    let world = World::start(definition(2), json!([1, 2, 3, 4]));
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(
        world.execution.output,
        Some(
            json!([1, 2, {"Error": "TooBig", "Cause": "over 2"}, {"Error": "TooBig", "Cause": "over 2"}])
        )
    );
    let world = World::start(definition(1), json!([1, 2, 3, 4]));
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(
        world.execution.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert!(world.types().contains(&"MapStateFailed".to_string()));
}

#[test]
fn map_without_tolerance_fails_with_the_iterations_error() {
    let definition = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "MaxConcurrency": 1, "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": lambda("w"), "End": true}}},
            "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$.err", "Next": "Handled"}], "End": true},
        "Handled": {"Type": "Pass", "End": true}
    }});
    let mut world = World::start(definition, json!({"x": 1, "items": [1, 2, 3]}));
    world.succeed("w", json!(1));
    world.fail("w", "Broken", "item 1");
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(
        world.execution.output,
        Some(json!({"x": 1, "items": [1, 2, 3], "err": {"Error": "Broken", "Cause": "item 1"}}))
    );
    assert!(world.offers.is_empty(), "item 2 never started");
}

#[test]
fn stop_aborts_everything_in_flight() {
    let mut world = World::start(fixture("test-pipeline.asl.json"), json!({}));
    world.take("AMIS_unittest_test_accept");
    world
        .apply(Command::Stop {
            error: Some("Cancelled".into()),
            cause: Some("user asked".into()),
        })
        .unwrap();
    assert_eq!(world.status(), Status::Aborted);
    assert_eq!(world.execution.error.as_deref(), Some("Cancelled"));
    assert!(world.offers.is_empty());
    let types = world.types();
    assert_eq!(types.iter().filter(|t| *t == "TaskStateAborted").count(), 3);
    assert!(types.contains(&"ParallelStateAborted".to_string()));
    assert_eq!(types.last().unwrap(), "ExecutionAborted");
    assert_eq!(
        world.apply(Command::Stop {
            error: None,
            cause: None
        }),
        Err(CommandError::NotRunning("ABORTED"))
    );
}

#[test]
fn execution_timeout_times_out_a_waiting_execution() {
    let definition = json!({"TimeoutSeconds": 10, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let mut world = World::start(definition, json!({}));
    assert_eq!(world.fire_next_timer(), 10_000);
    assert_eq!(world.status(), Status::TimedOut);
    assert_eq!(world.execution.error.as_deref(), Some("States.Timeout"));
    assert!(world.types().contains(&"WaitStateAborted".to_string()));
    assert!(world.timers.is_empty());
}

#[test]
fn wait_for_a_past_timestamp_completes_at_once() {
    let definition = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.at", "End": true}}});
    let world = World::start(definition, json!({"at": "2016-03-14T01:59:00Z"}));
    assert_eq!(world.status(), Status::Succeeded);
    assert!(world.timers.is_empty());
}

#[test]
fn wait_for_task_token_completes_only_through_the_task_token() {
    let definition = json!({"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"MessageBody": {"token.$": "$$.Task.Token", "q.$": "$.question"}}, "End": true}
    }});
    let mut world = World::start(definition, json!({"question": "deploy?"}));
    let (delivery, input) = world.take("sqs:sendMessage");
    let task_token = input["MessageBody"]["token"].as_str().unwrap().to_string();
    assert_ne!(delivery, task_token);
    world
        .apply(Command::TaskSucceeded {
            token: delivery.clone(),
            output: json!({"MessageId": "m1"}),
        })
        .unwrap();
    assert_eq!(
        world.status(),
        Status::Running,
        "delivering the message does not complete the task"
    );
    assert!(world.types().contains(&"TaskSubmitted".to_string()));
    assert_eq!(
        world.apply(Command::TaskSucceeded {
            token: delivery,
            output: json!({})
        }),
        Err(CommandError::UnknownToken)
    );
    world
        .apply(Command::TaskSucceeded {
            token: task_token,
            output: json!({"approved": true}),
        })
        .unwrap();
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(world.execution.output, Some(json!({"approved": true})));
}

#[test]
fn lambda_invoke_wraps_the_result_like_aws() {
    let definition = json!({"StartAt": "Invoke", "States": {
        "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:resize:live", "Payload.$": "$"},
            "ResultSelector": {"size.$": "$.Payload.size", "code.$": "$.StatusCode"}, "End": true}
    }});
    let mut world = World::start(definition, json!({"img": "a.png"}));
    let input = world.succeed("resize", json!({"size": 10}));
    assert_eq!(
        input,
        json!({"img": "a.png"}),
        "the function receives its Payload as the event"
    );
    let scheduled = world.history.iter().find_map(|e| match &e.kind {
        EventKind::TaskScheduled { parameters, .. } => Some(parameters.clone()),
        _ => None,
    });
    assert_eq!(
        scheduled,
        Some(
            json!({"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:resize:live", "Payload": {"img": "a.png"}})
        ),
        "the history keeps the full Parameters"
    );
    assert_eq!(
        world.execution.output,
        Some(json!({"size": 10, "code": 200}))
    );
}

#[test]
fn context_object_reaches_paths_and_tokens_are_unguessable() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"exec.$": "$$.Execution.Name", "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name",
                "retries.$": "$$.State.RetryCount", "token.$": "$$.Task.Token", "input.$": "$$.Execution.Input"},
            "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 1}], "End": true}
    }});
    let mut world = World::start(definition, json!({"k": 1}));
    world.fail("sns:publish", "E", "");
    world.fire_next_timer();
    let (token, input) = world.take("sns:publish");
    assert_eq!(input["exec"], "run-1");
    assert_eq!(input["state"], "T");
    assert_eq!(input["machine"], "M");
    assert_eq!(input["retries"], 1);
    assert_eq!(input["input"], json!({"k": 1}));
    assert_eq!(input["token"], token.as_str());
    // The execution's ARN hash (which partition holds it), then 128 random bits.
    assert_eq!(token.len(), 48);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        crate::placement::token_hash(&token),
        Some(crate::placement::arn_hash(&world.execution.identity.arn))
    );
}

#[test]
fn context_reads_in_choice_rules_wait_paths_and_intrinsics_after_states_that_skip_it() {
    // Plain states skip building the context object; the ones after them still see it.
    let definition = json!({"StartAt": "Plain", "States": {
        "Plain": {"Type": "Pass", "Result": {"n": 0}, "Next": "Choose"},
        "Choose": {"Type": "Choice",
            "Choices": [{"Variable": "$$.Execution.Input.go", "BooleanEquals": true, "Next": "Pause"}]},
        "Pause": {"Type": "Wait", "SecondsPath": "$$.Execution.Input.seconds", "Next": "Say"},
        "Say": {"Type": "Pass", "Parameters": {"s.$": "States.Format('{} in {}', $$.State.Name, $$.Execution.Name)"}, "End": true}
    }});
    let mut world = World::start(definition, json!({"go": true, "seconds": 5}));
    world.fire_next_timer();
    assert_eq!(world.status(), Status::Succeeded);
    assert_eq!(world.execution.output, Some(json!({"s": "Say in run-1"})));
}

#[test]
fn runtime_errors_fail_the_execution_with_a_clear_cause() {
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.missing", "End": true}}});
    let world = World::start(definition, json!({}));
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(world.execution.error.as_deref(), Some("States.Runtime"));
    assert!(
        world
            .execution
            .cause
            .as_deref()
            .unwrap()
            .contains("$.missing")
    );
    assert_eq!(
        world.types(),
        ["ExecutionStarted", "PassStateEntered", "ExecutionFailed"]
    );
}

#[test]
fn fail_state_ends_with_its_error_and_cause() {
    let definition = json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "CausePath": "$.why"}}});
    let world = World::start(definition, json!({"why": "because"}));
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(
        (
            world.execution.error.as_deref(),
            world.execution.cause.as_deref()
        ),
        (Some("Nope"), Some("because"))
    );
}

#[test]
fn unknown_tokens_and_double_starts_are_rejected() {
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("f"), "End": true}}});
    let mut world = World::start(definition, json!({}));
    assert_eq!(
        world.apply(Command::TaskSucceeded {
            token: "nope".into(),
            output: json!(1)
        }),
        Err(CommandError::UnknownToken)
    );
    let token = world.offers[0].token.clone();
    world
        .apply(Command::TaskStarted {
            token: token.clone(),
            worker_name: "a".into(),
            poll_id: None,
        })
        .unwrap();
    assert_eq!(
        world.apply(Command::TaskStarted {
            token,
            worker_name: "b".into(),
            poll_id: None
        }),
        Err(CommandError::AlreadyStarted)
    );
    assert_eq!(
        world.apply(Command::Start {
            input: json!({}),
            role_arn: String::new(),
            timeout_seconds: None,
        }),
        Err(CommandError::ExecutionAlreadyStarted)
    );
}

#[test]
fn oversized_task_results_fail_with_data_limit_exceeded() {
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("big"),
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Never"}], "End": true}, "Never": {"Type": "Succeed"}}});
    let mut world = World::start(definition, json!({}));
    world.succeed("big", json!({"blob": "x".repeat(300 * 1024)}));
    assert_eq!(
        world.status(),
        Status::Failed,
        "States.ALL does not catch DataLimitExceeded"
    );
    assert_eq!(
        world.execution.error.as_deref(),
        Some("States.DataLimitExceeded")
    );
}

#[test]
fn nested_parallel_inside_map_inside_parallel() {
    let definition = json!({"StartAt": "Outer", "States": {
        "Outer": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "Inner", "States": {
                "Inner": {"Type": "Parallel", "End": true, "Branches": [
                    {"StartAt": "L", "States": {"L": {"Type": "Pass", "End": true}}},
                    {"StartAt": "R", "States": {"R": {"Type": "Task", "Resource": lambda("r"), "End": true}}}
                ]}
            }}}}},
            {"StartAt": "Side", "States": {"Side": {"Type": "Wait", "Seconds": 1, "End": true}}}
        ]}
    }});
    let mut world = World::start(definition, json!([1, 2]));
    world.succeed("r", json!("r1"));
    world.succeed("r", json!("r2"));
    world.fire_next_timer();
    assert_eq!(world.status(), Status::Succeeded);
    let output = world.execution.output.clone().unwrap();
    assert_eq!(output[0], json!([[1, "r1"], [2, "r2"]]));
    assert_eq!(output[1], json!([1, 2]));
}

#[test]
fn a_loop_is_stopped_at_the_history_limit() {
    let definition = json!({"StartAt": "Count", "States": {
        "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 100000, "Next": "Count"}], "Default": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    let world = World::start(definition, json!({"n": 0}));
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(world.execution.error.as_deref(), Some("States.Runtime"));
    // AWS fails an execution whose history would exceed the limit: it never does.
    assert!(
        (24_950..=25_000).contains(&world.history.len()),
        "{} events",
        world.history.len()
    );
    assert_eq!(world.types().last().unwrap(), "ExecutionFailed");
}

#[test]
fn a_map_over_many_items_goes_on_in_bounded_steps_and_replays() {
    let definition = json!({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": true,
        "ItemSelector": {"v.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}});
    let items: Vec<u64> = (0..3000).collect();
    let mut world = World::start(definition, json!({"items": items}));
    let mut steps = 1;
    let mut longest = world.history.len();
    while world.status() == Status::Running {
        // Each further step is a MapContinue timer, due at once.
        assert!(matches!(
            world.timers.keys().next(),
            Some(TimerKey::MapContinue { .. })
        ));
        let before = world.history.len();
        world.fire_next_timer();
        longest = longest.max(world.history.len() - before);
        steps += 1;
        assert!(steps < 100, "the Map ends");
    }
    assert_eq!(world.status(), Status::Succeeded);
    let output = world.execution.output.clone().unwrap();
    assert_eq!(output.as_array().unwrap().len(), 3000);
    assert_eq!(output[2999], json!({"v": 2999}));
    assert!(steps > 3, "the work was spread over {steps} steps");
    assert!(
        longest < 5 * decide::STEP_EVENTS,
        "no step held more than a few times its share: {longest} events"
    );
}

#[test]
fn a_map_over_100000_items_fails_at_the_history_limit_without_passing_it() {
    let definition = json!({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}});
    let mut world = World::start(definition, json!({"items": vec![0; 100_000]}));
    let mut steps = 1;
    while world.status() == Status::Running {
        world.fire_next_timer();
        steps += 1;
        assert!(steps < 100, "the Map ends");
    }
    assert_eq!(world.status(), Status::Failed);
    assert_eq!(world.execution.error.as_deref(), Some("States.Runtime"));
    assert!(
        (22_900..=25_000).contains(&world.history.len()),
        "{} events",
        world.history.len()
    );
}

#[test]
fn a_wait_reads_its_own_entry_from_the_context_object() {
    // The due time is computed before the Entered event; `$$.State` is still this state.
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Next": "Pause"},
        "Pause": {"Type": "Wait", "TimestampPath": "$$.State.Name", "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    let world = World::start(definition, json!({}));
    assert_eq!(world.status(), Status::Failed);
    let cause = world.execution.cause.clone().unwrap();
    assert!(cause.contains("selects \"Pause\""), "{cause}");
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Next": "Pause"},
        "Pause": {"Type": "Wait", "TimestampPath": "$$.State.EnteredTime", "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    let world = World::start(definition, json!({}));
    assert_eq!(
        world.status(),
        Status::Succeeded,
        "a Wait until its own entry ends at once"
    );
}
