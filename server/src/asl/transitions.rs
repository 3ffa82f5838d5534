//! Where each state can go next, each way labelled as a person reads it: a Choice rule
//! as a short expression (`$.statusCode == 200`), `Default`, `Catch States.ALL`. The
//! console's SVG graph and the CLI's Mermaid and DOT graphs draw from this one reading,
//! so the two label the same definition the same way.

use super::definition::{State, StateKind, Transition};
use super::states::{Comparison, Condition, Operand, Relation, TypeTest};

/// One way out of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge<'a> {
    /// The state it leads to.
    pub to: &'a str,
    /// What takes it: a Choice rule, `Default` or `Catch ERRORS`; none for `Next`.
    pub label: Option<String>,
    /// Whether it is taken on an error.
    pub catch: bool,
}

/// Every way out of `state` within its branch, in definition order: `Next`, the Choice
/// rules and Default, then the Catchers.
pub fn edges(state: &State) -> Vec<Edge<'_>> {
    let mut out = Vec::new();
    if let Some(Transition::Next(next)) = &state.transition {
        out.push(Edge {
            to: next,
            label: None,
            catch: false,
        });
    }
    let catchers = match &state.kind {
        StateKind::Choice(choice) => {
            for rule in &choice.choices {
                out.push(Edge {
                    to: &rule.next,
                    label: Some(describe(&rule.condition)),
                    catch: false,
                });
            }
            if let Some(default) = &choice.default {
                out.push(Edge {
                    to: default,
                    label: Some("Default".into()),
                    catch: false,
                });
            }
            &[][..]
        }
        StateKind::Task(task) => &task.errors.catch[..],
        StateKind::Parallel(parallel) => &parallel.errors.catch[..],
        StateKind::Map(map) => &map.errors.catch[..],
        _ => &[][..],
    };
    for catcher in catchers {
        out.push(Edge {
            to: &catcher.next,
            label: Some(format!("Catch {}", catcher.error_equals.join(", "))),
            catch: true,
        });
    }
    out
}

/// Whether leaving `state` ends its branch.
pub fn ends_branch(state: &State) -> bool {
    matches!(
        (&state.transition, &state.kind),
        (Some(Transition::End), _) | (_, StateKind::Succeed(_) | StateKind::Fail(_))
    )
}

/// A Choice rule as a short expression, e.g. `$.statusCode == 200`.
pub fn describe(condition: &Condition) -> String {
    match condition {
        Condition::And(all) => join(all, " and "),
        Condition::Or(any) => join(any, " or "),
        Condition::Not(inner) => format!("not ({})", describe(inner)),
        Condition::Jsonata(expression) => expression.text().to_string(),
        Condition::Test {
            variable,
            comparison,
        } => {
            let variable = variable.text();
            match comparison {
                Comparison::Compare {
                    relation, operand, ..
                } => {
                    let op = match relation {
                        Relation::Equals => "==",
                        Relation::LessThan => "<",
                        Relation::GreaterThan => ">",
                        Relation::LessThanEquals => "<=",
                        Relation::GreaterThanEquals => ">=",
                    };
                    let operand = match operand {
                        Operand::Value(value) => value.to_string(),
                        Operand::Path(path) => path.text().to_string(),
                    };
                    format!("{variable} {op} {operand}")
                }
                Comparison::StringMatches(pattern) => {
                    format!(
                        "{variable} matches {}",
                        serde_json::Value::from(pattern.as_str())
                    )
                }
                Comparison::Is(test, expected) => {
                    let what = match test {
                        TypeTest::IsNull => "null",
                        TypeTest::IsPresent => "present",
                        TypeTest::IsNumeric => "numeric",
                        TypeTest::IsString => "a string",
                        TypeTest::IsBoolean => "a boolean",
                        TypeTest::IsTimestamp => "a timestamp",
                    };
                    let not = if *expected { "" } else { "not " };
                    format!("{variable} is {not}{what}")
                }
            }
        }
    }
}

fn join(conditions: &[Condition], with: &str) -> String {
    conditions
        .iter()
        .map(|c| match c {
            Condition::And(_) | Condition::Or(_) => format!("({})", describe(c)),
            _ => describe(c),
        })
        .collect::<Vec<_>>()
        .join(with)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::validate::parse;
    use serde_json::json;

    #[test]
    fn choice_rules_read_as_expressions() {
        let definition = json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 1},
                         {"Not": {"Variable": "$.s", "StringMatches": "log-*"}}], "Next": "D"},
                {"Or": [{"Variable": "$.x", "IsPresent": false},
                        {"Variable": "$.y", "NumericLessThanPath": "$.z"}], "Next": "D"}]},
            "D": {"Type": "Succeed"}
        }});
        let parsed = parse(&definition.to_string()).unwrap().machine;
        let StateKind::Choice(choice) = &parsed.root.states["C"].kind else {
            panic!("not a Choice")
        };
        let rules: Vec<String> = choice
            .choices
            .iter()
            .map(|r| describe(&r.condition))
            .collect();
        assert_eq!(
            rules,
            [
                r#"$.n >= 1 and not ($.s matches "log-*")"#,
                "$.x is not present or $.y < $.z"
            ]
        );
    }

    #[test]
    fn each_way_out_in_definition_order() {
        let definition = json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "f"}, "Next": "C",
                  "Catch": [{"ErrorEquals": ["A", "B"], "Next": "F"}]},
            "C": {"Type": "Choice", "Default": "F",
                  "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "S"}]},
            "S": {"Type": "Succeed"},
            "F": {"Type": "Fail"}
        }});
        let machine = parse(&definition.to_string()).unwrap().machine;
        let ways = |name: &str| -> Vec<(String, Option<String>, bool)> {
            edges(&machine.root.states[name])
                .into_iter()
                .map(|e| (e.to.to_string(), e.label, e.catch))
                .collect()
        };
        assert_eq!(
            ways("T"),
            [
                ("C".into(), None, false),
                ("F".into(), Some("Catch A, B".into()), true)
            ]
        );
        assert_eq!(
            ways("C"),
            [
                ("S".into(), Some("$.ok == true".into()), false),
                ("F".into(), Some("Default".into()), false)
            ]
        );
        assert!(ways("S").is_empty());
        assert!(ends_branch(&machine.root.states["S"]));
        assert!(!ends_branch(&machine.root.states["C"]));
    }
}
