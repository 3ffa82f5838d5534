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

use super::definition::{Branch, QueryLanguage, State, StateKind, StateMachine, Transition};
use super::io::DataFlow;
use super::json::{self, describe};
use super::states::{self, Choice, Fail, Parallel, Pass, Succeed, Task, Wait};
use super::template::pointer_escape;

/// AWS: state names are 1 to 80 characters.
pub const MAX_STATE_NAME_CHARS: usize = 80;
/// AWS's upper bound for TimeoutSeconds, HeartbeatSeconds, IntervalSeconds and MaxAttempts.
pub(crate) const MAX_SECONDS: u64 = 99_999_999;
/// AWS: MaxDelaySeconds must be below 31,622,401 (a year and a day).
pub(crate) const MAX_DELAY_SECONDS: u64 = 31_622_400;

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
const UNSUPPORTED_FIELDS: [(&str, &str); 4] = [
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

const STATE_TYPES: [&str; 8] = [
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
];

/// A JSON object being read, with its location.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) at: &'a str,
}

impl<'a> Obj<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn loc(&self, key: &str) -> String {
        format!("{}/{}", self.at, pointer_escape(key))
    }
}

/// A reference from one state to another, checked once the branch is known.
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) location: String,
    pub(crate) field: &'static str,
}

/// What a branch's states point at, for the transition, reachability and end checks.
pub(crate) struct StateLinks {
    pub(crate) targets: Vec<Target>,
    pub(crate) terminal: bool,
    pub(crate) transition_error: bool,
}

#[derive(Default)]
pub(crate) struct Reader {
    diagnostics: Vec<Diagnostic>,
    /// The machine's QueryLanguage: every state's unless it sets its own.
    machine_language: QueryLanguage,
    /// The language of the state being read.
    pub(crate) language: QueryLanguage,
    /// Whether the state being read has a result (Task, Parallel, Map): `$states.result`.
    pub(crate) has_result: bool,
    /// Whether a Catcher is being read: `$states.errorOutput`.
    pub(crate) in_catcher: bool,
    /// Every state name with its location, across all branches.
    state_names: Vec<(String, String)>,
    /// Set when reachability would only echo an earlier diagnostic.
    skip_reachability: bool,
}

impl Reader {
    pub(crate) fn report(
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

    pub(crate) fn error(
        &mut self,
        code: Code,
        location: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.report(Severity::Error, code, location, message);
    }

    pub(crate) fn schema(&mut self, location: impl Into<String>, message: impl Into<String>) {
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
            &[
                "Comment",
                "StartAt",
                "States",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
            ],
            "the top level of a state machine",
        );
        self.machine_language = self.machine_language(top);
        self.language = self.machine_language;
        let timeout_seconds = self.positive_seconds(top, "TimeoutSeconds");
        let version = self.string(top, "Version").map(str::to_string);
        let root = self.branch(top);
        self.check_duplicate_names();
        Some(StateMachine {
            root: root?,
            timeout_seconds,
            version,
            language: self.machine_language,
        })
    }

    /// Reports unknown fields (with a suggestion) and unsupported features.
    pub(crate) fn check_fields(&mut self, obj: Obj, allowed: &[&str], what: &str) {
        for key in obj.map.keys() {
            if key == "Comment" || allowed.contains(&key.as_str()) {
                continue;
            }
            if let Some((_, message)) = UNSUPPORTED_FIELDS.iter().find(|(field, _)| field == key) {
                self.error(Code::UnsupportedFeature, obj.loc(key), *message);
                continue;
            }
            if let Some(message) = self.other_language_field(key) {
                self.schema(obj.loc(key), message);
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
    pub(crate) fn branch(&mut self, obj: Obj) -> Option<Branch> {
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
        let outer_language = self.language;
        let outer_has_result = self.has_result;
        self.has_result = matches!(type_name, "Task" | "Parallel" | "Map");
        self.language = self.state_language(obj);
        let language = self.language;
        let jsonata = language == QueryLanguage::Jsonata;
        let (allowed, what) = match (type_name, jsonata) {
            ("Pass", false) => (Pass::FIELDS, "a Pass state"),
            ("Task", false) => (Task::FIELDS, "a Task state"),
            ("Choice", false) => (Choice::FIELDS, "a Choice state"),
            ("Wait", false) => (Wait::FIELDS, "a Wait state"),
            ("Succeed", false) => (Succeed::FIELDS, "a Succeed state"),
            ("Fail", false) => (Fail::FIELDS, "a Fail state"),
            ("Parallel", false) => (Parallel::FIELDS, "a Parallel state"),
            ("Map", false) => (states::Map::FIELDS, "a Map state"),
            ("Pass", true) => (Pass::JSONATA_FIELDS, "a JSONata Pass state"),
            ("Task", true) => (Task::JSONATA_FIELDS, "a JSONata Task state"),
            ("Choice", true) => (Choice::JSONATA_FIELDS, "a JSONata Choice state"),
            ("Wait", true) => (Wait::JSONATA_FIELDS, "a JSONata Wait state"),
            ("Succeed", true) => (Succeed::JSONATA_FIELDS, "a JSONata Succeed state"),
            ("Fail", true) => (Fail::JSONATA_FIELDS, "a JSONata Fail state"),
            ("Parallel", true) => (Parallel::JSONATA_FIELDS, "a JSONata Parallel state"),
            _ => (states::Map::JSONATA_FIELDS, "a JSONata Map state"),
        };
        let mut allowed_with_type = allowed.to_vec();
        allowed_with_type.extend(["Type", "QueryLanguage"]);
        self.check_fields(obj, &allowed_with_type, what);

        let flow = if jsonata {
            DataFlow::default()
        } else {
            self.data_flow(obj, allowed, type_name)
        };
        let (arguments, output) = if jsonata {
            (
                self.jsonata_value(obj, "Arguments"),
                self.jsonata_value(obj, "Output"),
            )
        } else {
            (None, None)
        };
        let assign = self.assign(obj);
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
            _ => self
                .map_state(obj, &mut links)
                .map(|map| StateKind::Map(Box::new(map))),
        };
        self.language = outer_language;
        self.has_result = outer_has_result;
        let comment = self.string(obj, "Comment").map(str::to_string);
        if self.error_count() > errors_before {
            return (None, links);
        }
        // In JSONata the context object is `$states.context` (or `$states` whole).
        let reads_context = if jsonata {
            obj.map.values().any(mentions_states_context)
        } else {
            obj.map.values().any(mentions_context)
        };
        let state = kind.map(|kind| State {
            name: name.to_string(),
            comment,
            language,
            flow,
            arguments,
            output,
            assign,
            transition,
            kind,
            reads_context,
            reads_execution_input: reads_context
                && (jsonata || obj.map.values().any(mentions_execution_input)),
        });
        (state, links)
    }

    pub(crate) fn error_count(&self) -> usize {
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
}

mod context_reads;
mod duplicates;
mod fields;
mod language;
mod suggest;

use context_reads::{mentions_context, mentions_execution_input, mentions_states_context};
use duplicates::duplicate_keys;
pub(crate) use fields::{expr_code, short};
pub(crate) use suggest::nearest;

/// The 1-based line and column (in characters) of a byte offset, as serde_json counts.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
