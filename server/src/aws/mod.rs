//! The AWS Step Functions API (AWS JSON 1.0) on the HTTP listener: `POST /` with
//! `X-Amz-Target: AWSStepFunctions.<Action>`, members and error codes as in the AWS API
//! reference, over the same runtime calls as the gRPC API. Once the server requires keys
//! each request's Signature V4 is checked (`sigv4`) and each call allowed or refused as
//! on gRPC (`access`); before, signatures are not checked. Any Host is accepted (so the
//! SDKs' `sync-` host prefix for StartSyncExecution works).
//!
//! The same listener serves `GET /health` and `GET /metrics`.

mod access;
pub(crate) mod body;
pub(crate) mod history;
mod sigv4;

pub(crate) use history::TaskResources;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::runtime::paging::PageRequest;
use crate::runtime::{ActivityRecord, ExecutionRecord, MachineType};
use crate::runtime::{ExecutionView, MAX_POLL_SECONDS, Runtime, RuntimeError, check_tags};

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The HTTP routes: the AWS API, health and metrics.
pub fn router(runtime: Runtime) -> Router {
    Router::new()
        // The body is read by `body::read`, with its own limit and AWS-shaped errors.
        .route("/", post(handle).layer(DefaultBodyLimit::disable()))
        .route(
            "/health",
            get(|State(runtime): State<Runtime>| async move {
                if let Some(failure) = runtime.store_failure() {
                    return (StatusCode::SERVICE_UNAVAILABLE, format!("{failure}\n"));
                }
                // Serving: records recovery set aside do not stop that, but are listed.
                let mut body = "ok\n".to_string();
                if let Some(cluster) = runtime.cluster_status() {
                    body.push_str(&cluster);
                }
                let set_aside = runtime.set_aside();
                if !set_aside.is_empty() {
                    body.push_str(&format!(
                        "{} stored record(s) could not be read and were set aside (kept as found):\n",
                        set_aside.len()
                    ));
                    for damaged in set_aside {
                        body.push_str(&format!("  {damaged}\n"));
                    }
                }
                (StatusCode::OK, body)
            }),
        )
        .route(
            "/metrics",
            get(|State(runtime): State<Runtime>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    runtime.metrics_text(),
                )
            }),
        )
        .with_state(runtime)
}

/// An AWS error response.
#[derive(Debug)]
pub(crate) struct AwsError {
    code: &'static str,
    message: String,
    /// The HTTP status, when the code alone does not decide it.
    status: Option<StatusCode>,
    /// Close the connection after answering (its request was not read to the end).
    close: bool,
}

impl AwsError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            code,
            message: message.into(),
            status: None,
            close: false,
        }
    }

    /// An error with an HTTP status of its own (413, 408).
    pub(crate) fn with_status(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            status: Some(status),
            ..AwsError::new(code, message)
        }
    }

    /// Closes the connection after the answer.
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

impl From<RuntimeError> for AwsError {
    fn from(error: RuntimeError) -> Self {
        AwsError::new(error.aws_code(), error.to_string())
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or(match self.code {
            "ServiceUnavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "InternalFailure" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        });
        let body = json!({"__type": self.code, "message": self.message}).to_string();
        let mut response = (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        if self.close {
            response.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

async fn handle(
    State(runtime): State<Runtime>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match body::read(&headers, body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let signed = sigv4::Signed {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let caller = match access::caller(&runtime, &signed) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    match dispatch(&runtime, &caller, &headers, &body).await {
        Ok(value) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], value.to_string()).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The request's members, with typed accessors that name a missing or mistyped member.
struct Members(Map<String, Value>);

impl Members {
    fn string(&self, name: &str) -> Result<&str, AwsError> {
        self.optional_string(name)?.ok_or_else(|| {
            AwsError::new(
                "ValidationException",
                format!("the member '{name}' is required"),
            )
        })
    }

    fn optional_string(&self, name: &str) -> Result<Option<&str>, AwsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AwsError::new(
                "ValidationException",
                format!("the member '{name}' must be a string"),
            )),
        }
    }

    /// An optional string that, when given, is not empty (AWS refuses `"name": ""`
    /// rather than treating it as absent).
    fn optional_nonempty(&self, name: &str) -> Result<Option<&str>, AwsError> {
        match self.optional_string(name)? {
            Some("") => Err(AwsError::new(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at '{name}' failed to satisfy constraint: Member must have length greater than or equal to 1"
                ),
            )),
            other => Ok(other),
        }
    }

    fn optional_u64(&self, name: &str) -> Result<Option<u64>, AwsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                AwsError::new(
                    "ValidationException",
                    format!("the member '{name}' must be a non-negative integer"),
                )
            }),
        }
    }

    /// A required list of strings, such as `tagKeys`.
    fn strings(&self, name: &str) -> Result<Vec<String>, AwsError> {
        let mistyped = || {
            AwsError::new(
                "ValidationException",
                format!("the member '{name}' must be a list of strings"),
            )
        };
        match self.0.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(mistyped))
                .collect(),
            None | Some(Value::Null) => Err(AwsError::new(
                "ValidationException",
                format!("the member '{name}' is required"),
            )),
            Some(_) => Err(mistyped()),
        }
    }

    /// An optional list of tags (absent: none), as on the create calls.
    fn optional_tags(&self, name: &str) -> Result<Vec<(String, String)>, AwsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => self.tags(name),
        }
    }

    /// A required list of `{"key": .., "value": ..}` tags.
    fn tags(&self, name: &str) -> Result<Vec<(String, String)>, AwsError> {
        let mistyped = |index: usize| {
            AwsError::new(
                "ValidationException",
                format!("{name}[{index}] must be an object with string 'key' and 'value'"),
            )
        };
        let Some(Value::Array(items)) = self.0.get(name) else {
            return Err(AwsError::new(
                "ValidationException",
                format!("the member '{name}' is required and must be a list of tags"),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let key = item.get("key").and_then(Value::as_str);
                // AWS allows a tag without a value; it reads back as an empty string.
                let value = match item.get("value") {
                    None | Some(Value::Null) => Some(""),
                    Some(v) => v.as_str(),
                };
                match (key, value) {
                    (Some(key), Some(value)) => Ok((key.to_string(), value.to_string())),
                    _ => Err(mistyped(index)),
                }
            })
            .collect()
    }

    fn bool(&self, name: &str) -> bool {
        self.0.get(name).and_then(Value::as_bool).unwrap_or(false)
    }
}

async fn dispatch(
    runtime: &Runtime,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, AwsError> {
    let target = headers
        .get("x-amz-target")
        .ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                "the X-Amz-Target header is missing",
            )
        })?
        .to_str()
        .map_err(|_| {
            AwsError::new(
                "UnknownOperationException",
                "the X-Amz-Target header is not plain ASCII text, so it names no action",
            )
        })?;
    let action = target.strip_prefix("AWSStepFunctions.").ok_or_else(|| {
        AwsError::new(
            "UnknownOperationException",
            format!("'{target}' is not an AWSStepFunctions action"),
        )
    })?;
    let members = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(AwsError::new(
                    "SerializationException",
                    "the request body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(AwsError::new(
                    "SerializationException",
                    format!("the request body is not JSON: {e}"),
                ));
            }
        }
    };
    let m = Members(members);
    access::allow(caller, action, &m, runtime.arns())?;
    match action {
        "CreateStateMachine" => {
            let machine_type = match m.optional_string("type")? {
                None | Some("STANDARD") => MachineType::Standard,
                Some("EXPRESS") => MachineType::Express,
                Some(other) => {
                    return Err(AwsError::new(
                        "ValidationException",
                        format!("type must be STANDARD or EXPRESS, not {other}"),
                    ));
                }
            };
            let tags = m.optional_tags("tags")?;
            check_tags(&tags)?;
            let (name, definition) = (m.string("name")?, m.string("definition")?);
            // AWS requires the role; Stepwise keeps it for $$.Execution.RoleArn.
            let role_arn = checked_role_arn(m.string("roleArn")?)?;
            let view = runtime
                .create_machine(name, definition, machine_type, Some(role_arn))
                .await?;
            if !tags.is_empty() {
                runtime.tag_resource(&view.record.arn, &tags).await?;
            }
            Ok(
                json!({"stateMachineArn": view.record.arn, "creationDate": seconds(view.record.created_ms)}),
            )
        }
        "UpdateStateMachine" => {
            let arn = m.string("stateMachineArn")?;
            let definition = m.optional_string("definition")?.ok_or_else(|| {
                AwsError::new(
                    "MissingRequiredParameter",
                    "UpdateStateMachine needs a definition",
                )
            })?;
            let role_arn = m
                .optional_string("roleArn")?
                .map(checked_role_arn)
                .transpose()?;
            let view = runtime.update_machine(arn, definition, role_arn).await?;
            Ok(
                json!({"updateDate": seconds(view.record.updated_ms), "revisionId": view.record.revision.to_string()}),
            )
        }
        "DescribeStateMachine" => {
            let view = runtime
                .describe_machine(m.string("stateMachineArn")?)
                .await?;
            Ok(machine_json(&view.record, &view.definition))
        }
        "DeleteStateMachine" => {
            runtime.delete_machine(m.string("stateMachineArn")?).await?;
            Ok(json!({}))
        }
        "ListStateMachines" => {
            let mut records = runtime.list_machines().await?;
            records.retain(|record| caller.may_see(&record.name));
            let (page, next) = page(records, &m)?;
            let items: Vec<Value> = page
                .iter()
                .map(|r| json!({"stateMachineArn": r.arn, "name": r.name, "type": r.machine_type.as_str(), "creationDate": seconds(r.created_ms)}))
                .collect();
            Ok(with_next(json!({"stateMachines": items}), next))
        }
        "ValidateStateMachineDefinition" => {
            let diagnostics = crate::asl::validate::validate(m.string("definition")?);
            let failed = diagnostics
                .iter()
                .any(|d| d.severity == crate::asl::validate::Severity::Error);
            Ok(json!({"result": if failed { "FAIL" } else { "OK" }, "diagnostics": diagnostics}))
        }
        "StartExecution" => {
            let (arn, start_ms) = runtime
                .start_execution(
                    m.string("stateMachineArn")?,
                    m.optional_nonempty("name")?,
                    m.optional_string("input")?.unwrap_or("{}"),
                )
                .await?;
            Ok(json!({"executionArn": arn, "startDate": seconds(start_ms)}))
        }
        "StartSyncExecution" => {
            let view = runtime
                .start_sync_execution(
                    m.string("stateMachineArn")?,
                    m.optional_nonempty("name")?,
                    m.optional_string("input")?.unwrap_or("{}"),
                )
                .await?;
            Ok(sync_json(&view))
        }
        "StopExecution" => {
            let stop_ms = runtime
                .stop_execution(
                    m.string("executionArn")?,
                    m.optional_string("error")?.map(str::to_string),
                    m.optional_string("cause")?.map(str::to_string),
                )
                .await?;
            Ok(json!({"stopDate": seconds(stop_ms)}))
        }
        "DescribeExecution" => Ok(execution_json(
            &runtime
                .describe_execution(m.string("executionArn")?)
                .await?,
        )),
        "DescribeStateMachineForExecution" => {
            let view = runtime
                .describe_machine_for_execution(m.string("executionArn")?)
                .await?;
            let record = &view.record;
            // AWS's shape: no status, type or creationDate; updateDate is the revision's.
            Ok(json!({
                "stateMachineArn": record.arn, "name": record.name, "definition": view.definition,
                "roleArn": role_arn(record), "updateDate": seconds(record.updated_ms),
                "revisionId": record.revision.to_string(),
            }))
        }
        "ListExecutions" => {
            let filter = match m.optional_string("statusFilter")? {
                None => None,
                Some(s) => Some(status_from(s).ok_or_else(|| {
                    AwsError::new(
                        "ValidationException",
                        format!("'{s}' is not an execution status"),
                    )
                })?),
            };
            let (page, next) = runtime
                .list_executions(m.string("stateMachineArn")?, filter, &page_request(&m)?)
                .await?;
            let items: Vec<Value> = page.iter().map(summary_json).collect();
            Ok(with_next(json!({"executions": items}), next))
        }
        "GetExecutionHistory" => {
            let all = runtime.history(m.string("executionArn")?).await?;
            let mut events = all.clone();
            if m.bool("reverseOrder") {
                events.reverse();
            }
            let with_data =
                m.0.get("includeExecutionData")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
            let (page, next) = page(events, &m)?;
            let items = history::events_json(&page, &all, with_data);
            Ok(with_next(json!({"events": items}), next))
        }
        "CreateActivity" => {
            let tags = m.optional_tags("tags")?;
            check_tags(&tags)?;
            let record = runtime.create_activity(m.string("name")?).await?;
            if !tags.is_empty() {
                runtime.tag_resource(&record.arn, &tags).await?;
            }
            Ok(json!({"activityArn": record.arn, "creationDate": seconds(record.created_ms)}))
        }
        "DescribeActivity" => Ok(activity_json(
            &runtime.describe_activity(m.string("activityArn")?).await?,
        )),
        "DeleteActivity" => {
            runtime.delete_activity(m.string("activityArn")?).await?;
            Ok(json!({}))
        }
        "ListActivities" => {
            let mut records = runtime.list_activities().await?;
            records.retain(|record| caller.may_see(&record.name));
            let (page, next) = page(records, &m)?;
            let items: Vec<Value> = page.iter().map(activity_json).collect();
            Ok(with_next(json!({"activities": items}), next))
        }
        "GetActivityTask" => {
            let activity = runtime.describe_activity(m.string("activityArn")?).await?;
            let worker = m.optional_string("workerName")?.unwrap_or("aws-api-worker");
            let polled = runtime
                .poll(
                    &[activity.name],
                    worker,
                    std::time::Duration::from_secs(MAX_POLL_SECONDS),
                    None,
                )
                .await?;
            Ok(match polled {
                Some(offer) => json!({"taskToken": offer.token, "input": offer.input.to_string()}),
                None => json!({}),
            })
        }
        "SendTaskSuccess" => {
            runtime
                .send_success(m.string("taskToken")?, m.string("output")?, caller)
                .await?;
            Ok(json!({}))
        }
        "SendTaskFailure" => {
            runtime
                .send_failure(
                    m.string("taskToken")?,
                    m.optional_string("error")?.unwrap_or(""),
                    m.optional_string("cause")?.unwrap_or(""),
                    caller,
                )
                .await?;
            Ok(json!({}))
        }
        "SendTaskHeartbeat" => {
            runtime.heartbeat(m.string("taskToken")?, caller).await?;
            Ok(json!({}))
        }
        "TagResource" => {
            runtime
                .tag_resource(m.string("resourceArn")?, &m.tags("tags")?)
                .await?;
            Ok(json!({}))
        }
        "UntagResource" => {
            runtime
                .untag_resource(m.string("resourceArn")?, &m.strings("tagKeys")?)
                .await?;
            Ok(json!({}))
        }
        "ListTagsForResource" => {
            let tags: Vec<Value> = runtime
                .list_tags(m.string("resourceArn")?)
                .await?
                .into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect();
            Ok(json!({"tags": tags}))
        }
        other => Err(AwsError::new(
            "UnknownOperationException",
            format!("'{other}' is not an action Stepwise serves"),
        )),
    }
}

/// Epoch milliseconds as AWS's epoch seconds with fractions.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn status_from(name: &str) -> Option<crate::engine::Status> {
    use crate::engine::Status;
    [
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Aborted,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
}

/// The role ARN shown for a state machine: the one it was given, or (for machines made
/// through gRPC without one, or stored before roles were kept) the account's default.
fn role_arn(record: &crate::runtime::MachineRecord) -> String {
    record.role_arn.clone().unwrap_or_else(|| {
        format!(
            "arn:aws:iam::{}:role/stepwise",
            record.arn.split(':').nth(4).unwrap_or_default()
        )
    })
}

/// A `roleArn` as AWS accepts it: 1 to 256 characters, an ARN.
fn checked_role_arn(role: &str) -> Result<&str, AwsError> {
    if role.is_empty() || role.chars().count() > 256 {
        return Err(AwsError::new(
            "ValidationException",
            format!(
                "roleArn must be 1 to 256 characters, not {}",
                role.chars().count()
            ),
        ));
    }
    if !role.starts_with("arn:") {
        return Err(AwsError::new(
            "InvalidArn",
            format!("Invalid Arn: 'Resource type not valid in this context: {role}'"),
        ));
    }
    Ok(role)
}

fn machine_json(record: &crate::runtime::MachineRecord, definition: &str) -> Value {
    json!({
        "stateMachineArn": record.arn, "name": record.name, "status": "ACTIVE", "definition": definition,
        "roleArn": role_arn(record),
        "type": record.machine_type.as_str(), "creationDate": seconds(record.created_ms), "revisionId": record.revision.to_string(),
    })
}

/// An execution's summary as ListExecutions shows it.
pub(crate) fn summary_json(record: &ExecutionRecord) -> Value {
    let mut value = json!({
        "executionArn": record.arn, "stateMachineArn": record.machine_arn, "name": record.name,
        "status": record.status.as_str(), "startDate": seconds(record.start_ms),
    });
    if let Some(stop) = record.stop_ms {
        value["stopDate"] = json!(seconds(stop));
    }
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    value
}

fn execution_json(view: &ExecutionView) -> Value {
    let mut value = summary_json(&view.record);
    value["input"] = json!(view.input.to_string());
    value["inputDetails"] = json!({"included": true});
    if let Some(output) = &view.record.output {
        value["output"] = json!(output.to_string());
        value["outputDetails"] = json!({"included": true});
    }
    if let Some(error) = &view.record.error {
        value["error"] = json!(error);
    }
    if let Some(cause) = &view.record.cause {
        value["cause"] = json!(cause);
    }
    value
}

fn sync_json(view: &ExecutionView) -> Value {
    let mut value = execution_json(view);
    if let Some(billing) = view.billing {
        value["billingDetails"] = json!({
            "billedMemoryUsedInMB": billing.billed_memory_mb,
            "billedDurationInMilliseconds": billing.billed_duration_ms,
        });
    }
    value
}

fn activity_json(record: &ActivityRecord) -> Value {
    json!({"activityArn": record.arn, "name": record.name, "creationDate": seconds(record.created_ms)})
}

/// The call's `maxResults` / `nextToken` (see `runtime::paging`).
fn page_request(m: &Members) -> Result<PageRequest, AwsError> {
    let token = m.optional_string("nextToken")?;
    Ok(PageRequest::new(
        m.optional_u64("maxResults")?.unwrap_or(0),
        token,
    )?)
}

/// Pages a list by offset.
fn page<T>(items: Vec<T>, m: &Members) -> Result<(Vec<T>, Option<String>), AwsError> {
    Ok(page_request(m)?.by_offset(items, |_| 0, usize::MAX)?)
}

fn with_next(mut value: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        value["nextToken"] = json!(next);
    }
    value
}
