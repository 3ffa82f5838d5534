//! What the console colours each state by: a fold over an execution's events into one
//! status per state name, with what the details panel shows (input, output, error and
//! cause, retries, timing). Pure: the same events always give the same board.
//!
//! A state inside a Map runs once per item, so its status sums up every run: running
//! while any run is, then failed if any failed, then caught or aborted, then succeeded.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::asl::variables::Scope;

use crate::engine::history::Recovery;
use crate::engine::{Event, EventKind, ThreadId};

/// How one run of a state went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Entered and not left yet.
    Running,
    /// Left with an output.
    Succeeded,
    /// Failed, and nothing caught it.
    Failed,
    /// Failed, and a Catch led elsewhere.
    Caught,
    /// Stopped because a sibling branch failed or the execution ended.
    Aborted,
}

/// One state's status and what the console shows for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateStatus {
    /// The status the graph shows (see the module comment).
    pub status: RunStatus,
    /// How many times it was entered (more than once in a Map or a loop).
    pub runs: u32,
    /// Runs in progress.
    pub running: u32,
    /// Retries over every run.
    pub retries: u32,
    /// The last run's input.
    pub input: Option<Value>,
    /// The last run's output, once it has one.
    pub output: Option<Value>,
    /// The variables the last run's Assign set.
    pub assigned: Option<Scope>,
    /// The last error seen, with its cause.
    pub error: Option<String>,
    /// The cause of `error`.
    pub cause: Option<String>,
    /// When the last run was entered, Unix ms.
    pub entered_ms: Option<i64>,
    /// When the last run ended, Unix ms.
    pub ended_ms: Option<i64>,
    /// Runs by outcome, for the summary.
    pub outcomes: BTreeMap<&'static str, u32>,
}

/// The statuses of an execution's states, updated one event at a time.
#[derive(Debug, Default)]
pub struct StatusBoard {
    states: BTreeMap<String, StateStatus>,
    /// The state each thread is in, and whether a Catch has claimed its failure.
    at: HashMap<ThreadId, (String, bool)>,
}

impl StatusBoard {
    /// A board after `events`.
    pub fn from_events(events: &[Event]) -> StatusBoard {
        let mut board = StatusBoard::default();
        for event in events {
            board.apply(event);
        }
        board
    }

    /// Every state seen so far, by name.
    pub fn states(&self) -> &BTreeMap<String, StateStatus> {
        &self.states
    }

    /// The state `event` concerns: the state its thread is in (call before `apply`).
    pub fn state_of(&self, event: &Event) -> Option<String> {
        match &event.kind {
            EventKind::StateEntered { name, .. } => Some(name.clone()),
            kind => kind
                .thread()
                .and_then(|thread| self.at.get(&thread))
                .map(|(name, _)| name.clone()),
        }
    }

    /// Folds in one event; returns the names of the states it changed.
    pub fn apply(&mut self, event: &Event) -> Vec<String> {
        let at = event.timestamp_ms;
        match &event.kind {
            EventKind::StateEntered {
                thread,
                name,
                input,
                ..
            } => {
                self.at.insert(*thread, (name.clone(), false));
                let state = self
                    .states
                    .entry(name.clone())
                    .or_insert_with(|| StateStatus {
                        status: RunStatus::Running,
                        runs: 0,
                        running: 0,
                        retries: 0,
                        input: None,
                        output: None,
                        assigned: None,
                        error: None,
                        cause: None,
                        entered_ms: None,
                        ended_ms: None,
                        outcomes: BTreeMap::new(),
                    });
                state.runs += 1;
                state.running += 1;
                state.input = Some(input.clone());
                state.output = None;
                state.entered_ms = Some(at);
                state.ended_ms = None;
                self.refresh(name);
                vec![name.clone()]
            }
            EventKind::StateExited {
                thread,
                output,
                assigned,
                ..
            } => {
                let caught = self.at.get(thread).is_some_and(|(_, caught)| *caught);
                let outcome = if caught {
                    RunStatus::Caught
                } else {
                    RunStatus::Succeeded
                };
                if let Some((name, _)) = self.at.get(thread)
                    && let Some(state) = self.states.get_mut(name)
                {
                    state.assigned = (!assigned.is_empty()).then(|| assigned.clone());
                }
                self.end_run(*thread, outcome, at, Some(output))
            }
            EventKind::StateAborted { thread, .. } => {
                self.end_run(*thread, RunStatus::Aborted, at, None)
            }
            EventKind::ExecutionFailed { error, cause } => {
                // A state that fails the execution outright (a runtime error in its
                // data processing) has no failure event of its own.
                self.end_all(RunStatus::Failed, error, cause, at)
            }
            EventKind::ExecutionAborted { .. } | EventKind::ExecutionTimedOut { .. } => {
                self.end_all(RunStatus::Aborted, &None, &None, at)
            }
            kind => match kind.failure() {
                Some((thread, error, cause, recovery)) => {
                    self.failure(thread, error, cause, recovery, at)
                }
                None => Vec::new(),
            },
        }
    }

    fn failure(
        &mut self,
        thread: ThreadId,
        error: &str,
        cause: &str,
        recovery: &Recovery,
        at: i64,
    ) -> Vec<String> {
        let Some((name, caught)) = self.at.get_mut(&thread) else {
            return Vec::new();
        };
        let name = name.clone();
        if let Some(state) = self.states.get_mut(&name) {
            state.error = Some(error.to_string());
            state.cause = Some(cause.to_string());
        }
        match recovery {
            Recovery::Retry { .. } => {
                if let Some(state) = self.states.get_mut(&name) {
                    state.retries += 1;
                }
                vec![name]
            }
            // The state exits with the next event, towards the catcher's Next.
            Recovery::Caught => {
                *caught = true;
                vec![name]
            }
            Recovery::Propagated => self.end_run(thread, RunStatus::Failed, at, None),
        }
    }

    /// Ends every run still in progress (the execution ended).
    fn end_all(
        &mut self,
        outcome: RunStatus,
        error: &Option<String>,
        cause: &Option<String>,
        at: i64,
    ) -> Vec<String> {
        let threads: Vec<ThreadId> = self.at.keys().copied().collect();
        let mut changed = Vec::new();
        for thread in threads {
            if let Some((name, _)) = self.at.get(&thread)
                && outcome == RunStatus::Failed
                && let Some(state) = self.states.get_mut(name)
                && state.error.is_none()
            {
                state.error = error.clone();
                state.cause = cause.clone();
            }
            changed.extend(self.end_run(thread, outcome, at, None));
        }
        changed
    }

    fn end_run(
        &mut self,
        thread: ThreadId,
        outcome: RunStatus,
        at: i64,
        output: Option<&Value>,
    ) -> Vec<String> {
        let Some((name, _)) = self.at.remove(&thread) else {
            return Vec::new();
        };
        if let Some(state) = self.states.get_mut(&name) {
            state.running = state.running.saturating_sub(1);
            state.ended_ms = Some(at);
            if let Some(output) = output {
                state.output = Some(output.clone());
            }
            *state.outcomes.entry(outcome_name(outcome)).or_default() += 1;
        }
        self.refresh(&name);
        vec![name]
    }

    /// Recomputes the summed-up status of `name`.
    fn refresh(&mut self, name: &str) {
        let Some(state) = self.states.get_mut(name) else {
            return;
        };
        let count = |outcome| {
            state
                .outcomes
                .get(outcome_name(outcome))
                .copied()
                .unwrap_or_default()
        };
        state.status = if state.running > 0 {
            RunStatus::Running
        } else if count(RunStatus::Failed) > 0 {
            RunStatus::Failed
        } else if count(RunStatus::Caught) > 0 {
            RunStatus::Caught
        } else if count(RunStatus::Aborted) > 0 {
            RunStatus::Aborted
        } else {
            RunStatus::Succeeded
        };
    }
}

fn outcome_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Caught => "caught",
        RunStatus::Aborted => "aborted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::World;
    use serde_json::json;

    fn statuses(world: &World) -> Vec<(String, RunStatus)> {
        StatusBoard::from_events(&world.history)
            .states()
            .iter()
            .map(|(name, state)| (name.clone(), state.status))
            .collect()
    }

    fn seed(name: &str) -> Value {
        crate::examples::json(name)
    }

    #[test]
    fn the_choice_seed_goes_running_then_succeeded_state_by_state() {
        let mut world = World::start(seed("choice-state.asl.json"), json!({"code": 500}));
        assert_eq!(
            statuses(&world),
            [("Deciding Lambda Function".into(), RunStatus::Running)]
        );
        world.succeed("AMIS_deciding_function", json!({"statusCode": 500}));
        assert_eq!(
            statuses(&world),
            [
                ("ChoiceState".into(), RunStatus::Succeeded),
                ("Deciding Lambda Function".into(), RunStatus::Succeeded),
                ("Error".into(), RunStatus::Running),
            ]
        );
        world.fire_next_timer();
        let board = StatusBoard::from_events(&world.history);
        let error = &board.states()["Error"];
        assert_eq!(error.status, RunStatus::Succeeded);
        assert_eq!(error.input, Some(json!({"statusCode": 500})));
        assert_eq!(error.output, Some(json!({"statusCode": 500})));
        assert!(error.ended_ms >= error.entered_ms);
    }

    #[test]
    fn a_failed_parallel_branch_is_red_and_its_running_siblings_aborted() {
        let mut world = World::start(seed("test-pipeline.asl.json"), json!({}));
        world.succeed("AMIS_unittest_test_accept", json!({}));
        world.succeed("AMIS_perftest_test", json!({}));
        world.fail(
            "AMIS_unittest_test_update_db",
            "Test.Failed",
            "3 tests failed",
        );
        let board = StatusBoard::from_events(&world.history);
        let status = |name: &str| board.states()[name].status;
        assert_eq!(status("Unittest update_db"), RunStatus::Failed);
        assert_eq!(status("Unittest accept"), RunStatus::Succeeded);
        assert_eq!(status("Unittest decrypt"), RunStatus::Aborted);
        assert_eq!(status("Wait 4 min"), RunStatus::Aborted);
        assert_eq!(status("Parallel"), RunStatus::Failed);
        assert!(!board.states().contains_key("End of tests"));
        let failed = &board.states()["Unittest update_db"];
        assert_eq!(failed.error.as_deref(), Some("Test.Failed"));
        assert_eq!(failed.cause.as_deref(), Some("3 tests failed"));
    }

    #[test]
    fn retries_count_and_a_caught_failure_is_marked_caught() {
        let definition = json!({"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "work"},
                "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}], "Next": "Done"},
            "Recover": {"Type": "Pass", "End": true},
            "Done": {"Type": "Succeed"}
        }});
        let mut world = World::start(definition, json!({}));
        world.fail("work", "Flaky", "once");
        world.fire_next_timer();
        world.fail("work", "Broken", "for good");
        let board = StatusBoard::from_events(&world.history);
        let work = &board.states()["Work"];
        assert_eq!(work.status, RunStatus::Caught);
        assert_eq!(work.retries, 1);
        assert_eq!(work.error.as_deref(), Some("Broken"));
        assert_eq!(board.states()["Recover"].status, RunStatus::Succeeded);
        assert!(!board.states().contains_key("Done"));
    }

    #[test]
    fn map_body_states_sum_up_their_runs() {
        let definition = json!({"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "ItemsPath": "$.items", "ToleratedFailureCount": 5,
                "ItemProcessor": {"StartAt": "Do", "States": {
                    "Do": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "do"}, "End": true}}},
                "End": true}
        }});
        let mut world = World::start(definition, json!({"items": [1, 2, 3]}));
        world.succeed("do", json!(1));
        let board = StatusBoard::from_events(&world.history);
        let each_do = &board.states()["Do"];
        assert_eq!(
            (each_do.status, each_do.runs, each_do.running),
            (RunStatus::Running, 3, 2)
        );
        world.fail("do", "E", "c");
        world.succeed("do", json!(3));
        let board = StatusBoard::from_events(&world.history);
        let each_do = &board.states()["Do"];
        assert_eq!(each_do.status, RunStatus::Failed);
        assert_eq!(each_do.outcomes.get("succeeded"), Some(&2));
        assert_eq!(board.states()["Each"].status, RunStatus::Succeeded);
    }

    #[test]
    fn a_runtime_error_fails_the_state_it_happened_in() {
        let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.missing", "End": true}}});
        let world = World::start(definition, json!({}));
        let board = StatusBoard::from_events(&world.history);
        let p = &board.states()["P"];
        assert_eq!(p.status, RunStatus::Failed);
        assert_eq!(p.error.as_deref(), Some("States.Runtime"));
    }
}
