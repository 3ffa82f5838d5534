//! A value built when a state runs, in either query language: a JSONPath payload
//! template (`"key.$": "$.path"`) or a JSONata value (`"key": "{% expr %}"`). `Assign`
//! and a Map's `ItemSelector` are written in the state's language.

use indexmap::IndexMap;
use serde_json::Value;

use super::error::StatesError;
use super::eval::Env;
use super::jsonata::{JsonataValue, States};
use super::template::Template;

/// A payload in the state's query language.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// JSONPath: built from one document, `$`.
    Template(Template),
    /// JSONata: built from `$states`.
    Jsonata(JsonataValue),
}

/// What a payload is built from: `$` in JSONPath, `$states` in JSONata.
pub struct Data<'v> {
    /// What `$` is (JSONPath).
    pub dollar: &'v Value,
    /// What `$states` holds (JSONata).
    pub states: States<'v>,
}

impl Payload {
    /// Builds the value; `field` names the field in JSONata's error causes.
    pub fn evaluate(&self, data: &Data, env: &mut Env, field: &str) -> Result<Value, StatesError> {
        match self {
            Payload::Template(template) => template.evaluate(data.dollar, env),
            Payload::Jsonata(value) => value.evaluate(&data.states, env, field),
        }
    }

    /// `Assign`'s variables, by name, in the order written. Validation guarantees an
    /// object whose keys are variable names.
    pub fn assignments(
        &self,
        data: &Data,
        env: &mut Env,
        field: &str,
    ) -> Result<IndexMap<String, Value>, StatesError> {
        match self.evaluate(data, env, field)? {
            Value::Object(map) => Ok(map.into_iter().collect()),
            other => unreachable!("Assign is an object by validation, not {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::random::SeededRandom;
    use crate::asl::variables::{Scope, Variables};
    use serde_json::json;

    #[test]
    fn both_languages_build_assignments_reading_variables() {
        let context = json!({});
        let mut random = SeededRandom::new(1);
        let scope: Scope = [("n".to_string(), json!(4))].into();
        let mut env = Env::new(&context, &mut random);
        env.variables = Variables::of(vec![&scope]);
        let input = json!({"a": 1});
        let data = Data {
            dollar: &input,
            states: States {
                input: &input,
                result: None,
                error_output: None,
            },
        };
        let path = Payload::Template(
            Template::parse(&json!({"x.$": "$.a", "y.$": "$n", "z": "plain"})).unwrap(),
        );
        let assigned = path.assignments(&data, &mut env, "Assign").unwrap();
        assert_eq!(
            assigned.into_iter().collect::<Vec<_>>(),
            vec![
                ("x".to_string(), json!(1)),
                ("y".to_string(), json!(4)),
                ("z".to_string(), json!("plain"))
            ]
        );
        let jsonata = Payload::Jsonata(
            JsonataValue::parse(&json!({"x": "{% $states.input.a + $n %}", "y": [1]})).unwrap(),
        );
        let assigned = jsonata.assignments(&data, &mut env, "Assign").unwrap();
        assert_eq!(assigned["x"], json!(5));
        assert_eq!(assigned["y"], json!([1]));
        let missing = Payload::Jsonata(JsonataValue::parse(&json!({"x": "{% $nope %}"})).unwrap());
        let err = missing.assignments(&data, &mut env, "Assign").unwrap_err();
        assert!(
            err.cause
                .contains("specified for the field 'Assign/x' returned nothing (undefined)"),
            "{}",
            err.cause
        );
    }
}
