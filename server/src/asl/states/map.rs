//! Map (inline): runs its ItemProcessor once per item of an array in the input, at most
//! MaxConcurrency at a time (0: no limit); its result is the array of the iterations'
//! outputs, in item order. Failed iterations fail the state unless they stay within
//! ToleratedFailureCount / ToleratedFailurePercentage.

use crate::asl::validate::Code;
use crate::asl::validate::Obj;
use crate::asl::validate::Reader;
use crate::asl::validate::StateLinks;
use serde_json::Value;

use crate::asl::definition::{Branch, QueryLanguage, Setting};
use crate::asl::error::StatesError;
use crate::asl::eval::Env;
use crate::asl::io::check_payload;
use crate::asl::json::describe;
use crate::asl::jsonata::{JsonataValue, States};
use crate::asl::path::ReferencePath;
use crate::asl::payload::{Data, Payload};
use crate::asl::retry::ErrorHandling;

/// A Map state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// `ItemProcessor` (or the older `Iterator`).
    pub processor: Branch,
    /// `ItemsPath`: where the array is in the input (default `$`).
    pub items_path: ReferencePath,
    /// JSONata `Items`: the array itself, or an expression giving it (replaces ItemsPath).
    pub items: Option<JsonataValue>,
    /// `ItemSelector` (or the older `Parameters`): builds each iteration's input.
    pub item_selector: Option<Payload>,
    /// `MaxConcurrency` or `MaxConcurrencyPath` (0: unlimited).
    pub max_concurrency: Setting<u64>,
    /// `ToleratedFailureCount` or its Path.
    pub tolerated_failure_count: Option<Setting<u64>>,
    /// `ToleratedFailurePercentage` or its Path.
    pub tolerated_failure_percentage: Option<Setting<f64>>,
    /// `Retry` and `Catch`.
    pub errors: ErrorHandling,
}

/// How many failed iterations a Map tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Tolerance {
    /// At most this many may fail.
    pub count: Option<u64>,
    /// At most this percentage may fail.
    pub percentage: Option<f64>,
}

impl Tolerance {
    /// Whether `failed` failures among `total` items is more than tolerated. With neither
    /// threshold set, any failure is too many.
    pub fn exceeded(&self, failed: usize, total: usize) -> bool {
        if failed == 0 {
            return false;
        }
        let over_count = self.count.map(|max| failed as u64 > max);
        let over_percentage = self
            .percentage
            .map(|max| total > 0 && (failed as f64) * 100.0 / (total as f64) > max);
        match (over_count, over_percentage) {
            (None, None) => true,
            (count, percentage) => count.unwrap_or(false) || percentage.unwrap_or(false),
        }
    }
}

impl Map {
    /// The items to iterate over, from the state input after InputPath.
    pub fn items(&self, input: &Value, env: &mut Env) -> Result<Vec<Value>, StatesError> {
        if let Some(items) = &self.items {
            let states = States {
                input,
                result: None,
                error_output: None,
            };
            return match items.evaluate(&states, env, "Items")? {
                Value::Array(items) => Ok(items),
                other => Err(match items.as_expression() {
                    Some(expression) => crate::asl::definition::unexpected_value(
                        expression, "Items", "an array", &other,
                    ),
                    None => unreachable!("a literal Items is an array by validation"),
                }),
            };
        }
        let value = self.items_path.get(input, env.sources()).ok_or_else(|| {
            StatesError::runtime(format!(
                "ItemsPath '{}' selects nothing in the state's input",
                self.items_path.text()
            ))
        })?;
        match value {
            Value::Array(items) => Ok(items.clone()),
            other => Err(StatesError::runtime(format!(
                "ItemsPath '{}' must select an array, but it selects {}",
                self.items_path.text(),
                describe(other)
            ))),
        }
    }

    /// One iteration's input: ItemSelector evaluated against the state input (with
    /// `$$.Map.Item` in `env`'s context), or the item itself.
    pub fn iteration_input(
        &self,
        input: &Value,
        item: &Value,
        env: &mut Env,
    ) -> Result<Value, StatesError> {
        match &self.item_selector {
            Some(selector) => {
                let data = Data {
                    dollar: input,
                    states: States {
                        input,
                        result: None,
                        error_output: None,
                    },
                };
                let selected = selector.evaluate(&data, env, "ItemSelector")?;
                // An ItemSelector can nest the input deeper, like Parameters.
                check_payload(&selected, env, "the iteration's input after ItemSelector")?;
                Ok(selected)
            }
            None => Ok(item.clone()),
        }
    }

    /// MaxConcurrency, resolved (0: unlimited).
    pub fn concurrency(&self, input: &Value, env: &mut Env) -> Result<u64, StatesError> {
        self.max_concurrency
            .resolve(input, env, "MaxConcurrencyPath")
    }

    /// The tolerated failures, resolved; a percentage outside 0..=100 is an error.
    pub fn tolerance(&self, input: &Value, env: &mut Env) -> Result<Tolerance, StatesError> {
        let count = self
            .tolerated_failure_count
            .as_ref()
            .map(|c| c.resolve(input, env, "ToleratedFailureCountPath"))
            .transpose()?;
        let percentage = self
            .tolerated_failure_percentage
            .as_ref()
            .map(|p| p.resolve(input, env, "ToleratedFailurePercentagePath"))
            .transpose()?;
        if let Some(p) = percentage
            && !(0.0..=100.0).contains(&p)
        {
            return Err(StatesError::runtime(format!(
                "ToleratedFailurePercentagePath must select a number from 0 to 100, not {p}"
            )));
        }
        Ok(Tolerance { count, percentage })
    }
}

// ---- reading the definition ---------------------------------------------------

impl Reader {
    pub(crate) fn map_state(&mut self, obj: Obj, links: &mut StateLinks) -> Option<Map> {
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
                // AWS accepts a ProcessorConfig in the older Iterator too (Mode INLINE
                // runs as ItemProcessor does).
                let allowed = ["StartAt", "States", "ProcessorConfig"];
                self.check_fields(processor_obj, &allowed, &format!("a Map's {processor_key}"));
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
        let jsonata = self.language == QueryLanguage::Jsonata;
        let item_selector = if jsonata {
            self.jsonata_value(obj, "ItemSelector")
                .map(Payload::Jsonata)
        } else if obj.has("ItemSelector") {
            self.template(obj, "ItemSelector").map(Payload::Template)
        } else {
            self.template(obj, "Parameters").map(Payload::Template)
        };
        let items = if jsonata {
            self.jsonata_items(obj)
        } else {
            None
        };
        let items_path = match obj.get("ItemsPath") {
            Some(_) if !jsonata => self.reference_path(obj, "ItemsPath"),
            _ => Some(ReferencePath::root_path()),
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
        Some(Map {
            processor: processor?,
            items_path: items_path?,
            items,
            item_selector,
            max_concurrency,
            tolerated_failure_count,
            tolerated_failure_percentage,
            errors,
        })
    }

    /// JSONata `Items`: an array, or an expression giving one.
    fn jsonata_items(&mut self, obj: Obj) -> Option<JsonataValue> {
        let value = obj.get("Items")?;
        let items = self.jsonata_value(obj, "Items")?;
        if items.as_expression().is_none() && !value.is_array() {
            self.schema(
                obj.loc("Items"),
                format!(
                    "'Items' must be an array or a JSONata expression \"{{% ... %}}\" giving one, not {}",
                    describe(value)
                ),
            );
            return None;
        }
        Some(items)
    }

    pub(crate) fn processor_config(&mut self, processor: Obj) {
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
}

impl Map {
    /// The fields a Map state may have in JSONPath.
    pub const FIELDS: &[&str] = &[
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
        "Assign",
        "Next",
        "End",
    ];
    /// The fields a Map state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] = &[
        "Items",
        "ItemSelector",
        "ItemProcessor",
        "Iterator",
        "MaxConcurrency",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "Output",
        "Assign",
        "Retry",
        "Catch",
        "Next",
        "End",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env<T>(f: impl FnOnce(&mut crate::asl::eval::Env) -> T) -> T {
        let context = serde_json::json!({});
        let mut random = crate::asl::random::SeededRandom::new(1);
        f(&mut crate::asl::eval::Env::new(&context, &mut random))
    }
    use crate::asl::context::{
        ContextObject, ExecutionContext, MapContext, MapItem, StateMachineContext,
    };
    use crate::asl::random::SeededRandom;
    use indexmap::IndexMap;
    use serde_json::json;

    fn map(items_path: &str, selector: Option<Value>) -> Map {
        Map {
            processor: Branch {
                comment: None,
                start_at: "X".into(),
                states: IndexMap::new(),
            },
            items_path: ReferencePath::parse(items_path).unwrap(),
            items: None,
            item_selector: selector
                .map(|s| Payload::Template(crate::asl::template::Template::parse(&s).unwrap())),
            max_concurrency: Setting::Fixed(0),
            tolerated_failure_count: None,
            tolerated_failure_percentage: None,
            errors: ErrorHandling::default(),
        }
    }

    // The AWS Map example: ItemsPath "$.detail.shipped" with an ItemSelector that adds
    // the delivery partner to each item.
    #[test]
    fn aws_map_item_selector_example() {
        let m = map(
            "$.detail.shipped",
            Some(json!({"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner"})),
        );
        let input = json!({
            "ship-date": "2016-03-14T01:59:00Z",
            "detail": {"delivery-partner": "UQS", "shipped": [{"prod": "R31", "dest-code": 9511, "quantity": 1344}, {"prod": "S39", "dest-code": 9511, "quantity": 40}]},
            "delivery-partner": "UQS"
        });
        let items = with_env(|env| m.items(&input, env)).unwrap();
        assert_eq!(items.len(), 2);
        let context = ContextObject {
            execution: ExecutionContext {
                id: "e".into(),
                input: json!({}),
                name: "e".into(),
                role_arn: String::new(),
                start_time: String::new(),
                redrive_count: 0,
            },
            state: None,
            state_machine: StateMachineContext {
                id: "m".into(),
                name: "m".into(),
            },
            task: None,
            map: Some(MapContext {
                item: MapItem {
                    index: 1,
                    value: items[1].clone(),
                },
            }),
        }
        .to_value();
        let mut random = SeededRandom::new(1);
        let mut env = Env::new(&context, &mut random);
        assert_eq!(
            m.iteration_input(&input, &items[1], &mut env).unwrap(),
            json!({"parcel": {"prod": "S39", "dest-code": 9511, "quantity": 40}, "courier": "UQS"})
        );
    }

    #[test]
    fn without_selector_each_item_is_the_input() {
        let m = map("$", None);
        let context = json!({});
        let mut random = SeededRandom::new(1);
        let mut env = Env::new(&context, &mut random);
        assert_eq!(
            m.iteration_input(&json!([1, 2]), &json!(2), &mut env)
                .unwrap(),
            json!(2)
        );
    }

    #[test]
    fn items_path_must_select_an_array() {
        let m = map("$.list", None);
        assert!(
            with_env(|env| m.items(&json!({"list": {"a": 1}}), env))
                .unwrap_err()
                .cause
                .contains("must select an array, but it selects an object")
        );
        assert!(
            with_env(|env| m.items(&json!({}), env))
                .unwrap_err()
                .cause
                .contains("selects nothing")
        );
    }

    #[test]
    fn tolerance_thresholds() {
        let none = Tolerance::default();
        assert!(!none.exceeded(0, 10));
        assert!(none.exceeded(1, 10));
        let count = Tolerance {
            count: Some(2),
            percentage: None,
        };
        assert!(!count.exceeded(2, 10));
        assert!(count.exceeded(3, 10));
        let pct = Tolerance {
            count: None,
            percentage: Some(20.0),
        };
        assert!(!pct.exceeded(2, 10));
        assert!(pct.exceeded(3, 10));
        let both = Tolerance {
            count: Some(5),
            percentage: Some(10.0),
        };
        assert!(
            both.exceeded(2, 10),
            "over the percentage even though within the count"
        );
        let all = Tolerance {
            count: None,
            percentage: Some(100.0),
        };
        assert!(!all.exceeded(10, 10));
    }

    #[test]
    fn concurrency_and_tolerance_resolve_from_input() {
        let mut m = map("$.items", None);
        m.max_concurrency = Setting::Path(ReferencePath::parse("$.max").unwrap());
        m.tolerated_failure_percentage =
            Some(Setting::Path(ReferencePath::parse("$.pct").unwrap()));
        assert_eq!(
            with_env(|env| m.concurrency(&json!({"max": 4}), env)).unwrap(),
            4
        );
        assert_eq!(
            with_env(|env| m.tolerance(&json!({"pct": 50}), env))
                .unwrap()
                .percentage,
            Some(50.0)
        );
        assert!(with_env(|env| m.tolerance(&json!({"pct": 150}), env)).is_err());
    }
}
