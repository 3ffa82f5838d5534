//! Choice: picks the next state from the first rule that matches the input, or the
//! Default. Rules compare a `Variable` (a path into the input) with a literal or with
//! another path (`...Path` operators), test its type, or combine rules with And, Or and
//! Not to any depth.
//!
//! As AWS does, a comparison whose operands are of the wrong type is simply false (it is
//! not an error), while a `Variable` that selects nothing is a `States.Runtime` error —
//! except for `IsPresent`, whose whole point is to ask.

use crate::asl::json::describe;
use crate::asl::validate::Code;
use crate::asl::validate::Obj;
use crate::asl::validate::Reader;
use crate::asl::validate::StateLinks;
use crate::asl::validate::Target as Link;
use crate::asl::validate::nearest;
use crate::asl::validate::short;
use serde_json::Value;

use crate::asl::definition::{QueryLanguage, unexpected_value};
use crate::asl::error::{StatesError, names};
use crate::asl::eval::Env;
use crate::asl::jsonata::{Expression, JsonataValue, States};
use crate::asl::path::Path;
use crate::asl::payload::Payload;
use crate::asl::timestamp;

/// A Choice state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// `Choices`, tried in order.
    pub choices: Vec<ChoiceRule>,
    /// `Default`: where to go when no rule matches.
    pub default: Option<String>,
}

/// The rule a Choice took, with its index (None: Default), and the next state's name.
pub type Taken<'c> = (Option<(usize, &'c ChoiceRule)>, &'c str);

/// One top-level rule: a condition and where it leads.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    /// What must hold.
    pub condition: Condition,
    /// `Next`.
    pub next: String,
    /// `Assign`: variables set when this rule is taken (after the state's own Assign).
    pub assign: Option<Payload>,
    /// JSONata `Output` when this rule is taken (instead of the state's own).
    pub output: Option<JsonataValue>,
}

/// A Boolean expression over the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `And`: every condition holds.
    And(Vec<Condition>),
    /// `Or`: some condition holds.
    Or(Vec<Condition>),
    /// `Not`.
    Not(Box<Condition>),
    /// JSONata `Condition`: an expression that must give true or false.
    Jsonata(Expression),
    /// `Variable` and one operator.
    Test {
        /// `Variable`.
        variable: Path,
        /// The operator and its operand.
        comparison: Comparison,
    },
}

/// A comparison operator with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// `StringEquals`, `NumericLessThanPath`, `TimestampGreaterThanEquals`, ...
    Compare {
        /// What kind of values are compared.
        family: Family,
        /// How they must relate.
        relation: Relation,
        /// The right-hand side.
        operand: Operand,
    },
    /// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
    StringMatches(String),
    /// `IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`, with
    /// the expected answer.
    Is(TypeTest, bool),
}

/// The value family of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

/// The relation a comparison asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

/// The type tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `StringEquals: "x"`.
    Value(Value),
    /// `StringEqualsPath: "$.other"`.
    Path(Path),
}

impl Family {
    /// Every family, for building the operator table.
    pub const ALL: [Family; 4] = [
        Family::String,
        Family::Numeric,
        Family::Boolean,
        Family::Timestamp,
    ];

    /// The operator-name prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Family::String => "String",
            Family::Numeric => "Numeric",
            Family::Boolean => "Boolean",
            Family::Timestamp => "Timestamp",
        }
    }

    /// The relations the family supports (Boolean has only Equals).
    pub fn relations(self) -> &'static [Relation] {
        match self {
            Family::Boolean => &[Relation::Equals],
            _ => &Relation::ALL,
        }
    }

    /// Whether a literal operand has the family's type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            Family::String => value.is_string(),
            Family::Numeric => value.is_number(),
            Family::Boolean => value.is_boolean(),
            Family::Timestamp => value.as_str().and_then(timestamp::instant).is_some(),
        }
    }
}

impl Relation {
    /// Every relation.
    pub const ALL: [Relation; 5] = [
        Relation::Equals,
        Relation::LessThan,
        Relation::GreaterThan,
        Relation::LessThanEquals,
        Relation::GreaterThanEquals,
    ];

    /// The operator-name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Relation::Equals => "Equals",
            Relation::LessThan => "LessThan",
            Relation::GreaterThan => "GreaterThan",
            Relation::LessThanEquals => "LessThanEquals",
            Relation::GreaterThanEquals => "GreaterThanEquals",
        }
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Relation::Equals => ordering == Equal,
            Relation::LessThan => ordering == Less,
            Relation::GreaterThan => ordering == Greater,
            Relation::LessThanEquals => ordering != Greater,
            Relation::GreaterThanEquals => ordering != Less,
        }
    }
}

impl TypeTest {
    /// Every type test with its operator name.
    pub const ALL: [(TypeTest, &'static str); 6] = [
        (TypeTest::IsNull, "IsNull"),
        (TypeTest::IsPresent, "IsPresent"),
        (TypeTest::IsNumeric, "IsNumeric"),
        (TypeTest::IsString, "IsString"),
        (TypeTest::IsBoolean, "IsBoolean"),
        (TypeTest::IsTimestamp, "IsTimestamp"),
    ];
}

impl Choice {
    /// The rule taken with its index (None: Default) and the next state's name: the first matching
    /// rule's Next, else Default, else `States.NoChoiceMatched`.
    pub fn next(&self, input: &Value, env: &mut Env) -> Result<Taken<'_>, StatesError> {
        for (index, rule) in self.choices.iter().enumerate() {
            if rule.condition.holds(input, env, index)? {
                return Ok((Some((index, rule)), &rule.next));
            }
        }
        self.default.as_deref().map(|d| (None, d)).ok_or_else(|| {
            StatesError::new(
                names::NO_CHOICE_MATCHED,
                "No Choice Rules matched and no Default is specified",
            )
        })
    }
}

impl Condition {
    /// Whether the condition holds for `input`; `rule` is the rule's index, for
    /// JSONata's error causes (`Choices[1]/Condition`).
    pub fn holds(&self, input: &Value, env: &mut Env, rule: usize) -> Result<bool, StatesError> {
        match self {
            Condition::Jsonata(expression) => {
                let field = format!("Choices[{rule}]/Condition");
                let states = States {
                    input,
                    result: None,
                    error_output: None,
                };
                match expression.evaluate(&states, env, &field)? {
                    Value::Bool(holds) => Ok(holds),
                    other => Err(unexpected_value(expression, &field, "a boolean", &other)),
                }
            }
            Condition::And(all) => {
                for c in all {
                    if !c.holds(input, env, rule)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(any) => {
                for c in any {
                    if c.holds(input, env, rule)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(inner) => Ok(!inner.holds(input, env, rule)?),
            Condition::Test {
                variable,
                comparison,
            } => {
                let value = variable.select(input, env.sources());
                if let Comparison::Is(TypeTest::IsPresent, expected) = comparison {
                    return Ok(value.is_some() == *expected);
                }
                let value = value.ok_or_else(|| invalid_path(variable.text(), "Variable"))?;
                comparison.holds(&value, input, env)
            }
        }
    }
}

fn invalid_path(path: &str, field: &str) -> StatesError {
    StatesError::runtime(format!(
        "Invalid path '{path}': The choice state's condition path references an invalid value ({field} selects nothing)"
    ))
}

impl Comparison {
    fn holds(&self, value: &Value, input: &Value, env: &Env) -> Result<bool, StatesError> {
        Ok(match self {
            Comparison::Compare {
                family,
                relation,
                operand,
            } => {
                let right = match operand {
                    Operand::Value(v) => v.clone(),
                    Operand::Path(path) => path
                        .select(input, env.sources())
                        .ok_or_else(|| invalid_path(path.text(), "the operator's path"))?,
                };
                compare(*family, value, &right).is_some_and(|ordering| relation.holds(ordering))
            }
            Comparison::StringMatches(pattern) => value
                .as_str()
                .is_some_and(|s| crate::wildcard::matches(pattern, s)),
            Comparison::Is(test, expected) => {
                let actual = match test {
                    TypeTest::IsNull => value.is_null(),
                    TypeTest::IsPresent => true,
                    TypeTest::IsNumeric => value.is_number(),
                    TypeTest::IsString => value.is_string(),
                    TypeTest::IsBoolean => value.is_boolean(),
                    TypeTest::IsTimestamp => value.as_str().and_then(timestamp::instant).is_some(),
                };
                actual == *expected
            }
        })
    }
}

/// Orders two values of a family; `None` when either is not of that family.
fn compare(family: Family, left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match family {
        Family::String => Some(left.as_str()?.cmp(right.as_str()?)),
        Family::Numeric => match (left.as_i64(), right.as_i64()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => left.as_f64()?.partial_cmp(&right.as_f64()?),
        },
        Family::Boolean => Some(left.as_bool()?.cmp(&right.as_bool()?)),
        Family::Timestamp => {
            let a = timestamp::instant(left.as_str()?)?;
            let b = timestamp::instant(right.as_str()?)?;
            Some(a.cmp(&b))
        }
    }
}

// ---- reading the definition ---------------------------------------------------

impl Reader {
    pub(crate) fn choice(&mut self, obj: Obj, links: &mut StateLinks) -> Option<Choice> {
        let default = self.string(obj, "Default").map(str::to_string);
        if let Some(default) = &default {
            links.targets.push(Link {
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
                    links.targets.push(Link {
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
            let (condition, output) = if self.language == QueryLanguage::Jsonata {
                self.check_fields(
                    rule_obj,
                    &["Condition", "Next", "Assign", "Output"],
                    "a JSONata Choice rule",
                );
                (
                    self.jsonata_condition(rule_obj),
                    self.jsonata_value(rule_obj, "Output"),
                )
            } else {
                (self.condition(rule_obj, true), None)
            };
            let assign = self.assign(rule_obj);
            if let (Some(condition), Some(next)) = (condition, next) {
                choices.push(ChoiceRule {
                    condition,
                    next,
                    assign,
                    output,
                });
            }
        }
        Some(Choice { choices, default })
    }

    /// A JSONata rule's `Condition`: one expression, `"{% ... %}"`.
    fn jsonata_condition(&mut self, obj: Obj) -> Option<Condition> {
        match self.field_expression(obj, "Condition") {
            Some(expression) => expression.map(Condition::Jsonata),
            None => {
                let problem = match obj.get("Condition") {
                    None => "a JSONata Choice rule needs 'Condition', an expression \"{% ... %}\" giving true or false".to_string(),
                    Some(other) => format!(
                        "'Condition' must be a JSONata expression \"{{% ... %}}\" giving true or false, not {other}"
                    ),
                };
                let at = if obj.has("Condition") {
                    obj.loc("Condition")
                } else {
                    obj.at.to_string()
                };
                self.schema(at, problem);
                None
            }
        }
    }

    /// Reads a rule's condition: exactly one of And, Or, Not or a comparison operator.
    pub(crate) fn condition(&mut self, obj: Obj, top_level: bool) -> Option<Condition> {
        let operators: Vec<&String> = obj.map.keys().filter(|k| is_operator(k)).collect();
        let mut allowed = vec!["Variable", "And", "Or", "Not"];
        if top_level {
            allowed.extend(["Next", "Assign"]);
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

    pub(crate) fn comparison(&mut self, obj: Obj, operator: &str) -> Option<Comparison> {
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
}

/// Whether `key` is a Choice comparison operator.
pub(crate) fn is_operator(key: &str) -> bool {
    key == "StringMatches"
        || TypeTest::ALL.iter().any(|(_, name)| *name == key)
        || parse_operator(key).is_some()
}

/// `NumericLessThanEqualsPath` → (Numeric, LessThanEquals, true).
pub(crate) fn parse_operator(key: &str) -> Option<(Family, Relation, bool)> {
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
pub(crate) fn all_operator_names() -> Vec<String> {
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

impl Choice {
    /// The fields a Choice state may have in JSONPath.
    pub const FIELDS: &[&str] = &["InputPath", "OutputPath", "Choices", "Default", "Assign"];
    /// The fields a Choice state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] = &["Choices", "Default", "Output", "Assign"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test(variable: &str, comparison: Comparison) -> Condition {
        Condition::Test {
            variable: Path::parse(variable).unwrap(),
            comparison,
        }
    }

    fn cmp(family: Family, relation: Relation, operand: Value) -> Comparison {
        Comparison::Compare {
            family,
            relation,
            operand: Operand::Value(operand),
        }
    }

    fn try_holds(condition: &Condition, input: Value) -> Result<bool, StatesError> {
        let context = json!({});
        let mut random = crate::asl::random::SeededRandom::new(1);
        condition.holds(&input, &mut Env::new(&context, &mut random), 0)
    }

    fn holds(condition: &Condition, input: Value) -> bool {
        try_holds(condition, input).unwrap()
    }

    fn next(choice: &Choice, input: Value) -> Result<String, StatesError> {
        let context = json!({});
        let mut random = crate::asl::random::SeededRandom::new(1);
        choice
            .next(&input, &mut Env::new(&context, &mut random))
            .map(|(_, next)| next.to_string())
    }

    fn rule(condition: Condition, next: &str) -> ChoiceRule {
        ChoiceRule {
            condition,
            next: next.into(),
            assign: None,
            output: None,
        }
    }

    // The AWS Choice state example: type, value, Not, And and a Default.
    #[test]
    fn aws_choice_example() {
        let choice = Choice {
            choices: vec![
                rule(
                    Condition::Not(Box::new(test(
                        "$.type",
                        cmp(Family::String, Relation::Equals, json!("Private")),
                    ))),
                    "Public",
                ),
                rule(
                    test("$.value", cmp(Family::Numeric, Relation::Equals, json!(0))),
                    "ValueIsZero",
                ),
                rule(
                    Condition::And(vec![
                        test(
                            "$.value",
                            cmp(Family::Numeric, Relation::GreaterThanEquals, json!(20)),
                        ),
                        test(
                            "$.value",
                            cmp(Family::Numeric, Relation::LessThan, json!(30)),
                        ),
                    ]),
                    "ValueInTwenties",
                ),
            ],
            default: Some("DefaultState".into()),
        };
        assert_eq!(
            next(&choice, json!({"type": "Public", "value": 5})).unwrap(),
            "Public"
        );
        assert_eq!(
            next(&choice, json!({"type": "Private", "value": 0})).unwrap(),
            "ValueIsZero"
        );
        assert_eq!(
            next(&choice, json!({"type": "Private", "value": 25})).unwrap(),
            "ValueInTwenties"
        );
        assert_eq!(
            next(&choice, json!({"type": "Private", "value": 35})).unwrap(),
            "DefaultState"
        );
    }

    #[test]
    fn no_match_and_no_default_is_no_choice_matched() {
        let choice = Choice {
            choices: vec![rule(
                test(
                    "$.statusCode",
                    cmp(Family::Numeric, Relation::Equals, json!(200)),
                ),
                "Correct",
            )],
            default: None,
        };
        let err = next(&choice, json!({"statusCode": 404})).unwrap_err();
        assert_eq!(err.error, "States.NoChoiceMatched");
    }

    #[test]
    fn every_relation_in_every_ordered_family() {
        let cases = [
            (Family::String, json!("b"), json!("a"), json!("c")),
            (Family::Numeric, json!(2), json!(1.5), json!(10)),
            (
                Family::Timestamp,
                json!("2020-01-02T00:00:00Z"),
                json!("2020-01-01T23:59:59Z"),
                json!("2020-01-02T00:00:00.001Z"),
            ),
        ];
        for (family, value, lower, higher) in cases {
            let check = |relation, operand: &Value, expected: bool| {
                assert_eq!(
                    holds(
                        &test("$.v", cmp(family, relation, operand.clone())),
                        json!({"v": value})
                    ),
                    expected,
                    "{family:?} {relation:?} {operand}"
                );
            };
            check(Relation::Equals, &value, true);
            check(Relation::Equals, &lower, false);
            check(Relation::LessThan, &higher, true);
            check(Relation::LessThan, &value, false);
            check(Relation::GreaterThan, &lower, true);
            check(Relation::GreaterThan, &value, false);
            check(Relation::LessThanEquals, &value, true);
            check(Relation::LessThanEquals, &lower, false);
            check(Relation::GreaterThanEquals, &value, true);
            check(Relation::GreaterThanEquals, &higher, false);
        }
        assert!(holds(
            &test("$.b", cmp(Family::Boolean, Relation::Equals, json!(true))),
            json!({"b": true})
        ));
        assert!(!holds(
            &test("$.b", cmp(Family::Boolean, Relation::Equals, json!(false))),
            json!({"b": true})
        ));
    }

    #[test]
    fn timestamps_compare_as_instants_across_offsets() {
        let c = test(
            "$.t",
            cmp(
                Family::Timestamp,
                Relation::Equals,
                json!("2020-01-01T01:00:00+01:00"),
            ),
        );
        assert!(holds(&c, json!({"t": "2020-01-01T00:00:00Z"})));
    }

    #[test]
    fn timestamps_in_the_last_day_of_year_9999_still_compare() {
        let c = test(
            "$.t",
            cmp(
                Family::Timestamp,
                Relation::LessThan,
                json!("9999-12-31T23:59:59Z"),
            ),
        );
        assert!(holds(&c, json!({"t": "9999-12-31T23:59:58Z"})));
        assert!(!holds(&c, json!({"t": "9999-12-31T23:59:59Z"})));
    }

    #[test]
    fn mismatched_types_are_false_not_errors() {
        assert!(!holds(
            &test("$.v", cmp(Family::Numeric, Relation::Equals, json!(1))),
            json!({"v": "1"})
        ));
        assert!(!holds(
            &test("$.v", cmp(Family::String, Relation::Equals, json!("1"))),
            json!({"v": 1})
        ));
        assert!(!holds(
            &test(
                "$.v",
                cmp(
                    Family::Timestamp,
                    Relation::LessThan,
                    json!("2020-01-01T00:00:00Z")
                )
            ),
            json!({"v": "yesterday"})
        ));
    }

    #[test]
    fn path_operands_compare_two_input_values() {
        let c = test(
            "$.a",
            Comparison::Compare {
                family: Family::Numeric,
                relation: Relation::LessThan,
                operand: Operand::Path(Path::parse("$.b").unwrap()),
            },
        );
        assert!(holds(&c, json!({"a": 1, "b": 2})));
        assert!(!holds(&c, json!({"a": 3, "b": 2})));
        let err = try_holds(&c, json!({"a": 1})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn missing_variable_is_a_runtime_error_except_for_is_present() {
        let c = test("$.nope", cmp(Family::Numeric, Relation::Equals, json!(1)));
        let err = try_holds(&c, json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("'$.nope'"));
        assert!(holds(
            &test("$.nope", Comparison::Is(TypeTest::IsPresent, false)),
            json!({})
        ));
        assert!(!holds(
            &test("$.nope", Comparison::Is(TypeTest::IsPresent, true)),
            json!({})
        ));
        assert!(holds(
            &test("$.here", Comparison::Is(TypeTest::IsPresent, true)),
            json!({"here": null})
        ));
    }

    #[test]
    fn type_tests() {
        let input =
            json!({"n": null, "x": 1.5, "s": "str", "b": false, "t": "2016-03-14T01:59:00Z"});
        let expectations = [
            ("$.n", TypeTest::IsNull),
            ("$.x", TypeTest::IsNumeric),
            ("$.s", TypeTest::IsString),
            ("$.t", TypeTest::IsString),
            ("$.b", TypeTest::IsBoolean),
            ("$.t", TypeTest::IsTimestamp),
        ];
        for (path, t) in expectations {
            assert!(
                holds(&test(path, Comparison::Is(t, true)), input.clone()),
                "{path} {t:?}"
            );
            assert!(
                !holds(&test(path, Comparison::Is(t, false)), input.clone()),
                "{path} {t:?} false"
            );
        }
        assert!(!holds(
            &test("$.s", Comparison::Is(TypeTest::IsTimestamp, true)),
            input.clone()
        ));
        assert!(!holds(
            &test("$.x", Comparison::Is(TypeTest::IsString, true)),
            input
        ));
    }

    #[test]
    fn string_matches_applies_to_strings_only() {
        // The wildcards themselves are tested in `crate::wildcard`.
        let c = test("$.f", Comparison::StringMatches("*.log".into()));
        assert!(holds(&c, json!({"f": "x.log"})));
        assert!(!holds(&c, json!({"f": 5})));
    }

    #[test]
    fn nested_boolean_operators() {
        let deep = Condition::Or(vec![
            Condition::And(vec![
                Condition::Not(Box::new(test(
                    "$.a",
                    Comparison::Is(TypeTest::IsNull, true),
                ))),
                Condition::Or(vec![
                    test(
                        "$.a",
                        cmp(Family::Numeric, Relation::GreaterThan, json!(10)),
                    ),
                    test("$.b", cmp(Family::String, Relation::Equals, json!("yes"))),
                ]),
            ]),
            test(
                "$.force",
                cmp(Family::Boolean, Relation::Equals, json!(true)),
            ),
        ]);
        assert!(holds(&deep, json!({"a": 11, "b": "no", "force": false})));
        assert!(holds(&deep, json!({"a": 1, "b": "yes", "force": false})));
        assert!(!holds(
            &deep,
            json!({"a": null, "b": "yes", "force": false})
        ));
        assert!(holds(&deep, json!({"a": null, "b": "no", "force": true})));
    }
}
