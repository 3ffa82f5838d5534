//! Retry and Catch: given the error a state raised and how often each retrier has
//! already fired, decide whether to retry (and after how long), which catcher to follow
//! (and with what input), or to fail.
//!
//! Following AWS ("A retrier's parameters apply across all visits to the retrier in the
//! context of a single-state execution"), the first retrier whose ErrorEquals matches
//! decides, even when its attempts are spent, and then the catchers are consulted.
//!
//! AWS's worked example (errors A, B, C, B, B against a retrier for A and B with
//! MaxAttempts 2) waits 1 s, 2 s, 5 s, then *4 s*, and stops only at the fifth error
//! because "it has already reached its limit of two retries (MaxAttempts) for that
//! particular error (ErrorB)". So the backoff grows with every firing of the retrier,
//! while MaxAttempts is counted per error name within the retrier. `RetryCounts` keeps
//! both.

use crate::asl::error::names;
use crate::asl::validate::MAX_DELAY_SECONDS;
use crate::asl::validate::MAX_SECONDS;
use crate::asl::validate::Obj;
use crate::asl::validate::Reader;
use crate::asl::validate::StateLinks;
use crate::asl::validate::Target as Link;
use crate::asl::validate::short;
use serde_json::Value;

use super::definition::QueryLanguage;
use super::error::{StatesError, error_equals};
use super::io::apply_result_path;
use super::jsonata::JsonataValue;
use super::path::ReferencePath;
use super::payload::Payload;
use super::random::RandomSource;

/// How a retrier spreads its delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// The computed backoff as it is (the default).
    #[default]
    None,
    /// A random delay between 0 and the computed backoff.
    Full,
}

/// One element of `Retry`.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// The error names it handles.
    pub error_equals: Vec<String>,
    /// Seconds before the first retry (default 1).
    pub interval_seconds: u64,
    /// Retries before giving up (default 3; 0 means never retry).
    pub max_attempts: u32,
    /// Multiplier applied to the delay after each retry (default 2.0).
    pub backoff_rate: f64,
    /// Upper bound on any one delay, in seconds.
    pub max_delay_seconds: Option<u64>,
    /// `JitterStrategy`.
    pub jitter: Jitter,
}

impl Default for Retrier {
    fn default() -> Self {
        Retrier {
            error_equals: Vec::new(),
            interval_seconds: 1,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: None,
            jitter: Jitter::None,
        }
    }
}

impl Retrier {
    /// The delay before retry number `retries_done + 1`, in milliseconds.
    pub fn delay_ms(&self, retries_done: u32, random: &mut dyn RandomSource) -> u64 {
        let mut seconds =
            self.interval_seconds as f64 * self.backoff_rate.powi(retries_done as i32);
        if let Some(max) = self.max_delay_seconds {
            seconds = seconds.min(max as f64);
        }
        if self.jitter == Jitter::Full {
            seconds *= random.next_f64();
        }
        // Bounded so a huge BackoffRate cannot overflow; a year is beyond any Standard
        // execution's lifetime anyway.
        (seconds * 1000.0).clamp(0.0, 366.0 * 86_400_000.0).round() as u64
    }
}

/// One element of `Catch`.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// The error names it handles.
    pub error_equals: Vec<String>,
    /// The state to go to.
    pub next: String,
    /// Where the error output goes in the state's input; `None` discards it. Default `$`.
    pub result_path: Option<ReferencePath>,
    /// JSONata `Output`: the state's output when this catcher is taken (default: the
    /// error output).
    pub output: Option<JsonataValue>,
    /// `Assign`: variables set when this catcher is taken.
    pub assign: Option<Payload>,
}

/// A state's `Retry` and `Catch` (Task, Parallel, Map).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorHandling {
    /// `Retry`, in order.
    pub retry: Vec<Retrier>,
    /// `Catch`, in order.
    pub catch: Vec<Catcher>,
}

/// How often each retrier has fired for one state entry, in total and per error name.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RetryCounts {
    /// Firings per retrier index.
    per_retrier: Vec<u32>,
    /// Firings per (retrier index, error name).
    per_error: Vec<(usize, String, u32)>,
}

impl RetryCounts {
    /// Firings of retrier `index` so far (drives the backoff).
    pub fn fired(&self, index: usize) -> u32 {
        self.per_retrier.get(index).copied().unwrap_or(0)
    }

    /// Firings of retrier `index` for the error `name` (limited by MaxAttempts).
    pub fn fired_for(&self, index: usize, name: &str) -> u32 {
        self.per_error
            .iter()
            .find(|(i, n, _)| *i == index && n == name)
            .map_or(0, |(_, _, count)| *count)
    }

    /// Every retry of this state entry, for `$$.State.RetryCount`.
    pub fn total(&self) -> u32 {
        self.per_retrier.iter().sum()
    }

    /// Records that retrier `index` fired for `name`.
    pub fn record(&mut self, index: usize, name: &str) {
        if self.per_retrier.len() <= index {
            self.per_retrier.resize(index + 1, 0);
        }
        self.per_retrier[index] += 1;
        match self
            .per_error
            .iter_mut()
            .find(|(i, n, _)| *i == index && n == name)
        {
            Some((_, _, count)) => *count += 1,
            None => self.per_error.push((index, name.to_string(), 1)),
        }
    }
}

/// What to do about an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// Run the state again after `delay_ms`.
    Retry {
        /// Which retrier fired (already recorded in the counts).
        retrier: usize,
        /// Milliseconds to wait first.
        delay_ms: u64,
    },
    /// Leave the state for `next` with `output` as the next state's input.
    Catch {
        /// Which catcher matched.
        catcher: usize,
        /// The state to go to.
        next: String,
        /// The state input with the error output placed at the catcher's ResultPath.
        output: Value,
    },
    /// Nothing handles it: the error propagates.
    Fail,
}

impl ErrorHandling {
    /// Decides what follows `error`, recording a retry in `counts` when it chooses one.
    ///
    /// Fails only when a catcher's ResultPath cannot be applied to the state input; that
    /// `States.ResultPathMatchFailure` then replaces the original error.
    pub fn recover(
        &self,
        error: &StatesError,
        counts: &mut RetryCounts,
        state_input: &Value,
        random: &mut dyn RandomSource,
    ) -> Result<Recovery, StatesError> {
        if let Some((index, retrier)) = self
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| r.error_equals.iter().any(|name| error_equals(name, error)))
            && counts.fired_for(index, &error.error) < retrier.max_attempts
        {
            let delay_ms = retrier.delay_ms(counts.fired(index), random);
            counts.record(index, &error.error);
            return Ok(Recovery::Retry {
                retrier: index,
                delay_ms,
            });
        }
        for (index, catcher) in self.catch.iter().enumerate() {
            if catcher
                .error_equals
                .iter()
                .any(|name| error_equals(name, error))
            {
                let output = apply_result_path(
                    catcher.result_path.as_ref(),
                    state_input,
                    error.to_error_output(),
                )?;
                return Ok(Recovery::Catch {
                    catcher: index,
                    next: catcher.next.clone(),
                    output,
                });
            }
        }
        Ok(Recovery::Fail)
    }
}

// ---- reading the definition ---------------------------------------------------

impl Reader {
    pub(crate) fn error_handling(&mut self, obj: Obj, links: &mut StateLinks) -> ErrorHandling {
        ErrorHandling {
            retry: self.retriers(obj),
            catch: self.catchers(obj, links),
        }
    }

    pub(crate) fn retriers(&mut self, obj: Obj) -> Vec<Retrier> {
        let Some(items) = self.array(obj, "Retry") else {
            return Vec::new();
        };
        let mut retriers = Vec::with_capacity(items.len());
        for (i, (item_at, map)) in self
            .list_objects(items, &obj.loc("Retry"), "a retrier")
            .into_iter()
            .enumerate()
        {
            let r = Obj { map, at: &item_at };
            self.check_fields(
                r,
                &[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                ],
                "a retrier",
            );
            let error_equals = self.error_equals(r, i + 1 == items.len(), "Retry");
            let mut retrier = Retrier {
                error_equals,
                ..Retrier::default()
            };
            if r.has("IntervalSeconds") {
                retrier.interval_seconds =
                    self.uint(r, "IntervalSeconds", 1, MAX_SECONDS).unwrap_or(1);
            }
            if r.has("MaxAttempts") {
                retrier.max_attempts =
                    self.uint(r, "MaxAttempts", 0, MAX_SECONDS).unwrap_or(0) as u32;
            }
            if r.has("MaxDelaySeconds") {
                retrier.max_delay_seconds = self.uint(r, "MaxDelaySeconds", 1, MAX_DELAY_SECONDS);
            }
            if let Some(value) = r.get("BackoffRate") {
                match value.as_f64() {
                    Some(rate) if rate >= 1.0 => retrier.backoff_rate = rate,
                    _ => self.schema(
                        r.loc("BackoffRate"),
                        format!("'BackoffRate' must be a number of at least 1.0, not {value}"),
                    ),
                }
            }
            match r.get("JitterStrategy") {
                None => {}
                Some(Value::String(s)) if s == "FULL" => retrier.jitter = Jitter::Full,
                Some(Value::String(s)) if s == "NONE" => retrier.jitter = Jitter::None,
                Some(other) => self.schema(
                    r.loc("JitterStrategy"),
                    format!("'JitterStrategy' must be \"FULL\" or \"NONE\", not {other}"),
                ),
            }
            retriers.push(retrier);
        }
        retriers
    }

    pub(crate) fn catchers(&mut self, obj: Obj, links: &mut StateLinks) -> Vec<Catcher> {
        let Some(items) = self.array(obj, "Catch") else {
            return Vec::new();
        };
        let mut catchers = Vec::with_capacity(items.len());
        for (i, (item_at, map)) in self
            .list_objects(items, &obj.loc("Catch"), "a catcher")
            .into_iter()
            .enumerate()
        {
            let c = Obj { map, at: &item_at };
            let jsonata = self.language == QueryLanguage::Jsonata;
            let fields: &[&str] = if jsonata {
                &["ErrorEquals", "Next", "Output", "Assign"]
            } else {
                &["ErrorEquals", "Next", "ResultPath", "Assign"]
            };
            self.check_fields(c, fields, "a catcher");
            let error_equals = self.error_equals(c, i + 1 == items.len(), "Catch");
            let next = self.required_string(c, "Next", "a catcher");
            if let Some(next) = next {
                links.targets.push(Link {
                    name: next.to_string(),
                    location: c.loc("Next"),
                    field: "Next",
                });
            }
            let result_path = if jsonata {
                Some(ReferencePath::root_path())
            } else {
                self.nullable_reference_path(c, "ResultPath")
                    .unwrap_or(Some(ReferencePath::root_path()))
            };
            self.in_catcher = true;
            let output = if jsonata {
                self.jsonata_value(c, "Output")
            } else {
                None
            };
            let assign = self.assign(c);
            self.in_catcher = false;
            if let Some(next) = next {
                catchers.push(Catcher {
                    error_equals,
                    next: next.to_string(),
                    result_path,
                    output,
                    assign,
                });
            }
        }
        catchers
    }

    /// ErrorEquals: a non-empty array of names; States.ALL alone and in the last element.
    pub(crate) fn error_equals(&mut self, obj: Obj, is_last: bool, list: &str) -> Vec<String> {
        let at = obj.loc("ErrorEquals");
        let names_list: Vec<String> = match obj.get("ErrorEquals") {
            None => {
                self.schema(
                    obj.at.to_string(),
                    "'ErrorEquals' is required: the error names this entry handles",
                );
                return Vec::new();
            }
            Some(Value::Array(items))
                if !items.is_empty() && items.iter().all(Value::is_string) =>
            {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            }
            Some(other) => {
                self.schema(
                    at,
                    format!(
                        "'ErrorEquals' must be a non-empty array of error names, not {}",
                        short(other)
                    ),
                );
                return Vec::new();
            }
        };
        if names_list.iter().any(|n| n == names::ALL) {
            if names_list.len() > 1 {
                self.schema(
                    at.clone(),
                    format!("'{}' must appear alone in ErrorEquals", names::ALL),
                );
            }
            if !is_last {
                self.schema(
                    at,
                    format!(
                        "the {list} entry with '{}' must be the last one",
                        names::ALL
                    ),
                );
            }
        }
        names_list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::random::SeededRandom;
    use serde_json::json;

    fn retrier(errors: &[&str], interval: u64, max_attempts: u32, backoff: f64) -> Retrier {
        Retrier {
            error_equals: errors.iter().map(|e| e.to_string()).collect(),
            interval_seconds: interval,
            max_attempts,
            backoff_rate: backoff,
            ..Retrier::default()
        }
    }

    fn catcher(errors: &[&str], next: &str, result_path: Option<&str>) -> Catcher {
        Catcher {
            error_equals: errors.iter().map(|e| e.to_string()).collect(),
            next: next.into(),
            result_path: result_path.map(|p| ReferencePath::parse(p).unwrap()),
            output: None,
            assign: None,
        }
    }

    // AWS "Complex retry scenarios": errors A, B, C, B, B against two retriers and a
    // States.ALL catcher wait 1 s, 2 s, 5 s, 4 s, then go to Z.
    #[test]
    fn aws_complex_retry_scenario() {
        let handling = ErrorHandling {
            retry: vec![
                retrier(&["ErrorA", "ErrorB"], 1, 2, 2.0),
                retrier(&["ErrorC"], 5, 3, 2.0),
            ],
            catch: vec![catcher(&["States.ALL"], "Z", Some("$"))],
        };
        let mut counts = RetryCounts::default();
        let mut random = SeededRandom::new(1);
        let mut delays = Vec::new();
        for name in ["ErrorA", "ErrorB", "ErrorC", "ErrorB", "ErrorB"] {
            let error = StatesError::new(name, "");
            match handling
                .recover(&error, &mut counts, &json!({}), &mut random)
                .unwrap()
            {
                Recovery::Retry { delay_ms, .. } => delays.push(delay_ms),
                Recovery::Catch { next, .. } => {
                    assert_eq!(next, "Z");
                    assert_eq!(delays, [1000, 2000, 5000, 4000]);
                    assert_eq!(counts.total(), 4);
                    return;
                }
                Recovery::Fail => panic!("should have been caught"),
            }
        }
        panic!("the fifth error should have been caught");
    }

    #[test]
    fn aws_backoff_example_waits_3_then_4_5_seconds() {
        let r = retrier(&["States.Timeout"], 3, 2, 1.5);
        let mut random = SeededRandom::new(1);
        assert_eq!(r.delay_ms(0, &mut random), 3000);
        assert_eq!(r.delay_ms(1, &mut random), 4500);
    }

    #[test]
    fn max_attempts_zero_never_retries() {
        let handling = ErrorHandling {
            retry: vec![
                retrier(&["States.Timeout"], 1, 0, 2.0),
                retrier(&["States.ALL"], 1, 3, 2.0),
            ],
            catch: vec![],
        };
        let mut random = SeededRandom::new(1);
        let timeout = StatesError::new("States.Timeout", "");
        assert_eq!(
            handling
                .recover(
                    &timeout,
                    &mut RetryCounts::default(),
                    &json!({}),
                    &mut random
                )
                .unwrap(),
            Recovery::Fail
        );
        let other = StatesError::new("Other", "");
        assert!(matches!(
            handling
                .recover(&other, &mut RetryCounts::default(), &json!({}), &mut random)
                .unwrap(),
            Recovery::Retry {
                retrier: 1,
                delay_ms: 1000
            }
        ));
    }

    #[test]
    fn max_delay_caps_and_full_jitter_stays_below_the_cap() {
        let mut r = retrier(&["E"], 2, 10, 3.0);
        r.max_delay_seconds = Some(10);
        let mut random = SeededRandom::new(9);
        assert_eq!(r.delay_ms(0, &mut random), 2000);
        assert_eq!(r.delay_ms(1, &mut random), 6000);
        assert_eq!(r.delay_ms(2, &mut random), 10_000);
        r.jitter = Jitter::Full;
        let delays: Vec<u64> = (0..100).map(|_| r.delay_ms(5, &mut random)).collect();
        assert!(delays.iter().all(|d| *d <= 10_000));
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "jitter should vary the delay"
        );
    }

    #[test]
    fn catch_places_error_output_at_result_path() {
        let handling = ErrorHandling {
            retry: vec![],
            catch: vec![
                catcher(
                    &["java.lang.Exception"],
                    "RecoveryState",
                    Some("$.error-info"),
                ),
                catcher(&["States.ALL"], "EndState", Some("$")),
            ],
        };
        let mut random = SeededRandom::new(1);
        let input = json!({"order": 7});
        let java = StatesError::new("java.lang.Exception", "boom");
        assert_eq!(
            handling
                .recover(&java, &mut RetryCounts::default(), &input, &mut random)
                .unwrap(),
            Recovery::Catch {
                catcher: 0,
                next: "RecoveryState".into(),
                output: json!({"order": 7, "error-info": {"Error": "java.lang.Exception", "Cause": "boom"}}),
            }
        );
        let other = StatesError::new("Other", "why");
        assert_eq!(
            handling
                .recover(&other, &mut RetryCounts::default(), &input, &mut random)
                .unwrap(),
            Recovery::Catch {
                catcher: 1,
                next: "EndState".into(),
                output: json!({"Error": "Other", "Cause": "why"})
            }
        );
    }

    #[test]
    fn catch_with_null_result_path_keeps_the_input() {
        let handling = ErrorHandling {
            retry: vec![],
            catch: vec![catcher(&["States.ALL"], "N", None)],
        };
        let mut random = SeededRandom::new(1);
        let out = handling
            .recover(
                &StatesError::new("E", ""),
                &mut RetryCounts::default(),
                &json!({"a": 1}),
                &mut random,
            )
            .unwrap();
        assert!(matches!(out, Recovery::Catch { output, .. } if output == json!({"a": 1})));
    }

    #[test]
    fn runtime_errors_are_never_retried_or_caught() {
        let handling = ErrorHandling {
            retry: vec![retrier(&["States.ALL"], 1, 3, 2.0)],
            catch: vec![catcher(&["States.ALL"], "N", Some("$"))],
        };
        let mut random = SeededRandom::new(1);
        let out = handling
            .recover(
                &StatesError::runtime("bad path"),
                &mut RetryCounts::default(),
                &json!({}),
                &mut random,
            )
            .unwrap();
        assert_eq!(out, Recovery::Fail);
    }

    #[test]
    fn unmatched_errors_fail() {
        let handling = ErrorHandling {
            retry: vec![retrier(&["A"], 1, 3, 2.0)],
            catch: vec![catcher(&["B"], "N", Some("$"))],
        };
        let mut random = SeededRandom::new(1);
        assert_eq!(
            handling
                .recover(
                    &StatesError::new("C", ""),
                    &mut RetryCounts::default(),
                    &json!({}),
                    &mut random
                )
                .unwrap(),
            Recovery::Fail
        );
    }

    #[test]
    fn catch_result_path_failure_replaces_the_error() {
        let handling = ErrorHandling {
            retry: vec![],
            catch: vec![catcher(&["States.ALL"], "N", Some("$.a.b"))],
        };
        let mut random = SeededRandom::new(1);
        let err = handling
            .recover(
                &StatesError::new("E", ""),
                &mut RetryCounts::default(),
                &json!({"a": 1}),
                &mut random,
            )
            .unwrap_err();
        assert_eq!(err.error, "States.ResultPathMatchFailure");
    }
}
