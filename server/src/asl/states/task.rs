//! Task: hands work to a worker through a queue named by the `Resource`, then waits for
//! its result. This file reads the resource ARN into the queue it names and the
//! integration pattern it asks for, and resolves the task's timeouts.
//!
//! Queue naming (DESIGN.md): an activity ARN names queue NAME; a Lambda function ARN
//! names queue FUNCTION; `arn:aws:states:::lambda:invoke` names the queue of its
//! `Parameters.FunctionName`; any other `arn:aws:states:::SERVICE:ACTION` names queue
//! `SERVICE:ACTION`.

use crate::asl::validate::Code;
use crate::asl::validate::MAX_SECONDS;
use crate::asl::validate::Obj;
use crate::asl::validate::Reader;
use crate::asl::validate::Severity;
use crate::asl::validate::StateLinks;
use serde_json::Value;

use crate::asl::definition::Setting;
use crate::asl::error::StatesError;
use crate::asl::eval::Env;
use crate::asl::retry::ErrorHandling;

/// A Task state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `Resource`, parsed.
    pub resource: Resource,
    /// `TimeoutSeconds` or `TimeoutSecondsPath`.
    pub timeout: Option<Setting<u64>>,
    /// `HeartbeatSeconds` or `HeartbeatSecondsPath`.
    pub heartbeat: Option<Setting<u64>>,
    /// `Credentials`: accepted and ignored (validation warns).
    pub credentials: Option<Value>,
    /// `Retry` and `Catch`.
    pub errors: ErrorHandling,
}

/// The timeouts of one run of a task, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskTimeouts {
    /// The task fails with `States.Timeout` after this long.
    pub timeout_seconds: Option<u64>,
    /// The task fails with `States.HeartbeatTimeout` if no heartbeat comes this often.
    pub heartbeat_seconds: Option<u64>,
}

impl Task {
    /// Resolves TimeoutSeconds(Path) and HeartbeatSeconds(Path) against the state input
    /// after InputPath. A heartbeat not shorter than the timeout is an error, as AWS
    /// rejects it.
    pub fn timeouts(&self, input: &Value, env: &mut Env) -> Result<TaskTimeouts, StatesError> {
        let timeout_seconds = self
            .timeout
            .as_ref()
            .map(|t| t.resolve(input, env, "TimeoutSecondsPath"))
            .transpose()?;
        let heartbeat_seconds = self
            .heartbeat
            .as_ref()
            .map(|h| h.resolve(input, env, "HeartbeatSecondsPath"))
            .transpose()?;
        for (field, value) in [
            ("TimeoutSecondsPath", timeout_seconds),
            ("HeartbeatSecondsPath", heartbeat_seconds),
        ] {
            if value == Some(0) {
                return Err(StatesError::runtime(format!(
                    "{field} must select a positive integer, not 0"
                )));
            }
        }
        if let (Some(timeout), Some(heartbeat)) = (timeout_seconds, heartbeat_seconds)
            && heartbeat >= timeout
        {
            return Err(StatesError::runtime(format!(
                "HeartbeatSeconds ({heartbeat}) must be smaller than TimeoutSeconds ({timeout})"
            )));
        }
        Ok(TaskTimeouts {
            timeout_seconds,
            heartbeat_seconds,
        })
    }
}

/// What a resource ARN points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`.
    Activity {
        /// The activity name.
        name: String,
    },
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
    LambdaFunction {
        /// The function name.
        name: String,
    },
    /// `arn:aws:states:::lambda:invoke`: the function comes from Parameters.FunctionName
    /// and the result is wrapped like AWS's (`Payload`, `StatusCode`, ...).
    LambdaInvoke,
    /// `arn:aws:states:::SERVICE:ACTION`.
    Service {
        /// e.g. `sqs`.
        service: String,
        /// e.g. `sendMessage`.
        action: String,
    },
}

/// How the task's completion is reported (the ARN suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationPattern {
    /// No suffix: the worker's result completes the task.
    RequestResponse,
    /// `.sync` (or `.sync:2`): the worker's result completes the task once the job is done.
    Sync,
    /// `.waitForTaskToken`: only SendTaskSuccess/Failure with `$$.Task.Token` completes it.
    WaitForTaskToken,
}

/// A parsed `Resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The ARN as written.
    pub arn: String,
    /// What it names.
    pub target: Target,
    /// How completion is reported.
    pub pattern: IntegrationPattern,
}

impl Resource {
    /// Parses a Task's Resource ARN, explaining what is wrong when it is not one
    /// Stepwise can serve.
    pub fn parse(arn: &str) -> Result<Resource, String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() < 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
            return Err(format!(
                "'{arn}' is not an ARN; a Task's Resource looks like arn:aws:states:::lambda:invoke, \
                 arn:aws:lambda:REGION:ACCOUNT:function:NAME or arn:aws:states:REGION:ACCOUNT:activity:NAME"
            ));
        }
        let (service, region, account, rest) = (parts[2], parts[3], parts[4], parts[5]);
        let resource = |target, pattern| Resource {
            arn: arn.to_string(),
            target,
            pattern,
        };
        match service {
            "lambda" => {
                let name = rest
                    .strip_prefix("function:")
                    .map(|r| r.split(':').next().unwrap_or_default())
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| {
                        format!("'{arn}' names no Lambda function (expected ...:function:NAME)")
                    })?;
                Ok(resource(
                    Target::LambdaFunction {
                        name: name.to_string(),
                    },
                    IntegrationPattern::RequestResponse,
                ))
            }
            "states" if rest.starts_with("activity:") => {
                let name = &rest["activity:".len()..];
                if name.is_empty() || name.contains(':') {
                    return Err(format!(
                        "'{arn}' names no activity (expected ...:activity:NAME)"
                    ));
                }
                Ok(resource(
                    Target::Activity {
                        name: name.to_string(),
                    },
                    IntegrationPattern::RequestResponse,
                ))
            }
            "states" if region.is_empty() && account.is_empty() => {
                let (service_action, pattern) =
                    if let Some(base) = rest.strip_suffix(".waitForTaskToken") {
                        (base, IntegrationPattern::WaitForTaskToken)
                    } else if let Some(base) = rest
                        .strip_suffix(".sync:2")
                        .or_else(|| rest.strip_suffix(".sync"))
                    {
                        (base, IntegrationPattern::Sync)
                    } else {
                        (rest, IntegrationPattern::RequestResponse)
                    };
                let (service, action) = service_action
                    .split_once(':')
                    .filter(|(s, a)| !s.is_empty() && !a.is_empty() && !a.contains(':'))
                    .ok_or_else(|| format!("'{arn}' names no service action (expected arn:aws:states:::SERVICE:ACTION)"))?;
                let target = if service == "lambda" && action == "invoke" {
                    Target::LambdaInvoke
                } else {
                    Target::Service {
                        service: service.to_string(),
                        action: action.to_string(),
                    }
                };
                Ok(resource(target, pattern))
            }
            _ => Err(format!(
                "'{arn}' is not a resource Stepwise can run: use an activity, a Lambda function or an arn:aws:states::: integration"
            )),
        }
    }

    /// The queue this task is offered on, given the task's effective input (its
    /// Parameters, for `lambda:invoke`).
    pub fn queue(&self, parameters: &Value) -> Result<String, StatesError> {
        match &self.target {
            Target::Activity { name } | Target::LambdaFunction { name } => Ok(name.clone()),
            Target::Service { service, action } => Ok(format!("{service}:{action}")),
            Target::LambdaInvoke => {
                let function = parameters.get("FunctionName").and_then(Value::as_str).ok_or_else(|| {
                    StatesError::runtime("arn:aws:states:::lambda:invoke needs Parameters.FunctionName (a string)")
                })?;
                lambda_function_name(function)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        StatesError::runtime(format!(
                            "FunctionName '{function}' names no Lambda function"
                        ))
                    })
            }
        }
    }
}

impl Resource {
    /// What the worker receives: for `lambda:invoke` the `Payload` (the function's event,
    /// as Lambda would pass it; `{}` when absent), otherwise the whole effective input.
    pub fn worker_input(&self, parameters: &Value) -> Value {
        match self.target {
            Target::LambdaInvoke => parameters
                .get("Payload")
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
            _ => parameters.clone(),
        }
    }
}

/// The function name in any of the forms Lambda accepts: `NAME`, `NAME:ALIAS`,
/// `ACCOUNT:function:NAME` or a full function ARN.
fn lambda_function_name(function: &str) -> Option<&str> {
    let name = match function.split(':').collect::<Vec<_>>().as_slice() {
        [name] | [name, _] => *name,
        [_, "function", name] | [_, "function", name, _] => *name,
        ["arn", _, "lambda", _, _, "function", name]
        | ["arn", _, "lambda", _, _, "function", name, _] => *name,
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

// ---- reading the definition ---------------------------------------------------

impl Reader {
    pub(crate) fn task(&mut self, obj: Obj, links: &mut StateLinks) -> Option<Task> {
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
}

impl Task {
    /// The fields a Task state may have in JSONPath.
    pub const FIELDS: &[&str] = &[
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
        "Assign",
        "Next",
        "End",
    ];
    /// The fields a Task state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] = &[
        "Resource",
        "Arguments",
        "Output",
        "Assign",
        "TimeoutSeconds",
        "HeartbeatSeconds",
        "Retry",
        "Catch",
        "Credentials",
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
    use serde_json::json;

    #[test]
    fn resources_map_to_queues_as_design_says() {
        let cases = [
            (
                "arn:aws:states:us-east-1:123456789012:activity:HelloWorld",
                json!({}),
                "HelloWorld",
                IntegrationPattern::RequestResponse,
            ),
            (
                "arn:aws:lambda:eu-west-1:300577164517:function:AMIS_deciding_function",
                json!({}),
                "AMIS_deciding_function",
                IntegrationPattern::RequestResponse,
            ),
            (
                "arn:aws:lambda:eu-west-1:300577164517:function:f:PROD",
                json!({}),
                "f",
                IntegrationPattern::RequestResponse,
            ),
            (
                "arn:aws:states:::lambda:invoke",
                json!({"FunctionName": "arn:aws:lambda:us-east-1:1:function:resize:3"}),
                "resize",
                IntegrationPattern::RequestResponse,
            ),
            (
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                json!({"FunctionName": "notify"}),
                "notify",
                IntegrationPattern::WaitForTaskToken,
            ),
            (
                "arn:aws:states:::sqs:sendMessage",
                json!({}),
                "sqs:sendMessage",
                IntegrationPattern::RequestResponse,
            ),
            (
                "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                json!({}),
                "sqs:sendMessage",
                IntegrationPattern::WaitForTaskToken,
            ),
            (
                "arn:aws:states:::ecs:runTask.sync",
                json!({}),
                "ecs:runTask",
                IntegrationPattern::Sync,
            ),
            (
                "arn:aws:states:::states:startExecution.sync:2",
                json!({}),
                "states:startExecution",
                IntegrationPattern::Sync,
            ),
        ];
        for (arn, params, queue, pattern) in cases {
            let resource = Resource::parse(arn).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(resource.queue(&params).unwrap(), queue, "{arn}");
            assert_eq!(resource.pattern, pattern, "{arn}");
        }
    }

    #[test]
    fn lambda_function_name_forms() {
        assert_eq!(lambda_function_name("my-function"), Some("my-function"));
        assert_eq!(lambda_function_name("my-function:v1"), Some("my-function"));
        assert_eq!(
            lambda_function_name("123456789012:function:my-function"),
            Some("my-function")
        );
        assert_eq!(
            lambda_function_name("arn:aws:lambda:us-west-2:123456789012:function:my-function"),
            Some("my-function")
        );
        assert_eq!(lambda_function_name(""), None);
    }

    #[test]
    fn lambda_invoke_without_function_name_fails_at_run_time() {
        let resource = Resource::parse("arn:aws:states:::lambda:invoke").unwrap();
        assert_eq!(
            resource.queue(&json!({"Payload": {}})).unwrap_err().error,
            "States.Runtime"
        );
    }

    #[test]
    fn bad_resources_explain_themselves() {
        for (arn, expected) in [
            ("my-function", "is not an ARN"),
            (
                "arn:aws:lambda:us-east-1:1:layer:x",
                "names no Lambda function",
            ),
            ("arn:aws:states:us-east-1:1:activity:", "names no activity"),
            ("arn:aws:states:::sqs", "names no service action"),
            ("arn:aws:s3:::bucket/key", "not a resource Stepwise can run"),
        ] {
            let err = Resource::parse(arn).unwrap_err();
            assert!(err.contains(expected), "{arn}: {err}");
        }
    }

    #[test]
    fn timeouts_resolve_and_check_heartbeat_below_timeout() {
        let task = Task {
            resource: Resource::parse("arn:aws:states:::sqs:sendMessage").unwrap(),
            timeout: Some(Setting::Fixed(300)),
            heartbeat: Some(Setting::Path(
                crate::asl::path::ReferencePath::parse("$.hb").unwrap(),
            )),
            credentials: None,
            errors: ErrorHandling::default(),
        };
        assert_eq!(
            with_env(|env| task.timeouts(&json!({"hb": 60}), env)).unwrap(),
            TaskTimeouts {
                timeout_seconds: Some(300),
                heartbeat_seconds: Some(60)
            }
        );
        assert!(
            with_env(|env| task.timeouts(&json!({"hb": 300}), env))
                .unwrap_err()
                .cause
                .contains("must be smaller")
        );
        assert!(
            with_env(|env| task.timeouts(&json!({"hb": 0}), env))
                .unwrap_err()
                .cause
                .contains("not 0")
        );
    }
}
