//! Reading and validating a definition in one pass: every problem is reported (not just
//! the first) as a `Diagnostic` with a code, the JSON Pointer of the offending field and
//! a message a person can act on; when there is no error, the typed `StateMachine` comes
//! out. Codes follow AWS's ValidateStateMachineDefinition where AWS has one.
//!
//! Two follow-on checks are skipped when their cause is already reported, so that one
//! mistake yields one diagnostic: reachability is not analysed in a branch with a broken
//! transition (a misspelt Next strands the states after it), and a branch whose states
//! lack Next/End is not also told it has no end state.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::definition::{Branch, Setting, State, StateKind, StateMachine, Transition};
use super::error::names;
use super::expr::{Expr, ExprError};
use super::intrinsics;
use super::io::DataFlow;
use super::json::{self, describe};
use super::path::{Path, ReferencePath};
use super::retry::{Catcher, ErrorHandling, Jitter, Retrier};
use super::states::{
    Choice, ChoiceRule, Comparison, Condition, Fail, Family, Map as MapState, Operand, Parallel,
    Pass, Relation, Resource, Succeed, Task, Text, TypeTest, Wait, WaitFor,
};
use super::template::{Template, TemplateProblem, pointer_escape};
use super::timestamp;

/// AWS: state names are 1 to 80 characters.
pub const MAX_STATE_NAME_CHARS: usize = 80;
/// AWS's upper bound for TimeoutSeconds, HeartbeatSeconds, IntervalSeconds and MaxAttempts.
const MAX_SECONDS: u64 = 99_999_999;
/// AWS: MaxDelaySeconds must be below 31,622,401 (a year and a day).
const MAX_DELAY_SECONDS: u64 = 31_622_400;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// The definition cannot be used.
    Error,
    /// The definition works, but probably not as meant.
    Warning,
}

/// What kind of problem a diagnostic reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The text is not JSON.
    InvalidJsonDescription,
    /// The definition is empty.
    MissingDescription,
    /// A field is missing, unknown, of the wrong type or out of range.
    SchemaValidationFailed,
    /// A Next, Default, StartAt or catcher names no state in its branch.
    MissingTransitionTarget,
    /// No path from StartAt leads to the state.
    UnreachableState,
    /// A branch has no state that ends it.
    MissingEndState,
    /// Two states share a name.
    DuplicateStateName,
    /// A state name is empty or too long.
    InvalidStateName,
    /// A Task's Resource is not a resource Stepwise can run.
    InvalidResource,
    /// A path or reference path does not parse.
    InvalidPath,
    /// An intrinsic function call does not parse or breaks a static rule.
    InvalidIntrinsic,
    /// A timestamp is not RFC 3339 as AWS requires.
    InvalidTimestamp,
    /// A feature Stepwise does not support yet.
    UnsupportedFeature,
    /// A field that is accepted but has no effect in Stepwise.
    IgnoredField,
    /// A value looks like a path but the field name lacks `.$` (warning).
    NoDollar,
}

impl Code {
    /// The code as ValidateStateMachineDefinition spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJsonDescription => "INVALID_JSON_DESCRIPTION",
            Code::MissingDescription => "MISSING_DESCRIPTION",
            Code::SchemaValidationFailed => "SCHEMA_VALIDATION_FAILED",
            Code::MissingTransitionTarget => "MISSING_TRANSITION_TARGET",
            Code::UnreachableState => "UNREACHABLE_STATE",
            Code::MissingEndState => "MISSING_END_STATE",
            Code::DuplicateStateName => "DUPLICATE_STATE_NAME",
            Code::InvalidStateName => "INVALID_STATE_NAME",
            Code::InvalidResource => "INVALID_RESOURCE",
            Code::InvalidPath => "INVALID_PATH",
            Code::InvalidIntrinsic => "INVALID_INTRINSIC",
            Code::InvalidTimestamp => "INVALID_TIMESTAMP",
            Code::UnsupportedFeature => "UNSUPPORTED_FEATURE",
            Code::IgnoredField => "IGNORED_FIELD",
            Code::NoDollar => "NO_DOLLAR",
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// ERROR or WARNING.
    pub severity: Severity,
    /// What kind of problem.
    pub code: Code,
    /// JSON Pointer to the field, e.g. `/States/ChoiceState/Choices/1/Next` (empty: the
    /// whole document).
    pub location: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let location = if self.location.is_empty() {
            "/"
        } else {
            &self.location
        };
        write!(
            f,
            "{severity} {} at {location}: {}",
            self.code.as_str(),
            self.message
        )
    }
}

/// A definition that passed validation, with any warnings about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The typed state machine.
    pub machine: StateMachine,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
}

/// The longest definition accepted: AWS's CreateStateMachine limit on `definition`
/// (1,048,576 characters; counted here in bytes, which is never fewer).
pub const MAX_DEFINITION_BYTES: usize = 1_048_576;

/// Reads a definition: the typed machine and its warnings, or every diagnostic when
/// there is at least one error.
pub fn parse(definition: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let mut reader = Reader::default();
    let machine = reader.document(definition);
    let has_error = reader
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    match machine {
        Some(machine) if !has_error => Ok(Parsed {
            machine,
            warnings: reader.diagnostics,
        }),
        _ => Err(reader.diagnostics),
    }
}

/// Every diagnostic for a definition (empty when it is valid and has no warnings).
pub fn validate(definition: &str) -> Vec<Diagnostic> {
    match parse(definition) {
        Ok(parsed) => parsed.warnings,
        Err(diagnostics) => diagnostics,
    }
}

/// Fields that belong to features Stepwise does not run yet; each gets an
/// UNSUPPORTED_FEATURE diagnostic wherever it appears instead of "unknown field".
const UNSUPPORTED_FIELDS: [(&str, &str); 9] = [
    (
        "QueryLanguage",
        "JSONata (QueryLanguage) is not supported yet; use JSONPath (leave QueryLanguage out)",
    ),
    ("Assign", "variables (Assign) are not supported yet"),
    (
        "Arguments",
        "Arguments (JSONata) is not supported yet; use Parameters",
    ),
    (
        "Output",
        "Output (JSONata) is not supported yet; use ResultSelector, ResultPath and OutputPath",
    ),
    (
        "Items",
        "Items (JSONata) is not supported yet; use ItemsPath",
    ),
    (
        "ItemReader",
        "distributed Map (ItemReader) is not supported yet",
    ),
    (
        "ItemBatcher",
        "distributed Map (ItemBatcher) is not supported yet",
    ),
    (
        "ResultWriter",
        "distributed Map (ResultWriter) is not supported yet",
    ),
    ("Label", "distributed Map (Label) is not supported yet"),
];

const PASS_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultPath",
    "Result",
    "Next",
    "End",
];
const TASK_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Resource",
    "TimeoutSeconds",
    "TimeoutSecondsPath",
    "HeartbeatSeconds",
    "HeartbeatSecondsPath",
    "Retry",
    "Catch",
    "Credentials",
    "Next",
    "End",
];
const CHOICE_FIELDS: &[&str] = &["InputPath", "OutputPath", "Choices", "Default"];
const WAIT_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Seconds",
    "SecondsPath",
    "Timestamp",
    "TimestampPath",
    "Next",
    "End",
];
const SUCCEED_FIELDS: &[&str] = &["InputPath", "OutputPath"];
const FAIL_FIELDS: &[&str] = &["Error", "ErrorPath", "Cause", "CausePath"];
const PARALLEL_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Branches",
    "Retry",
    "Catch",
    "Next",
    "End",
];
const MAP_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "ItemsPath",
    "ItemSelector",
    "Parameters",
    "ItemProcessor",
    "Iterator",
    "MaxConcurrency",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "Next",
    "End",
];
const STATE_TYPES: [&str; 8] = [
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
];

/// A JSON object being read, with its location.
/// Whether `value` holds a string mentioning `$$`: every read of the context object is
/// a path or intrinsic argument written in the state's own fields (Parallel and Map
/// states count their nested states too, which only errs towards building it).
fn mentions_context(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("$$"),
        Value::Array(items) => items.iter().any(mentions_context),
        Value::Object(fields) => fields.values().any(mentions_context),
        _ => false,
    }
}

/// Whether `value` holds a `$$` path that may read `$$.Execution.Input`: any that does
/// not begin with one of the context object's other members (the whole object, a
/// descendant or a wildcard may).
fn mentions_execution_input(value: &Value) -> bool {
    const ELSEWHERE: [&str; 8] = [
        ".Map.",
        ".State.",
        ".Task.",
        ".StateMachine.",
        ".Execution.Id",
        ".Execution.Name",
        ".Execution.RoleArn",
        ".Execution.StartTime",
    ];
    match value {
        Value::String(text) => text.match_indices("$$").any(|(at, _)| {
            let rest = &text[at + 2..];
            !ELSEWHERE.iter().any(|prefix| rest.starts_with(prefix))
        }),
        Value::Array(items) => items.iter().any(mentions_execution_input),
        Value::Object(fields) => fields.values().any(mentions_execution_input),
        _ => false,
    }
}

#[derive(Clone, Copy)]
struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: &'a str,
}

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn loc(&self, key: &str) -> String {
        format!("{}/{}", self.at, pointer_escape(key))
    }
}

/// A reference from one state to another, checked once the branch is known.
struct Target {
    name: String,
    location: String,
    field: &'static str,
}

/// What a branch's states point at, for the transition, reachability and end checks.
struct StateLinks {
    targets: Vec<Target>,
    terminal: bool,
    transition_error: bool,
}

#[derive(Default)]
struct Reader {
    diagnostics: Vec<Diagnostic>,
    /// Every state name with its location, across all branches.
    state_names: Vec<(String, String)>,
    /// Set when reachability would only echo an earlier diagnostic.
    skip_reachability: bool,
}

impl Reader {
    fn report(
        &mut self,
        severity: Severity,
        code: Code,
        location: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            severity,
            code,
            location: location.into(),
            message: message.into(),
        });
    }

    fn error(&mut self, code: Code, location: impl Into<String>, message: impl Into<String>) {
        self.report(Severity::Error, code, location, message);
    }

    fn schema(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.error(Code::SchemaValidationFailed, location, message);
    }

    fn document(&mut self, definition: &str) -> Option<StateMachine> {
        if definition.trim().is_empty() {
            self.error(Code::MissingDescription, "", "the definition is empty");
            return None;
        }
        if definition.len() > MAX_DEFINITION_BYTES {
            self.error(
                Code::SchemaValidationFailed,
                "",
                format!(
                    "the definition is {} bytes, more than the {MAX_DEFINITION_BYTES}-byte limit",
                    definition.len()
                ),
            );
            return None;
        }
        if let Some(at) = json::too_deep_at(definition.as_bytes(), json::MAX_NESTING) {
            let (line, column) = line_and_column(definition, at);
            self.error(
                Code::InvalidJsonDescription,
                "",
                format!(
                    "the definition nests arrays and objects more than {} levels deep (line {line}, column {column})",
                    json::MAX_NESTING
                ),
            );
            return None;
        }
        let value: Value = match serde_json::from_str(definition) {
            Ok(value) => value,
            Err(e) => {
                self.error(
                    Code::InvalidJsonDescription,
                    "",
                    format!(
                        "the definition is not valid JSON: {e} (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                );
                return None;
            }
        };
        let duplicates = duplicate_keys(definition);
        // With a repeated key, JSON keeps only the last value, which strands whatever the
        // dropped one linked to; the duplicate is the diagnostic that matters.
        self.skip_reachability = !duplicates.is_empty();
        for (location, key) in duplicates {
            if location
                .rsplit_once('/')
                .is_some_and(|(parent, _)| parent.ends_with("/States"))
            {
                self.error(
                    Code::DuplicateStateName,
                    location,
                    format!("the state '{key}' is defined twice in the same States object; JSON keeps only the last, so rename one"),
                );
            } else {
                self.schema(location, format!("the field '{key}' appears twice in the same object; JSON keeps only the last, so remove one"));
            }
        }
        let Value::Object(map) = &value else {
            self.schema(
                "",
                format!(
                    "the definition must be a JSON object, not {}",
                    describe(&value)
                ),
            );
            return None;
        };
        let top = Obj { map, at: "" };
        self.check_fields(
            top,
            &["Comment", "StartAt", "States", "TimeoutSeconds", "Version"],
            "the top level of a state machine",
        );
        let timeout_seconds = self.positive_seconds(top, "TimeoutSeconds");
        let version = self.string(top, "Version").map(str::to_string);
        let root = self.branch(top);
        self.check_duplicate_names();
        Some(StateMachine {
            root: root?,
            timeout_seconds,
            version,
        })
    }

    /// Reports unknown fields (with a suggestion) and unsupported features.
    fn check_fields(&mut self, obj: Obj, allowed: &[&str], what: &str) {
        for key in obj.map.keys() {
            if key == "Comment" || allowed.contains(&key.as_str()) {
                continue;
            }
            if let Some((_, message)) = UNSUPPORTED_FIELDS.iter().find(|(field, _)| field == key) {
                if key == "QueryLanguage" && obj.get(key) == Some(&Value::String("JSONPath".into()))
                {
                    continue;
                }
                self.error(Code::UnsupportedFeature, obj.loc(key), *message);
                continue;
            }
            let hint = nearest(key, allowed.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            self.schema(
                obj.loc(key),
                format!("the field '{key}' is not valid in {what}{hint}"),
            );
        }
    }

    /// Reads StartAt + States into a branch and checks its transitions.
    fn branch(&mut self, obj: Obj) -> Option<Branch> {
        let comment = self.string(obj, "Comment").map(str::to_string);
        let start_at = self
            .required_string(obj, "StartAt", "a state machine or branch")
            .map(str::to_string);
        let states_location = obj.loc("States");
        let states_map = match obj.get("States") {
            None => {
                self.schema(obj.at.to_string(), "the required field 'States' is missing");
                None
            }
            Some(Value::Object(map)) if map.is_empty() => {
                self.schema(
                    states_location.clone(),
                    "'States' must hold at least one state",
                );
                None
            }
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                self.schema(
                    states_location.clone(),
                    format!("'States' must be an object, not {}", describe(other)),
                );
                None
            }
        };
        let states_map = states_map?;
        let mut states = IndexMap::new();
        let mut links = Vec::new();
        let mut complete = true;
        for (name, state_value) in states_map {
            let at = format!("{states_location}/{}", pointer_escape(name));
            self.state_names.push((name.clone(), at.clone()));
            if name.is_empty() || name.chars().count() > MAX_STATE_NAME_CHARS {
                self.error(
                    Code::InvalidStateName,
                    at.clone(),
                    format!(
                        "state names must be 1 to {MAX_STATE_NAME_CHARS} characters; '{name}' has {}",
                        name.chars().count()
                    ),
                );
            }
            let Value::Object(map) = state_value else {
                self.schema(
                    at,
                    format!(
                        "the state '{name}' must be an object, not {}",
                        describe(state_value)
                    ),
                );
                complete = false;
                let unknown = StateLinks {
                    targets: Vec::new(),
                    terminal: false,
                    transition_error: true,
                };
                links.push((name.clone(), unknown));
                continue;
            };
            let (state, state_links) = self.state(name, Obj { map, at: &at });
            links.push((name.clone(), state_links));
            match state {
                Some(state) => {
                    states.insert(name.clone(), state);
                }
                None => complete = false,
            }
        }
        let start_ok = match &start_at {
            Some(start) if !states_map.contains_key(start) => {
                let hint = nearest(start, states_map.keys().map(String::as_str))
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                self.error(
                    Code::MissingTransitionTarget,
                    obj.loc("StartAt"),
                    format!("StartAt names '{start}', which is not a state in this branch{hint}"),
                );
                false
            }
            Some(_) => true,
            None => false,
        };
        let mut broken = !start_ok;
        for (_, state_links) in &links {
            broken |= state_links.transition_error;
            for target in &state_links.targets {
                if !states_map.contains_key(&target.name) {
                    broken = true;
                    let hint = nearest(&target.name, states_map.keys().map(String::as_str))
                        .map(|s| format!(" (did you mean '{s}'?)"))
                        .unwrap_or_default();
                    self.error(
                        Code::MissingTransitionTarget,
                        target.location.clone(),
                        format!(
                            "{} names '{}', which is not a state in this branch{hint}",
                            target.field, target.name
                        ),
                    );
                }
            }
        }
        if !broken && !self.skip_reachability {
            self.check_reachability(
                start_at.as_deref().unwrap_or_default(),
                &links,
                &states_location,
            );
            if !links.iter().any(|(_, l)| l.terminal) {
                self.error(
                    Code::MissingEndState,
                    states_location,
                    "no state ends this branch: give one state \"End\": true, or add a Succeed or Fail state",
                );
            }
        }
        if !complete {
            return None;
        }
        Some(Branch {
            comment,
            start_at: start_at?,
            states,
        })
    }

    fn check_reachability(
        &mut self,
        start: &str,
        links: &[(String, StateLinks)],
        states_location: &str,
    ) {
        let by_name: HashMap<&str, &StateLinks> =
            links.iter().map(|(n, l)| (n.as_str(), l)).collect();
        let mut seen: HashSet<&str> = HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some(name) = queue.pop_front() {
            for target in by_name
                .get(name)
                .map(|l| l.targets.as_slice())
                .unwrap_or_default()
            {
                if seen.insert(target.name.as_str()) {
                    queue.push_back(target.name.as_str());
                }
            }
        }
        for (name, _) in links {
            if !seen.contains(name.as_str()) {
                self.error(
                    Code::UnreachableState,
                    format!("{states_location}/{}", pointer_escape(name)),
                    format!("the state '{name}' cannot be reached from StartAt '{start}'"),
                );
            }
        }
    }

    fn check_duplicate_names(&mut self) {
        let mut first: HashMap<String, String> = HashMap::new();
        let names = std::mem::take(&mut self.state_names);
        for (name, location) in names {
            match first.get(&name) {
                Some(original) => {
                    let message = format!(
                        "the state name '{name}' is already used at {original}; state names must be unique across the whole state machine, branches included"
                    );
                    self.error(Code::DuplicateStateName, location, message);
                }
                None => {
                    first.insert(name, location);
                }
            }
        }
    }

    /// Reads one state; returns it (None if it has errors) and what it links to.
    fn state(&mut self, name: &str, obj: Obj) -> (Option<State>, StateLinks) {
        let mut links = StateLinks {
            targets: Vec::new(),
            terminal: false,
            transition_error: false,
        };
        let errors_before = self.error_count();
        let type_name = match obj.get("Type") {
            None => {
                self.schema(
                    obj.at.to_string(),
                    format!(
                        "the state '{name}' has no 'Type' (one of {})",
                        STATE_TYPES.join(", ")
                    ),
                );
                None
            }
            Some(Value::String(t)) if STATE_TYPES.contains(&t.as_str()) => Some(t.as_str()),
            Some(Value::String(t)) => {
                let hint = nearest(t, STATE_TYPES.iter().copied())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                self.schema(
                    obj.loc("Type"),
                    format!(
                        "'{t}' is not a state type; use one of {}{hint}",
                        STATE_TYPES.join(", ")
                    ),
                );
                None
            }
            Some(other) => {
                self.schema(
                    obj.loc("Type"),
                    format!("'Type' must be a string, not {}", describe(other)),
                );
                None
            }
        };
        let Some(type_name) = type_name else {
            links.transition_error = true;
            return (None, links);
        };
        let (allowed, what) = match type_name {
            "Pass" => (PASS_FIELDS, "a Pass state"),
            "Task" => (TASK_FIELDS, "a Task state"),
            "Choice" => (CHOICE_FIELDS, "a Choice state"),
            "Wait" => (WAIT_FIELDS, "a Wait state"),
            "Succeed" => (SUCCEED_FIELDS, "a Succeed state"),
            "Fail" => (FAIL_FIELDS, "a Fail state"),
            "Parallel" => (PARALLEL_FIELDS, "a Parallel state"),
            _ => (MAP_FIELDS, "a Map state"),
        };
        let mut allowed_with_type = allowed.to_vec();
        allowed_with_type.push("Type");
        self.check_fields(obj, &allowed_with_type, what);

        let flow = self.data_flow(obj, allowed, type_name);
        let transition = match type_name {
            "Choice" | "Succeed" | "Fail" => {
                links.terminal = type_name != "Choice";
                None
            }
            _ => self.transition(obj, name, &mut links),
        };
        let kind = match type_name {
            "Pass" => Some(StateKind::Pass(Pass {
                result: obj.get("Result").cloned(),
            })),
            "Task" => self.task(obj, &mut links).map(StateKind::Task),
            "Choice" => self.choice(obj, &mut links).map(StateKind::Choice),
            "Wait" => self.wait(obj).map(StateKind::Wait),
            "Succeed" => Some(StateKind::Succeed(Succeed)),
            "Fail" => Some(StateKind::Fail(self.fail(obj))),
            "Parallel" => self.parallel(obj, &mut links).map(StateKind::Parallel),
            _ => self.map_state(obj, &mut links).map(StateKind::Map),
        };
        let comment = self.string(obj, "Comment").map(str::to_string);
        if self.error_count() > errors_before {
            return (None, links);
        }
        let state = kind.map(|kind| State {
            name: name.to_string(),
            comment,
            flow,
            transition,
            kind,
            reads_context: obj.map.values().any(mentions_context),
            reads_execution_input: obj.map.values().any(mentions_execution_input),
        });
        (state, links)
    }

    fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn transition(&mut self, obj: Obj, name: &str, links: &mut StateLinks) -> Option<Transition> {
        let next = self.string(obj, "Next");
        let end = match obj.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.schema(
                    obj.loc("End"),
                    format!("'End' must be true or false, not {}", describe(other)),
                );
                links.transition_error = true;
                return None;
            }
        };
        match (next, end) {
            (Some(next), false) => {
                links.targets.push(Target {
                    name: next.to_string(),
                    location: obj.loc("Next"),
                    field: "Next",
                });
                Some(Transition::Next(next.to_string()))
            }
            (None, true) => {
                links.terminal = true;
                Some(Transition::End)
            }
            (Some(_), true) => {
                links.transition_error = true;
                self.schema(
                    obj.at.to_string(),
                    format!("the state '{name}' has both 'Next' and \"End\": true; keep one"),
                );
                None
            }
            (None, false) => {
                links.transition_error = true;
                if !obj.has("Next") {
                    self.schema(
                        obj.at.to_string(),
                        format!("the state '{name}' has neither 'Next' nor \"End\": true; one is required"),
                    );
                }
                None
            }
        }
    }

    fn data_flow(&mut self, obj: Obj, allowed: &[&str], type_name: &str) -> DataFlow {
        let mut flow = DataFlow::default();
        if allowed.contains(&"InputPath") {
            if let Some(path) = self.nullable_path(obj, "InputPath") {
                flow.input_path = path;
            }
            if let Some(path) = self.nullable_path(obj, "OutputPath") {
                flow.output_path = path;
            }
        }
        if allowed.contains(&"ResultPath")
            && let Some(path) = self.nullable_reference_path(obj, "ResultPath")
        {
            flow.result_path = path;
        }
        // For Map, Parameters is the older name of ItemSelector, read by `map_state`.
        if allowed.contains(&"Parameters") && type_name != "Map" {
            flow.parameters = self.template(obj, "Parameters");
        }
        if allowed.contains(&"ResultSelector") {
            flow.result_selector = self.template(obj, "ResultSelector");
        }
        flow
    }

    fn task(&mut self, obj: Obj, links: &mut StateLinks) -> Option<Task> {
        let resource = self
            .required_string(obj, "Resource", "a Task state")
            .and_then(|arn| match Resource::parse(arn) {
                Ok(resource) => Some(resource),
                Err(message) => {
                    self.error(Code::InvalidResource, obj.loc("Resource"), message);
                    None
                }
            });
        let timeout =
            self.uint_setting(obj, "TimeoutSeconds", "TimeoutSecondsPath", 1, MAX_SECONDS);
        let heartbeat = self.uint_setting(
            obj,
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            1,
            MAX_SECONDS,
        );
        if let (Some(Setting::Fixed(t)), Some(Setting::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.schema(
                obj.loc("HeartbeatSeconds"),
                format!("HeartbeatSeconds ({h}) must be smaller than TimeoutSeconds ({t})"),
            );
        }
        let credentials = obj.get("Credentials").cloned();
        if credentials.is_some() {
            self.report(
                Severity::Warning,
                Code::IgnoredField,
                obj.loc("Credentials"),
                "Credentials is ignored: Stepwise has no IAM roles; tasks run with their worker's own credentials",
            );
        }
        let errors = self.error_handling(obj, links);
        Some(Task {
            resource: resource?,
            timeout,
            heartbeat,
            credentials,
            errors,
        })
    }

    fn choice(&mut self, obj: Obj, links: &mut StateLinks) -> Option<Choice> {
        let default = self.string(obj, "Default").map(str::to_string);
        if let Some(default) = &default {
            links.targets.push(Target {
                name: default.clone(),
                location: obj.loc("Default"),
                field: "Default",
            });
        }
        let rules = self.required_list(obj, "Choices", "a Choice state", "rules")?;
        let mut choices = Vec::with_capacity(rules.len());
        for (rule_at, map) in self.list_objects(rules, &obj.loc("Choices"), "a Choice rule") {
            let rule_obj = Obj { map, at: &rule_at };
            let next = match rule_obj.get("Next") {
                Some(Value::String(next)) => {
                    links.targets.push(Target {
                        name: next.clone(),
                        location: rule_obj.loc("Next"),
                        field: "Next",
                    });
                    Some(next.clone())
                }
                Some(other) => {
                    self.schema(
                        rule_obj.loc("Next"),
                        format!("'Next' must be a state name, not {}", describe(other)),
                    );
                    None
                }
                None => {
                    self.schema(rule_at.clone(), "this Choice rule has no 'Next': every top-level rule must name the state it leads to");
                    None
                }
            };
            let condition = self.condition(rule_obj, true);
            if let (Some(condition), Some(next)) = (condition, next) {
                choices.push(ChoiceRule { condition, next });
            }
        }
        Some(Choice { choices, default })
    }

    /// Reads a rule's condition: exactly one of And, Or, Not or a comparison operator.
    fn condition(&mut self, obj: Obj, top_level: bool) -> Option<Condition> {
        let operators: Vec<&String> = obj.map.keys().filter(|k| is_operator(k)).collect();
        let mut allowed = vec!["Variable", "And", "Or", "Not"];
        if top_level {
            allowed.push("Next");
        }
        let mut unknown_fields = 0;
        for key in obj.map.keys() {
            if key == "Comment" || allowed.contains(&key.as_str()) || is_operator(key) {
                continue;
            }
            unknown_fields += 1;
            if key == "Next" {
                self.schema(
                    obj.loc(key),
                    "'Next' is only allowed in top-level Choice rules, not inside And, Or or Not",
                );
                continue;
            }
            let hint = nearest(
                key,
                all_operator_names()
                    .iter()
                    .map(String::as_str)
                    .chain(allowed.iter().copied()),
            )
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default();
            self.schema(
                obj.loc(key),
                format!("the field '{key}' is not valid in a Choice rule{hint}"),
            );
        }
        let combinators: Vec<&str> = ["And", "Or", "Not"]
            .into_iter()
            .filter(|k| obj.has(k))
            .collect();
        let total = operators.len() + combinators.len();
        if total == 0 {
            if unknown_fields > 0 {
                // The unknown field is most likely the misspelt operator; it is reported.
                return None;
            }
            self.schema(
                obj.at.to_string(),
                "this Choice rule has no comparison: add an operator such as StringEquals or NumericLessThan with a 'Variable', or And/Or/Not",
            );
            return None;
        }
        if total > 1 {
            let found: Vec<String> = operators
                .iter()
                .map(|s| s.to_string())
                .chain(combinators.iter().map(|s| s.to_string()))
                .collect();
            self.schema(
                obj.at.to_string(),
                format!(
                    "a Choice rule takes exactly one operator, but this one has {}",
                    found.join(", ")
                ),
            );
            return None;
        }
        if let Some(combinator) = combinators.first() {
            if obj.has("Variable") {
                self.schema(obj.loc("Variable"), format!("'Variable' does not belong next to '{combinator}'; put it in the nested rules"));
            }
            let at = obj.loc(combinator);
            let value = obj.get(combinator).expect("checked above");
            return match (*combinator, value) {
                ("Not", Value::Object(map)) => self
                    .condition(Obj { map, at: &at }, false)
                    .map(|c| Condition::Not(Box::new(c))),
                ("Not", other) => {
                    self.schema(
                        at,
                        format!(
                            "'Not' must be one rule (an object), not {}",
                            describe(other)
                        ),
                    );
                    None
                }
                (_, Value::Array(rules)) if !rules.is_empty() => {
                    let mut nested = Vec::with_capacity(rules.len());
                    let mut ok = true;
                    for (i, rule) in rules.iter().enumerate() {
                        let rule_at = format!("{at}/{i}");
                        match rule {
                            Value::Object(map) => {
                                match self.condition(Obj { map, at: &rule_at }, false) {
                                    Some(c) => nested.push(c),
                                    None => ok = false,
                                }
                            }
                            other => {
                                self.schema(
                                    rule_at,
                                    format!(
                                        "a nested rule must be an object, not {}",
                                        describe(other)
                                    ),
                                );
                                ok = false;
                            }
                        }
                    }
                    ok.then(|| {
                        if *combinator == "And" {
                            Condition::And(nested)
                        } else {
                            Condition::Or(nested)
                        }
                    })
                }
                (_, other) => {
                    self.schema(
                        at,
                        format!(
                            "'{combinator}' must be a non-empty array of rules, not {}",
                            short(other)
                        ),
                    );
                    None
                }
            };
        }
        let operator = operators[0].as_str();
        let variable = match obj.get("Variable") {
            None => {
                self.schema(
                    obj.at.to_string(),
                    format!("'{operator}' compares a 'Variable', but this rule has none"),
                );
                None
            }
            Some(Value::String(text)) => match Path::parse(text) {
                Ok(path) => Some(path),
                Err(e) => {
                    self.error(Code::InvalidPath, obj.loc("Variable"), e.to_string());
                    None
                }
            },
            Some(other) => {
                self.schema(
                    obj.loc("Variable"),
                    format!("'Variable' must be a path string, not {}", describe(other)),
                );
                None
            }
        };
        let comparison = self.comparison(obj, operator)?;
        Some(Condition::Test {
            variable: variable?,
            comparison,
        })
    }

    fn comparison(&mut self, obj: Obj, operator: &str) -> Option<Comparison> {
        let value = obj.get(operator).expect("operator key present");
        let at = obj.loc(operator);
        if let Some((test, _)) = TypeTest::ALL.iter().find(|(_, name)| *name == operator) {
            return match value {
                Value::Bool(b) => Some(Comparison::Is(*test, *b)),
                other => {
                    self.schema(
                        at,
                        format!(
                            "'{operator}' must be true or false, not {}",
                            describe(other)
                        ),
                    );
                    None
                }
            };
        }
        if operator == "StringMatches" {
            return match value {
                Value::String(pattern) => Some(Comparison::StringMatches(pattern.clone())),
                other => {
                    self.schema(
                        at,
                        format!(
                            "'StringMatches' must be a string pattern, not {}",
                            describe(other)
                        ),
                    );
                    None
                }
            };
        }
        let (family, relation, by_path) = parse_operator(operator).expect("is_operator checked");
        let operand = if by_path {
            match value {
                Value::String(text) => match Path::parse(text) {
                    Ok(path) => Operand::Path(path),
                    Err(e) => {
                        self.error(Code::InvalidPath, at, e.to_string());
                        return None;
                    }
                },
                other => {
                    self.schema(
                        at,
                        format!(
                            "'{operator}' must be a path string, not {}",
                            describe(other)
                        ),
                    );
                    return None;
                }
            }
        } else if family.accepts(value) {
            Operand::Value(value.clone())
        } else if family == Family::Timestamp && value.is_string() {
            self.error(
                Code::InvalidTimestamp,
                at,
                format!("{value} is not a timestamp; use RFC 3339 with an uppercase T and Z, such as \"2016-03-14T01:59:00Z\""),
            );
            return None;
        } else {
            let expected = match family {
                Family::String | Family::Timestamp => "a string",
                Family::Numeric => "a number",
                Family::Boolean => "true or false",
            };
            self.schema(
                at,
                format!("'{operator}' must be {expected}, not {}", describe(value)),
            );
            return None;
        };
        Some(Comparison::Compare {
            family,
            relation,
            operand,
        })
    }

    fn wait(&mut self, obj: Obj) -> Option<Wait> {
        let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| obj.has(k))
            .collect();
        if present.len() != 1 {
            let message = if present.is_empty() {
                "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath; it has none".to_string()
            } else {
                format!(
                    "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath; it has {}",
                    present.join(" and ")
                )
            };
            self.schema(obj.at.to_string(), message);
            return None;
        }
        let wait_for = match present[0] {
            "Seconds" => {
                WaitFor::Seconds(Setting::Fixed(self.uint(obj, "Seconds", 0, MAX_SECONDS)?))
            }
            "SecondsPath" => {
                WaitFor::Seconds(Setting::Path(self.reference_path(obj, "SecondsPath")?))
            }
            "Timestamp" => {
                let text = self.string(obj, "Timestamp")?;
                match timestamp::parse(text) {
                    Some(ts) => WaitFor::Timestamp(ts),
                    None => {
                        self.error(
                            Code::InvalidTimestamp,
                            obj.loc("Timestamp"),
                            format!("'{text}' is not a timestamp; use RFC 3339 with an uppercase T and Z, such as \"2016-03-14T01:59:00Z\""),
                        );
                        return None;
                    }
                }
            }
            _ => WaitFor::TimestampPath(self.reference_path(obj, "TimestampPath")?),
        };
        Some(Wait { wait_for })
    }

    fn fail(&mut self, obj: Obj) -> Fail {
        Fail {
            error: self.fail_text(obj, "Error", "ErrorPath"),
            cause: self.fail_text(obj, "Cause", "CausePath"),
        }
    }

    fn fail_text(&mut self, obj: Obj, fixed: &str, path: &str) -> Option<Text> {
        if obj.has(fixed) && obj.has(path) {
            self.schema(
                obj.loc(path),
                format!("use either '{fixed}' or '{path}', not both"),
            );
            return None;
        }
        if obj.has(fixed) {
            return self.string(obj, fixed).map(|s| Text::Fixed(s.to_string()));
        }
        let text = self.string(obj, path)?;
        match Expr::parse(text) {
            Ok(expr) => Some(Text::Computed(expr)),
            Err(e) => {
                self.error(expr_code(&e), obj.loc(path), e.to_string());
                None
            }
        }
    }

    fn parallel(&mut self, obj: Obj, links: &mut StateLinks) -> Option<Parallel> {
        let errors = self.error_handling(obj, links);
        let branches = self.required_list(obj, "Branches", "a Parallel state", "branches")?;
        let mut parsed = Vec::with_capacity(branches.len());
        for (branch_at, map) in self.list_objects(branches, &obj.loc("Branches"), "a branch") {
            let branch_obj = Obj {
                map,
                at: &branch_at,
            };
            self.check_fields(branch_obj, &["StartAt", "States"], "a Parallel branch");
            if let Some(b) = self.branch(branch_obj) {
                parsed.push(b);
            }
        }
        (parsed.len() == branches.len()).then_some(Parallel {
            branches: parsed,
            errors,
        })
    }

    fn map_state(&mut self, obj: Obj, links: &mut StateLinks) -> Option<MapState> {
        let errors = self.error_handling(obj, links);
        let processor_key = match (obj.has("ItemProcessor"), obj.has("Iterator")) {
            (true, true) => {
                self.schema(
                    obj.loc("Iterator"),
                    "use either 'ItemProcessor' or the older 'Iterator', not both",
                );
                return None;
            }
            (false, false) => {
                self.schema(
                    obj.at.to_string(),
                    "a Map state needs 'ItemProcessor' (or the older 'Iterator')",
                );
                return None;
            }
            (true, false) => "ItemProcessor",
            (false, true) => "Iterator",
        };
        let processor_at = obj.loc(processor_key);
        let processor = match obj.get(processor_key) {
            Some(Value::Object(map)) => {
                let processor_obj = Obj {
                    map,
                    at: &processor_at,
                };
                let allowed: &[&str] = if processor_key == "ItemProcessor" {
                    &["StartAt", "States", "ProcessorConfig"]
                } else {
                    &["StartAt", "States"]
                };
                self.check_fields(processor_obj, allowed, &format!("a Map's {processor_key}"));
                self.processor_config(processor_obj);
                self.branch(processor_obj)
            }
            Some(other) => {
                self.schema(
                    processor_at,
                    format!(
                        "'{processor_key}' must be an object with StartAt and States, not {}",
                        describe(other)
                    ),
                );
                None
            }
            None => None,
        };
        if obj.has("ItemSelector") && obj.has("Parameters") {
            self.schema(
                obj.loc("Parameters"),
                "use either 'ItemSelector' or the older 'Parameters', not both",
            );
        }
        let item_selector = if obj.has("ItemSelector") {
            self.template(obj, "ItemSelector")
        } else {
            self.template(obj, "Parameters")
        };
        let items_path = match obj.get("ItemsPath") {
            None => Some(ReferencePath::root_path()),
            Some(_) => self.reference_path(obj, "ItemsPath"),
        };
        let max_concurrency = self
            .uint_setting(
                obj,
                "MaxConcurrency",
                "MaxConcurrencyPath",
                0,
                u64::from(u32::MAX),
            )
            .unwrap_or(Setting::Fixed(0));
        let tolerated_failure_count = self.uint_setting(
            obj,
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            0,
            u64::from(u32::MAX),
        );
        let tolerated_failure_percentage = self.percentage_setting(obj);
        Some(MapState {
            processor: processor?,
            items_path: items_path?,
            item_selector,
            max_concurrency,
            tolerated_failure_count,
            tolerated_failure_percentage,
            errors,
        })
    }

    fn processor_config(&mut self, processor: Obj) {
        let Some(config) = processor.get("ProcessorConfig") else {
            return;
        };
        let at = processor.loc("ProcessorConfig");
        let Value::Object(map) = config else {
            self.schema(
                at,
                format!(
                    "'ProcessorConfig' must be an object, not {}",
                    describe(config)
                ),
            );
            return;
        };
        let config = Obj { map, at: &at };
        self.check_fields(config, &["Mode", "ExecutionType"], "ProcessorConfig");
        match config.get("Mode") {
            None => {}
            Some(Value::String(mode)) if mode == "INLINE" => {}
            Some(Value::String(mode)) if mode == "DISTRIBUTED" => {
                self.error(
                    Code::UnsupportedFeature,
                    config.loc("Mode"),
                    "distributed Map (Mode DISTRIBUTED) is not supported yet; use INLINE",
                );
            }
            Some(other) => self.schema(
                config.loc("Mode"),
                format!("'Mode' must be \"INLINE\" or \"DISTRIBUTED\", not {other}"),
            ),
        }
    }

    fn error_handling(&mut self, obj: Obj, links: &mut StateLinks) -> ErrorHandling {
        ErrorHandling {
            retry: self.retriers(obj),
            catch: self.catchers(obj, links),
        }
    }

    fn retriers(&mut self, obj: Obj) -> Vec<Retrier> {
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

    fn catchers(&mut self, obj: Obj, links: &mut StateLinks) -> Vec<Catcher> {
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
            self.check_fields(c, &["ErrorEquals", "Next", "ResultPath"], "a catcher");
            let error_equals = self.error_equals(c, i + 1 == items.len(), "Catch");
            let next = self.required_string(c, "Next", "a catcher");
            if let Some(next) = next {
                links.targets.push(Target {
                    name: next.to_string(),
                    location: c.loc("Next"),
                    field: "Next",
                });
            }
            let result_path = self
                .nullable_reference_path(c, "ResultPath")
                .unwrap_or(Some(ReferencePath::root_path()));
            if let Some(next) = next {
                catchers.push(Catcher {
                    error_equals,
                    next: next.to_string(),
                    result_path,
                });
            }
        }
        catchers
    }

    /// ErrorEquals: a non-empty array of names; States.ALL alone and in the last element.
    fn error_equals(&mut self, obj: Obj, is_last: bool, list: &str) -> Vec<String> {
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

    // ---- typed field readers ------------------------------------------------------

    fn string<'a>(&mut self, obj: Obj<'a>, key: &str) -> Option<&'a str> {
        match obj.get(key)? {
            Value::String(s) => Some(s),
            other => {
                self.schema(
                    obj.loc(key),
                    format!("'{key}' must be a string, not {}", describe(other)),
                );
                None
            }
        }
    }

    fn required_string<'a>(&mut self, obj: Obj<'a>, key: &str, what: &str) -> Option<&'a str> {
        if !obj.has(key) {
            self.schema(
                obj.at.to_string(),
                format!("the required field '{key}' of {what} is missing"),
            );
            return None;
        }
        self.string(obj, key)
    }

    /// A required, non-empty array field of `owner`, holding `items`.
    fn required_list<'a>(
        &mut self,
        obj: Obj<'a>,
        key: &str,
        owner: &str,
        items: &str,
    ) -> Option<&'a Vec<Value>> {
        match obj.get(key) {
            None => {
                self.schema(
                    obj.at.to_string(),
                    format!("{owner} needs '{key}', a non-empty array of {items}"),
                );
                None
            }
            Some(Value::Array(list)) if !list.is_empty() => Some(list),
            Some(other) => {
                self.schema(
                    obj.loc(key),
                    format!(
                        "'{key}' must be a non-empty array of {items}, not {}",
                        short(other)
                    ),
                );
                None
            }
        }
    }

    /// The elements of a list that are objects, with their locations; reports the others.
    fn list_objects<'a>(
        &mut self,
        list: &'a [Value],
        at: &str,
        item: &str,
    ) -> Vec<(String, &'a Map<String, Value>)> {
        let mut objects = Vec::with_capacity(list.len());
        for (i, value) in list.iter().enumerate() {
            let here = format!("{at}/{i}");
            match value {
                Value::Object(map) => objects.push((here, map)),
                other => self.schema(
                    here,
                    format!("{item} must be an object, not {}", describe(other)),
                ),
            }
        }
        objects
    }

    fn array<'a>(&mut self, obj: Obj<'a>, key: &str) -> Option<&'a Vec<Value>> {
        match obj.get(key)? {
            Value::Array(items) => Some(items),
            other => {
                self.schema(
                    obj.loc(key),
                    format!("'{key}' must be an array, not {}", describe(other)),
                );
                None
            }
        }
    }

    fn uint(&mut self, obj: Obj, key: &str, min: u64, max: u64) -> Option<u64> {
        let value = obj.get(key)?;
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.schema(
                    obj.loc(key),
                    format!("'{key}' must be an integer from {min} to {max}, not {value}"),
                );
                None
            }
        }
    }

    fn positive_seconds(&mut self, obj: Obj, key: &str) -> Option<u64> {
        self.uint(obj, key, 1, MAX_SECONDS)
    }

    /// A setting given as `fixed` (an integer in `min..=max`) or read through `path`.
    fn uint_setting(
        &mut self,
        obj: Obj,
        fixed: &str,
        path: &str,
        min: u64,
        max: u64,
    ) -> Option<Setting<u64>> {
        self.setting(obj, fixed, path, |reader, obj| {
            reader.uint(obj, fixed, min, max)
        })
    }

    fn percentage_setting(&mut self, obj: Obj) -> Option<Setting<f64>> {
        let (fixed, path) = (
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
        );
        self.setting(obj, fixed, path, |reader, obj| {
            let value = obj.get(fixed)?;
            match value.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Some(p),
                _ => {
                    reader.schema(
                        obj.loc(fixed),
                        format!("'{fixed}' must be a number from 0 to 100, not {value}"),
                    );
                    None
                }
            }
        })
    }

    /// Exactly one of `fixed` (read by `read_fixed`) or `path` (a reference path), or neither.
    fn setting<T>(
        &mut self,
        obj: Obj,
        fixed: &str,
        path: &str,
        read_fixed: impl FnOnce(&mut Self, Obj) -> Option<T>,
    ) -> Option<Setting<T>> {
        if obj.has(fixed) && obj.has(path) {
            self.schema(
                obj.loc(path),
                format!("use either '{fixed}' or '{path}', not both"),
            );
            return None;
        }
        if obj.has(fixed) {
            return read_fixed(self, obj).map(Setting::Fixed);
        }
        obj.has(path)
            .then(|| self.reference_path(obj, path).map(Setting::Path))
            .flatten()
    }

    /// A path field that may be `null`: None if absent or invalid, Some(None) for null.
    fn nullable_path(&mut self, obj: Obj, key: &str) -> Option<Option<Path>> {
        match obj.get(key)? {
            Value::Null => Some(None),
            Value::String(text) => match Path::parse(text) {
                Ok(path) => Some(Some(path)),
                Err(e) => {
                    self.error(Code::InvalidPath, obj.loc(key), e.to_string());
                    None
                }
            },
            other => {
                self.schema(
                    obj.loc(key),
                    format!(
                        "'{key}' must be a path string or null, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn nullable_reference_path(&mut self, obj: Obj, key: &str) -> Option<Option<ReferencePath>> {
        match obj.get(key)? {
            Value::Null => Some(None),
            Value::String(_) => self.reference_path(obj, key).map(Some),
            other => {
                self.schema(
                    obj.loc(key),
                    format!(
                        "'{key}' must be a reference path string or null, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn reference_path(&mut self, obj: Obj, key: &str) -> Option<ReferencePath> {
        let text = self.string(obj, key)?;
        match ReferencePath::parse(text) {
            Ok(path) if key == "ResultPath" && path.root() == super::path::Root::Context => {
                self.error(
                    Code::InvalidPath,
                    obj.loc(key),
                    format!("'{key}' cannot write into the context object ('{text}')"),
                );
                None
            }
            Ok(path) => Some(path),
            Err(e) => {
                self.error(Code::InvalidPath, obj.loc(key), e.to_string());
                None
            }
        }
    }

    fn template(&mut self, obj: Obj, key: &str) -> Option<Template> {
        let value = obj.get(key)?;
        self.warn_missing_dollar(value, &obj.loc(key));
        match Template::parse(value) {
            Ok(template) => Some(template),
            Err(errors) => {
                for e in errors {
                    let code = match &e.problem {
                        TemplateProblem::Expr(expr) => expr_code(expr),
                        TemplateProblem::Shape(_) => Code::SchemaValidationFailed,
                    };
                    self.error(
                        code,
                        format!("{}{}", obj.loc(key), e.pointer),
                        e.problem.to_string(),
                    );
                }
                None
            }
        }
    }

    /// NO_DOLLAR: a static string that looks like a path or an intrinsic call, in a field
    /// whose name lacks `.$` — almost always a forgotten suffix.
    fn warn_missing_dollar(&mut self, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let here = format!("{at}/{}", pointer_escape(key));
                    if key.ends_with(".$") {
                        continue;
                    }
                    if let Value::String(s) = v
                        && (s.starts_with("$.")
                            || s.starts_with("$$.")
                            || (intrinsics::looks_like_call(s) && s.ends_with(')')))
                    {
                        self.report(
                            Severity::Warning,
                            Code::NoDollar,
                            here,
                            format!("'{s}' looks like a path or intrinsic function, but '{key}' does not end in '.$', so it is passed as plain text; name the field '{key}.$' to evaluate it"),
                        );
                        continue;
                    }
                    self.warn_missing_dollar(v, &here);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.warn_missing_dollar(item, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
}

/// The diagnostic code for a bad path or intrinsic call.
fn expr_code(error: &ExprError) -> Code {
    match error {
        ExprError::Path(_) | ExprError::Neither(_) => Code::InvalidPath,
        ExprError::Intrinsic(_) => Code::InvalidIntrinsic,
    }
}

/// The JSON Pointer and name of every key that repeats within one object. serde_json
/// keeps the last of duplicate keys silently; a definition must not lose a state that way.
/// The 1-based line and column (in characters) of a byte offset, as serde_json counts.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn duplicate_keys(text: &str) -> Vec<(String, String)> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;

    struct Scan<'a> {
        at: String,
        found: &'a RefCell<Vec<(String, String)>>,
    }

    impl<'de> DeserializeSeed<'de> for Scan<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            while seq
                .next_element_seed(Scan {
                    at: format!("{}/{index}", self.at),
                    found: self.found,
                })?
                .is_some()
            {
                index += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let at = format!("{}/{}", self.at, pointer_escape(&key));
                if !seen.insert(key.clone()) {
                    self.found.borrow_mut().push((at.clone(), key));
                }
                map.next_value_seed(Scan {
                    at,
                    found: self.found,
                })?;
            }
            Ok(())
        }
    }

    let found = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // The text already parsed as JSON, so the scan cannot fail.
    let _ = Scan {
        at: String::new(),
        found: &found,
    }
    .deserialize(&mut deserializer);
    found.into_inner()
}

/// Whether `key` is a Choice comparison operator.
fn is_operator(key: &str) -> bool {
    key == "StringMatches"
        || TypeTest::ALL.iter().any(|(_, name)| *name == key)
        || parse_operator(key).is_some()
}

/// `NumericLessThanEqualsPath` → (Numeric, LessThanEquals, true).
fn parse_operator(key: &str) -> Option<(Family, Relation, bool)> {
    let (base, by_path) = match key.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (key, false),
    };
    Family::ALL.into_iter().find_map(|family| {
        let rest = base.strip_prefix(family.prefix())?;
        family
            .relations()
            .iter()
            .find(|r| r.suffix() == rest)
            .map(|r| (family, *r, by_path))
    })
}

/// Every comparison operator name, for suggestions.
fn all_operator_names() -> Vec<String> {
    let mut all: Vec<String> = Family::ALL
        .into_iter()
        .flat_map(|f| {
            f.relations().iter().flat_map(move |r| {
                [
                    format!("{}{}", f.prefix(), r.suffix()),
                    format!("{}{}Path", f.prefix(), r.suffix()),
                ]
            })
        })
        .collect();
    all.push("StringMatches".into());
    all.extend(TypeTest::ALL.iter().map(|(_, n)| n.to_string()));
    all
}

/// A short description of a value for messages: its type, or "an empty array".
fn short(value: &Value) -> String {
    match value {
        Value::Array(items) if items.is_empty() => "an empty array".into(),
        other => describe(other).into(),
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    let limit = (word.chars().count() / 2).max(2);
    candidates
        .filter(|c| *c != word)
        .filter_map(|c| {
            let c_lower = c.to_lowercase();
            // A truncated name ("Timeout" for "TimeoutSeconds") is as likely a slip as a typo.
            let distance = if word.len() >= 4 && c_lower.starts_with(&word_lower) {
                1
            } else {
                edit_distance(&word_lower, &c_lower)
            };
            (distance <= limit).then_some((distance, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
