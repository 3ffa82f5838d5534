//! A state's data flow in its query language, from its input to its output and the
//! variables it assigns.
//!
//! JSONPath (AWS's order): InputPath → Parameters → the work → ResultSelector → `Assign`
//! (reading the selected result as `$`) → ResultPath → OutputPath.
//! JSONata: `Arguments` over `$states.input` → the work → `Assign` and `Output` over
//! `$states.input` and `$states.result`. In both, every field reads the variables as
//! they were before the state: what `Assign` sets is visible from the next state on.

use indexmap::IndexMap;
use serde_json::Value;

use super::definition::{QueryLanguage, State};
use super::error::StatesError;
use super::eval::Env;
use super::io::check_payload;
use super::jsonata::States;
use super::payload::{Data, Payload};
use super::retry::Catcher;
use super::states::ChoiceRule;

/// What a state's end produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// The state's output.
    pub output: Value,
    /// The variables it assigns, in the order written (empty when it has no Assign).
    pub assigned: IndexMap<String, Value>,
}

impl State {
    /// What path-valued settings and Map items read: the input after InputPath
    /// (JSONPath), or the input itself (JSONata, where `$states.input` is it).
    pub fn selected_input(&self, input: &Value, env: &Env) -> Result<Value, StatesError> {
        match self.language {
            QueryLanguage::JsonPath => self.flow.selected_input(input, env),
            QueryLanguage::Jsonata => Ok(input.clone()),
        }
    }

    /// The input of the state's work, given its input and what `selected_input` gave:
    /// Parameters (JSONPath) or Arguments (JSONata).
    pub fn work_input(
        &self,
        input: &Value,
        selected: Value,
        env: &mut Env,
    ) -> Result<Value, StatesError> {
        match self.language {
            QueryLanguage::JsonPath => self.flow.apply_parameters(selected, env),
            QueryLanguage::Jsonata => {
                let Some(arguments) = &self.arguments else {
                    return Ok(selected);
                };
                let states = States {
                    input,
                    result: None,
                    error_output: None,
                };
                let arguments = arguments.evaluate(&states, env, "Arguments")?;
                check_payload(&arguments, env, "the state's Arguments")?;
                Ok(arguments)
            }
        }
    }

    /// The output and assignments of a state that ends normally. `result` is the work's
    /// result (Task, Parallel, Map, a JSONPath Pass's Result) or, for a state without
    /// one, what JSONPath passes on (the selected input) and `None` in JSONata; `rule`
    /// is the Choice rule taken, with its index.
    pub fn end(
        &self,
        input: &Value,
        result: Option<Value>,
        rule: Option<(usize, &ChoiceRule)>,
        env: &mut Env,
    ) -> Result<Ending, StatesError> {
        let rule_assign = rule.and_then(|(i, r)| r.assign.as_ref().map(|a| (i, a)));
        match self.language {
            QueryLanguage::JsonPath => {
                let selected = match result {
                    Some(result) => self.flow.select_result(result, env)?,
                    None => self.flow.selected_input(input, env)?,
                };
                let data = Data {
                    dollar: &selected,
                    states: no_states(input),
                };
                let assigned = self.assignments(&data, rule_assign, env)?;
                let output = self.flow.place_result(input, selected, env)?;
                Ok(Ending { output, assigned })
            }
            QueryLanguage::Jsonata => {
                if let Some(result) = &result {
                    check_payload(result, env, "the state's result")?;
                }
                let data = Data {
                    dollar: input,
                    states: States {
                        input,
                        result: result.as_ref(),
                        error_output: None,
                    },
                };
                let assigned = self.assignments(&data, rule_assign, env)?;
                // A rule's Output replaces the state's (AWS: the rule taken decides).
                let output_field = rule
                    .and_then(|(i, r)| {
                        r.output
                            .as_ref()
                            .map(|o| (o, format!("Choices[{i}]/Output")))
                    })
                    .or_else(|| self.output.as_ref().map(|o| (o, "Output".to_string())));
                let output = match output_field {
                    Some((output, field)) => output.evaluate(&data.states, env, &field)?,
                    None => result.unwrap_or_else(|| input.clone()),
                };
                check_payload(&output, env, "the state's output")?;
                Ok(Ending { output, assigned })
            }
        }
    }

    /// The output and assignments when catcher `index` handles an error: `placed` is the
    /// error output placed by the catcher's ResultPath (JSONPath) — in JSONata, where
    /// there is no ResultPath, it is the error output itself.
    pub fn caught(
        &self,
        input: &Value,
        error_output: &Value,
        placed: Value,
        catcher: (usize, &Catcher),
        env: &mut Env,
    ) -> Result<Ending, StatesError> {
        let (index, catcher) = catcher;
        let data = Data {
            dollar: error_output,
            states: States {
                input,
                result: None,
                error_output: Some(error_output),
            },
        };
        let assigned = match &catcher.assign {
            Some(assign) => assign.assignments(&data, env, &format!("Catch[{index}]/Assign"))?,
            None => IndexMap::new(),
        };
        let output = match (self.language, &catcher.output) {
            (QueryLanguage::Jsonata, Some(output)) => {
                let output =
                    output.evaluate(&data.states, env, &format!("Catch[{index}]/Output"))?;
                check_payload(&output, env, "the state's output")?;
                output
            }
            _ => placed,
        };
        Ok(Ending { output, assigned })
    }

    /// The state's Assign, then the rule's (whose values win for a name both set).
    fn assignments(
        &self,
        data: &Data,
        rule: Option<(usize, &Payload)>,
        env: &mut Env,
    ) -> Result<IndexMap<String, Value>, StatesError> {
        let mut assigned = match &self.assign {
            Some(assign) => assign.assignments(data, env, "Assign")?,
            None => IndexMap::new(),
        };
        if let Some((index, assign)) = rule {
            assigned.extend(assign.assignments(data, env, &format!("Choices[{index}]/Assign"))?);
        }
        Ok(assigned)
    }
}

/// `$states` where JSONPath fields never read it.
fn no_states(input: &Value) -> States<'_> {
    States {
        input,
        result: None,
        error_output: None,
    }
}
