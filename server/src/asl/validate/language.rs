//! Reading what depends on the query language: `QueryLanguage` itself and AWS's rule on
//! mixing languages, the fields each language owns, JSONata values and expressions
//! (a syntax error names the field and the position in the expression), and `Assign`,
//! which both languages have.

use serde_json::Value;

use super::{Obj, Reader};
use crate::asl::definition::QueryLanguage;
use crate::asl::json::describe;
use crate::asl::jsonata::{Expression, JsonataValue, SyntaxError, expression_text};
use crate::asl::payload::Payload;
use crate::asl::template::pointer_escape;
use crate::asl::variables::name_problem;

/// Fields only JSONPath states have; a JSONata state uses Arguments, Output, Items and
/// expressions in the plain fields instead.
const JSONPATH_ONLY: [&str; 16] = [
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "ItemsPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
];

/// Whether `text` names `$states.<member>`.
fn names_member(text: &str, member: &str) -> bool {
    let name = format!("$states.{member}");
    text.match_indices(&name).any(|(at, _)| {
        !text[at + name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    })
}

/// Fields only JSONata states have.
const JSONATA_ONLY: [&str; 4] = ["Arguments", "Output", "Items", "Condition"];

impl Reader {
    /// The machine's `QueryLanguage` (JSONPath when absent).
    pub(crate) fn machine_language(&mut self, obj: Obj) -> QueryLanguage {
        self.query_language(obj).unwrap_or_default()
    }

    /// A state's language: its own `QueryLanguage`, else the machine's. AWS refuses a
    /// JSONPath state in a JSONata machine (a JSONata state in a JSONPath machine is fine).
    pub(crate) fn state_language(&mut self, obj: Obj) -> QueryLanguage {
        match self.query_language(obj) {
            Some(QueryLanguage::JsonPath) if self.machine_language == QueryLanguage::Jsonata => {
                self.schema(
                    obj.loc("QueryLanguage"),
                    "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata; remove the state's QueryLanguage, or make the machine JSONPath and set \"QueryLanguage\": \"JSONata\" on its JSONata states",
                );
                QueryLanguage::JsonPath
            }
            Some(language) => language,
            None => self.machine_language,
        }
    }

    fn query_language(&mut self, obj: Obj) -> Option<QueryLanguage> {
        match obj.get("QueryLanguage")? {
            Value::String(s) if s == "JSONPath" => Some(QueryLanguage::JsonPath),
            Value::String(s) if s == "JSONata" => Some(QueryLanguage::Jsonata),
            other => {
                self.schema(
                    obj.loc("QueryLanguage"),
                    format!("'QueryLanguage' must be \"JSONPath\" or \"JSONata\", not {other}"),
                );
                None
            }
        }
    }

    /// Why `key` is not valid in the current language, when the other language has it.
    pub(crate) fn other_language_field(&self, key: &str) -> Option<String> {
        match self.language {
            QueryLanguage::Jsonata if JSONPATH_ONLY.contains(&key) => Some(format!(
                "'{key}' is a JSONPath field and this state's QueryLanguage is JSONata; use Arguments, Output, Items or a {{% ... %}} expression in the plain field instead"
            )),
            QueryLanguage::JsonPath if JSONATA_ONLY.contains(&key) => Some(format!(
                "'{key}' is a JSONata field; set \"QueryLanguage\": \"JSONata\" on this state or on the state machine to use it"
            )),
            _ => None,
        }
    }

    /// A JSONata field: any JSON, with `"{% ... %}"` strings evaluated.
    pub(crate) fn jsonata_value(&mut self, obj: Obj, key: &str) -> Option<JsonataValue> {
        let value = obj.get(key)?;
        let at = obj.loc(key);
        let keys_before = self.error_count();
        self.refuse_path_keys(value, &at);
        let parsed = match JsonataValue::parse(value) {
            Ok(parsed) => {
                for expression in parsed.expressions() {
                    self.check_states_members(&at, key, expression);
                }
                Some(parsed)
            }
            Err(errors) => {
                for e in errors {
                    self.jsonata_error(format!("{at}{}", e.pointer), key, &e.expression, &e.error);
                }
                None
            }
        };
        parsed.filter(|_| self.error_count() == keys_before)
    }

    /// A plain field written as one expression: `Some(Ok)` for `"{% ... %}"`, `None`
    /// when the field holds anything else (read as a literal by the caller).
    pub(crate) fn field_expression(&mut self, obj: Obj, key: &str) -> Option<Option<Expression>> {
        if self.language != QueryLanguage::Jsonata {
            return None;
        }
        let text = expression_text(obj.get(key)?.as_str()?)?;
        Some(match Expression::parse(text) {
            Ok(expression) => {
                self.check_states_members(&obj.loc(key), key, &expression);
                Some(expression)
            }
            Err(error) => {
                self.jsonata_error(obj.loc(key), key, text.trim(), &error);
                None
            }
        })
    }

    /// AWS's rule on what `$states` holds where: `result` only in the `Output` and
    /// `Assign` of a state that has one (Task, Parallel, Map), `errorOutput` only in a
    /// Catcher's; an expression naming one elsewhere could only fail.
    fn check_states_members(&mut self, at: &str, field: &str, expression: &Expression) {
        let own_fields = matches!(field, "Output" | "Assign");
        let available = [
            ("result", own_fields && self.has_result && !self.in_catcher),
            ("errorOutput", own_fields && self.in_catcher),
        ];
        for (member, allowed) in available {
            if !allowed && names_member(expression.text(), member) {
                let place = if self.in_catcher {
                    format!("a Catcher's '{field}'")
                } else {
                    format!("'{field}'")
                };
                let where_it_is = match member {
                    "result" => "the Output and Assign of a Task, Parallel or Map state",
                    _ => "a Catcher's Output and Assign",
                };
                self.schema(
                    at.to_string(),
                    format!("$states.{member} is not available in {place}: it exists only in {where_it_is}"),
                );
            }
        }
    }

    /// A syntax error in an expression, with its position.
    fn jsonata_error(
        &mut self,
        location: String,
        field: &str,
        expression: &str,
        error: &SyntaxError,
    ) {
        let position = error
            .offset
            .map(|at| format!(" at character {}", at + 1))
            .unwrap_or_default();
        self.schema(
            location,
            format!(
                "the JSONata expression '{expression}' in '{field}' is not valid{position}: {}",
                error.message
            ),
        );
    }

    /// `.$` keys are JSONPath's way to compute a value; in JSONata they would be kept
    /// as plain names, which is never what was meant.
    fn refuse_path_keys(&mut self, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    let here = format!("{at}/{}", pointer_escape(key));
                    if key.ends_with(".$") {
                        self.schema(
                            here.clone(),
                            format!("'{key}' ends in '.$', which is JSONPath; in a JSONata state name the field without '.$' and write its value as \"{{% ... %}}\""),
                        );
                    }
                    self.refuse_path_keys(item, &here);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.refuse_path_keys(item, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }

    /// `Assign` (state, Choice rule or Catcher), in the current language: an object whose
    /// keys are variable names (with `.$` in JSONPath for computed values).
    pub(crate) fn assign(&mut self, obj: Obj) -> Option<Payload> {
        let value = obj.get("Assign")?;
        let at = obj.loc("Assign");
        let Value::Object(map) = value else {
            self.schema(
                at,
                format!(
                    "'Assign' must be an object of variable names and values, not {}",
                    describe(value)
                ),
            );
            return None;
        };
        let errors_before = self.error_count();
        for key in map.keys() {
            let name = match self.language {
                QueryLanguage::JsonPath => key.strip_suffix(".$").unwrap_or(key),
                QueryLanguage::Jsonata => key,
            };
            if key.ends_with(".$") && self.language == QueryLanguage::Jsonata {
                continue; // refuse_path_keys reports it
            }
            if let Some(problem) = name_problem(name) {
                self.schema(format!("{at}/{}", pointer_escape(key)), problem);
            }
        }
        let payload = match self.language {
            QueryLanguage::JsonPath => self.template(obj, "Assign").map(Payload::Template),
            QueryLanguage::Jsonata => self.jsonata_value(obj, "Assign").map(Payload::Jsonata),
        };
        payload.filter(|_| self.error_count() == errors_before)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::asl::definition::{QueryLanguage, Setting, StateKind};
    use crate::asl::validate::{parse, validate};

    /// Each error as (location, message).
    fn errors(definition: Value) -> Vec<(String, String)> {
        validate(&definition.to_string())
            .into_iter()
            .map(|d| (d.location, d.message))
            .collect()
    }

    fn jsonata(states: Value) -> Value {
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": states})
    }

    #[test]
    fn every_jsonata_field_of_every_state_type_is_read() {
        let definition = jsonata(json!({
            "A": {"Type": "Pass", "Output": {"a": "{% $states.input %}"}, "Assign": {"x": 1}, "Next": "T"},
            "T": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:w",
                  "Arguments": "{% $states.input %}", "Output": "{% $states.result %}",
                  "TimeoutSeconds": "{% 60 %}", "HeartbeatSeconds": "{% 10 %}",
                  "Retry": [{"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F", "Output": "{% $states.errorOutput %}", "Assign": {"e": "{% $states.errorOutput.Error %}"}}],
                  "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% $x = 1 %}", "Next": "W", "Assign": {"y": 2}, "Output": {}}],
                  "Default": "P", "Output": "{% $states.input %}", "Assign": {"z": 3}},
            "W": {"Type": "Wait", "Seconds": "{% 1 %}", "Output": {}, "Assign": {"w": 1}, "Next": "W2"},
            "W2": {"Type": "Wait", "Timestamp": "{% $now() %}", "Next": "P"},
            "P": {"Type": "Parallel", "Arguments": {"a": 1}, "Output": "{% $states.result %}", "Assign": {"p": 1},
                  "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed", "Output": {"b": 1}}}}], "Next": "M"},
            "M": {"Type": "Map", "Items": "{% [1, 2] %}", "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}"},
                  "MaxConcurrency": "{% 1 %}", "ToleratedFailureCount": "{% 0 %}", "ToleratedFailurePercentage": "{% 0 %}",
                  "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}},
                  "Output": "{% $states.result %}", "Assign": {"m": 1}, "Next": "S"},
            "S": {"Type": "Succeed", "Output": {"done": true}},
            "F": {"Type": "Fail", "Error": "{% 'E' %}", "Cause": "{% 'C' %}"}
        }));
        let parsed = parse(&definition.to_string()).unwrap_or_else(|d| panic!("{d:#?}"));
        let states = &parsed.machine.root.states;
        assert_eq!(parsed.machine.language, QueryLanguage::Jsonata);
        assert!(
            states
                .values()
                .all(|s| s.language == QueryLanguage::Jsonata)
        );
        assert!(states["A"].output.is_some() && states["A"].assign.is_some());
        assert!(states["T"].arguments.is_some());
        let StateKind::Task(task) = &states["T"].kind else {
            panic!()
        };
        assert!(matches!(task.timeout, Some(Setting::Expression(_))));
        assert!(task.errors.catch[0].output.is_some() && task.errors.catch[0].assign.is_some());
        let StateKind::Map(map) = &states["M"].kind else {
            panic!()
        };
        assert!(map.items.is_some() && map.item_selector.is_some());
        assert!(matches!(map.max_concurrency, Setting::Expression(_)));
        assert!(
            states["M"].reads_context,
            "ItemSelector reads $states.context"
        );
        assert!(!states["A"].reads_context);
    }

    #[test]
    fn fields_of_the_other_language_are_named_as_such() {
        let e = errors(jsonata(
            json!({"A": {"Type": "Pass", "InputPath": "$.a", "Parameters": {"x.$": "$"}, "End": true}}),
        ));
        assert_eq!(e.len(), 2, "{e:#?}");
        assert_eq!(e[0].0, "/States/A/InputPath");
        assert!(
            e[0].1.contains("'InputPath' is a JSONPath field"),
            "{}",
            e[0].1
        );
        let e = errors(
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Output": {}, "End": true}}}),
        );
        assert_eq!(e[0].0, "/States/A/Output");
        assert!(e[0].1.contains("'Output' is a JSONata field"), "{}", e[0].1);
        let e = errors(jsonata(
            json!({"A": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:w",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "A"}], "End": true}}),
        ));
        assert_eq!(e[0].0, "/States/A/Catch/0/ResultPath", "{e:#?}");
        let e = errors(jsonata(
            json!({"A": {"Type": "Pass", "Output": {"k.$": "$.x"}, "End": true}}),
        ));
        assert_eq!(e[0].0, "/States/A/Output/k.$");
        assert!(e[0].1.contains("ends in '.$'"), "{}", e[0].1);
    }

    #[test]
    fn a_jsonpath_state_in_a_jsonata_machine_is_refused_but_the_reverse_is_fine() {
        let e = errors(jsonata(
            json!({"A": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}),
        ));
        assert_eq!(e[0].0, "/States/A/QueryLanguage");
        assert!(e[0].1.contains("cannot use JSONPath"), "{}", e[0].1);
        let mixed = json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}", "Next": "B"},
            "B": {"Type": "Pass", "InputPath": "$", "End": true}}});
        assert!(errors(mixed).is_empty());
        let e = errors(
            json!({"StartAt": "A", "QueryLanguage": "JSONPathX", "States": {"A": {"Type": "Succeed"}}}),
        );
        assert_eq!(e[0].0, "/QueryLanguage");
    }

    #[test]
    fn syntax_errors_name_the_state_the_field_and_the_position() {
        let e = errors(jsonata(
            json!({"A": {"Type": "Pass", "Output": {"list": [1, "{% $states.input. %}"]}, "End": true}}),
        ));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(e[0].0, "/States/A/Output/list/1");
        assert!(
            e[0].1
                .contains("'$states.input.' in 'Output' is not valid at character"),
            "{}",
            e[0].1
        );
        let e = errors(jsonata(
            json!({"A": {"Type": "Choice", "Choices": [{"Condition": "{% ( %}", "Next": "A"}]}}),
        ));
        assert_eq!(e[0].0, "/States/A/Choices/0/Condition", "{e:#?}");
        let e = errors(jsonata(
            json!({"A": {"Type": "Pass", "Output": "{% $.a %}", "End": true}}),
        ));
        assert_eq!(e[0].0, "/States/A/Output", "{e:#?}");
        let e = errors(jsonata(
            json!({"A": {"Type": "Wait", "Seconds": "{% 1 + %}", "End": true}}),
        ));
        assert_eq!(e[0].0, "/States/A/Seconds", "{e:#?}");
        let e = errors(jsonata(
            json!({"A": {"Type": "Choice", "Choices": [{"Variable": "$.a", "BooleanEquals": true, "Next": "A"}]}}),
        ));
        assert!(
            e.iter().any(|(at, _)| at == "/States/A/Choices/0/Variable"),
            "{e:#?}"
        );
    }

    #[test]
    fn states_result_and_error_output_only_where_aws_has_them() {
        let task = |fields: Value| {
            let mut state = json!({"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:w", "End": true});
            state
                .as_object_mut()
                .unwrap()
                .extend(fields.as_object().unwrap().clone());
            errors(jsonata(json!({"A": state, "B": {"Type": "Succeed"}})))
        };
        assert!(task(json!({"Output": "{% $states.result %}", "Assign": {"r": "{% $states.result.x %}"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B", "Output": "{% $states.errorOutput %}"}]})).is_empty());
        let e = task(json!({"Arguments": {"a": "{% $states.result %}"}}));
        assert_eq!(e[0].0, "/States/A/Arguments");
        assert!(
            e[0].1
                .contains("$states.result is not available in 'Arguments'"),
            "{e:#?}"
        );
        let e = task(json!({"Output": "{% $states.errorOutput %}"}));
        assert!(
            e[0].1
                .contains("$states.errorOutput is not available in 'Output'"),
            "{e:#?}"
        );
        let e = task(
            json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B", "Assign": {"x": "{% $states.result %}"}}]}),
        );
        assert!(
            e[0].1.contains("not available in a Catcher's 'Assign'"),
            "{e:#?}"
        );
        let e = errors(jsonata(
            json!({"A": {"Type": "Pass", "Output": "{% $states.result %}", "End": true}}),
        ));
        assert!(
            e[0].1
                .contains("$states.result is not available in 'Output'"),
            "a Pass has no result: {e:#?}"
        );
        let e = errors(jsonata(
            json!({"A": {"Type": "Wait", "Seconds": "{% $states.result %}", "End": true}}),
        ));
        assert_eq!(e[0].0, "/States/A/Seconds", "{e:#?}");
    }

    #[test]
    fn assign_names_follow_the_rules_in_both_languages() {
        let e = errors(
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"states": 1, "9lives.$": "$", "ok.$": "$.a"}, "End": true}}}),
        );
        let at: Vec<&str> = e.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(
            at,
            ["/States/A/Assign/states", "/States/A/Assign/9lives.$"],
            "{e:#?}"
        );
        let e = errors(
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": [1], "End": true}}}),
        );
        assert!(e[0].1.contains("'Assign' must be an object"), "{e:#?}");
        let e = errors(
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "ResultPath": "$v", "End": true}}}),
        );
        assert!(e[0].1.contains("not into the variable 'v'"), "{e:#?}");
        let e = errors(
            json!({"StartAt": "A", "States": {"A": {"Type": "Succeed", "Assign": {"x": 1}}}}),
        );
        assert_eq!(e[0].0, "/States/A/Assign", "Succeed has no Assign: {e:#?}");
    }
}
