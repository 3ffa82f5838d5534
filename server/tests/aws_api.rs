//! The AWS-compatible JSON API on the HTTP listener, driven with raw AWS JSON 1.0
//! requests (what the AWS SDKs send), and its agreement with the gRPC API.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use support::{TempDir, fixture, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one AWS JSON 1.0 request; returns the HTTP status and the JSON body.
async fn aws(addr: SocketAddr, action: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: sync-states.us-east-1.amazonaws.com\r\ncontent-type: application/x-amz-json-1.0\r\n\
         x-amz-target: AWSStepFunctions.{action}\r\nauthorization: AWS4-HMAC-SHA256 Credential=ignored\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-amz-json-1.0"),
        "{head}"
    );
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn ok(addr: SocketAddr, action: &str, body: Value) -> Value {
    let (status, value) = aws(addr, action, body).await;
    assert_eq!(status, 200, "{action}: {value}");
    value
}

/// CreateStateMachine (with a role, which AWS requires); returns the new machine's ARN.
async fn create_machine(addr: SocketAddr, mut body: Value) -> String {
    if body.get("roleArn").is_none() {
        body["roleArn"] = json!("arn:aws:iam::000000000000:role/tests");
    }
    ok(addr, "CreateStateMachine", body).await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn error(addr: SocketAddr, action: &str, body: Value) -> (String, String) {
    let (status, value) = aws(addr, action, body).await;
    assert_eq!(status, 400, "{action} should fail: {value}");
    (
        value["__type"].as_str().unwrap().to_string(),
        value["message"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_choice_example_runs_with_an_activity_worker_over_the_aws_api() {
    let dir = TempDir::new("aws");
    let (server, mut clients) = start(dir.path()).await;
    let addr = server.http_addr;
    let created = ok(addr, "CreateStateMachine", json!({"name": "Choice", "definition": fixture("choice-state.asl.json").to_string(), "roleArn": "arn:aws:iam::000000000000:role/any"})).await;
    let machine = created["stateMachineArn"].as_str().unwrap().to_string();
    assert_eq!(
        machine,
        "arn:aws:states:us-east-1:000000000000:stateMachine:Choice"
    );
    assert!(
        created["creationDate"].as_f64().unwrap() > 1.0e9,
        "epoch seconds"
    );

    // An activity of the function's name serves the Lambda-ARN task's queue.
    let activity = ok(
        addr,
        "CreateActivity",
        json!({"name": "AMIS_deciding_function"}),
    )
    .await["activityArn"]
        .as_str()
        .unwrap()
        .to_string();
    let started = ok(
        addr,
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "aws-1", "input": "{\"want\": 200}"}),
    )
    .await;
    let arn = started["executionArn"].as_str().unwrap().to_string();
    let task = ok(
        addr,
        "GetActivityTask",
        json!({"activityArn": activity, "workerName": "boto-like"}),
    )
    .await;
    let input: Value = serde_json::from_str(task["input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"want": 200}));
    ok(
        addr,
        "SendTaskSuccess",
        json!({"taskToken": task["taskToken"], "output": "{\"statusCode\": 200}"}),
    )
    .await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let described = loop {
        let described = ok(addr, "DescribeExecution", json!({"executionArn": arn})).await;
        if described["status"] != "RUNNING" {
            break described;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(described["status"], "SUCCEEDED");
    assert_eq!(described["output"], "{\"statusCode\":200}");
    let history = ok(addr, "GetExecutionHistory", json!({"executionArn": arn})).await;
    let events = history["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "ExecutionStarted");
    assert_eq!(
        events[0]["executionStartedEventDetails"]["input"],
        "{\"want\":200}"
    );
    let scheduled = events
        .iter()
        .find(|e| e["type"] == "LambdaFunctionScheduled")
        .unwrap();
    assert_eq!(
        scheduled["lambdaFunctionScheduledEventDetails"]["resource"],
        "arn:aws:lambda:eu-west-1:300577164517:function:AMIS_deciding_function"
    );
    let entered: Vec<&str> = events
        .iter()
        .filter_map(|e| {
            e.get("stateEnteredEventDetails")
                .map(|d| d["name"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        entered,
        ["Deciding Lambda Function", "ChoiceState", "Correct"]
    );
    let page = ok(addr, "GetExecutionHistory", json!({"executionArn": arn, "maxResults": 2, "reverseOrder": true, "includeExecutionData": false})).await;
    assert_eq!(page["events"][0]["type"], "ExecutionSucceeded");
    assert!(
        page["events"][0]["executionSucceededEventDetails"]
            .get("output")
            .is_none(),
        "data left out"
    );
    assert!(page["nextToken"].is_string());

    // The two APIs agree: the same execution seen over gRPC.
    let over_grpc = clients.describe(&arn).await;
    assert_eq!(over_grpc.output(), described["output"].as_str().unwrap());
    // ... and one started over gRPC is visible over the AWS API.
    let from_grpc = clients.start("Choice", "grpc-1", json!({})).await;
    let seen = ok(
        addr,
        "DescribeExecution",
        json!({"executionArn": from_grpc}),
    )
    .await;
    assert_eq!(seen["status"], "RUNNING");
    assert_eq!(seen["name"], "grpc-1");
    let listed = ok(addr, "ListExecutions", json!({"stateMachineArn": machine})).await;
    assert_eq!(listed["executions"].as_array().unwrap().len(), 2);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_with_aws_codes() {
    let dir = TempDir::new("aws-errors");
    let (server, _clients) = start(dir.path()).await;
    let addr = server.http_addr;
    let simple =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}})
            .to_string();
    let machine = create_machine(addr, json!({"name": "M", "definition": simple})).await;
    ok(
        addr,
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "once", "input": "{}"}),
    )
    .await;
    let cases = [
        ("NoSuchAction", json!({}), "UnknownOperationException"),
        (
            "CreateStateMachine",
            json!({"name": "Bad", "definition": "{\"StartAt\": \"X\", \"States\": {}}", "roleArn": "arn:aws:iam::000000000000:role/r"}),
            "InvalidDefinition",
        ),
        (
            "CreateStateMachine",
            json!({"name": "M", "definition": "{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Pass\", \"End\": true}}}", "roleArn": "arn:aws:iam::000000000000:role/r"}),
            "StateMachineAlreadyExists",
        ),
        (
            "CreateStateMachine",
            json!({"name": "has space", "definition": simple, "roleArn": "arn:aws:iam::000000000000:role/r"}),
            "InvalidName",
        ),
        (
            "DescribeStateMachine",
            json!({"stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:Nope"}),
            "StateMachineDoesNotExist",
        ),
        (
            "DescribeExecution",
            json!({"executionArn": "arn:aws:states:us-east-1:000000000000:execution:M:nope"}),
            "ExecutionDoesNotExist",
        ),
        (
            "DescribeExecution",
            json!({"executionArn": "not-an-arn"}),
            "InvalidArn",
        ),
        (
            "StartExecution",
            json!({"stateMachineArn": machine, "input": "{not json"}),
            "InvalidExecutionInput",
        ),
        (
            "StartExecution",
            json!({"stateMachineArn": machine, "name": "once", "input": "{\"other\": 1}"}),
            "ExecutionAlreadyExists",
        ),
        (
            "GetActivityTask",
            json!({"activityArn": "arn:aws:states:us-east-1:000000000000:activity:never"}),
            "ActivityDoesNotExist",
        ),
        (
            "SendTaskSuccess",
            json!({"taskToken": "0123456789abcdef0123456789abcdef", "output": "{}"}),
            "TaskDoesNotExist",
        ),
        ("DescribeExecution", json!({}), "ValidationException"),
        (
            "ListExecutions",
            json!({"stateMachineArn": machine, "nextToken": "not-ours"}),
            "InvalidToken",
        ),
    ];
    for (action, body, code) in cases {
        let (got, message) = error(addr, action, body).await;
        assert_eq!(got, code, "{action}: {message}");
        assert!(!message.is_empty());
    }
    let (status, value) = aws(addr, "ListStateMachines", Value::Null).await;
    assert_eq!(
        (status, value["__type"].as_str()),
        (400, Some("SerializationException"))
    );

    // A token whose task already closed answers TaskTimedOut, as AWS documents for a
    // token that "has either expired or ... has already been closed".
    let activity = ok(addr, "CreateActivity", json!({"name": "Act"})).await["activityArn"]
        .as_str()
        .unwrap()
        .to_string();
    let task_machine = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": activity, "End": true}}}).to_string();
    let task_machine = create_machine(addr, json!({"name": "T", "definition": task_machine})).await;
    ok(
        addr,
        "StartExecution",
        json!({"stateMachineArn": task_machine, "input": "{}"}),
    )
    .await;
    let task = ok(addr, "GetActivityTask", json!({"activityArn": activity})).await;
    let token = task["taskToken"].as_str().unwrap().to_string();
    ok(
        addr,
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{}"}),
    )
    .await;
    let (code, message) = error(
        addr,
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{}"}),
    )
    .await;
    assert_eq!(code, "TaskTimedOut", "{message}");
    server.shutdown().await.unwrap();
}

async fn tags_of(addr: SocketAddr, arn: &str) -> Vec<(String, String)> {
    ok(addr, "ListTagsForResource", json!({"resourceArn": arn})).await["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| {
            (
                tag["key"].as_str().unwrap().to_string(),
                tag["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_stored_survive_a_restart_and_refuse_bad_input() {
    let dir = TempDir::new("aws-tags");
    let definition =
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}).to_string();
    let (server, _clients) = start(dir.path()).await;
    let addr = server.http_addr;
    let machine = create_machine(addr, json!({"name": "Tagged", "definition": definition, "tags": [{"key": "team", "value": "qa"}]})).await;
    let activity = ok(addr, "CreateActivity", json!({"name": "Work"})).await["activityArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(tags_of(addr, &machine).await, pairs(&[("team", "qa")]));
    assert_eq!(tags_of(addr, &activity).await, pairs(&[]));

    ok(
        addr,
        "TagResource",
        json!({"resourceArn": machine, "tags": [{"key": "team", "value": "ops"}, {"key": "env", "value": "ci"}]}),
    )
    .await;
    ok(
        addr,
        "TagResource",
        json!({"resourceArn": activity, "tags": [{"key": "owner", "value": "me"}]}),
    )
    .await;
    assert_eq!(
        tags_of(addr, &machine).await,
        pairs(&[("env", "ci"), ("team", "ops")])
    );

    let missing = "arn:aws:states:us-east-1:000000000000:stateMachine:Nope";
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    let cases = [
        (
            "ListTagsForResource",
            json!({"resourceArn": missing}),
            "ResourceNotFound",
        ),
        (
            "TagResource",
            json!({"resourceArn": machine, "tags": too_many}),
            "TooManyTags",
        ),
        (
            "TagResource",
            json!({"resourceArn": machine, "tags": [{"key": "", "value": "x"}]}),
            "ValidationException",
        ),
        (
            "TagResource",
            json!({"resourceArn": machine, "tags": [{"value": "no key"}]}),
            "ValidationException",
        ),
        (
            "UntagResource",
            json!({"resourceArn": machine, "tagKeys": "team"}),
            "ValidationException",
        ),
        (
            "CreateStateMachine",
            json!({"name": "BadTags", "definition": definition, "roleArn": "arn:aws:iam::000000000000:role/r", "tags": [{"key": "x".repeat(129), "value": ""}]}),
            "ValidationException",
        ),
    ];
    for (action, body, code) in cases {
        let (got, message) = error(addr, action, body.clone()).await;
        assert_eq!(got, code, "{action} {body}: {message}");
        assert!(!message.is_empty());
    }
    // The refused calls changed nothing: no machine created, tags as they were.
    error(
        addr,
        "DescribeStateMachine",
        json!({"stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:BadTags"}),
    )
    .await;
    assert_eq!(
        tags_of(addr, &machine).await,
        pairs(&[("env", "ci"), ("team", "ops")])
    );

    server.shutdown().await.unwrap();
    let (server, _clients) = start(dir.path()).await;
    let addr = server.http_addr;
    assert_eq!(
        tags_of(addr, &machine).await,
        pairs(&[("env", "ci"), ("team", "ops")])
    );
    assert_eq!(tags_of(addr, &activity).await, pairs(&[("owner", "me")]));

    ok(
        addr,
        "UntagResource",
        json!({"resourceArn": machine, "tagKeys": ["team", "absent"]}),
    )
    .await;
    assert_eq!(tags_of(addr, &machine).await, pairs(&[("env", "ci")]));

    // Deleting forgets the tags: a machine re-created under the name starts untagged.
    ok(
        addr,
        "DeleteStateMachine",
        json!({"stateMachineArn": machine}),
    )
    .await;
    create_machine(addr, json!({"name": "Tagged", "definition": definition})).await;
    assert_eq!(tags_of(addr, &machine).await, pairs(&[]));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_sync_execution_answers_on_a_sync_prefixed_host() {
    // `aws()` sends `Host: sync-states...`, the name the SDKs use for this action.
    let dir = TempDir::new("aws-sync");
    let (server, _clients) = start(dir.path()).await;
    let addr = server.http_addr;
    let definition = json!({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.ok", "BooleanEquals": true, "Next": "Done"}], "Default": "Broken"},
        "Done": {"Type": "Pass", "Result": {"answer": 42}, "End": true},
        "Broken": {"Type": "Fail", "Error": "Bad.Input", "Cause": "ok was not true"}}})
    .to_string();
    let machine = create_machine(
        addr,
        json!({"name": "Quick", "definition": definition, "type": "EXPRESS"}),
    )
    .await;

    let done = ok(
        addr,
        "StartSyncExecution",
        json!({"stateMachineArn": machine, "name": "sync-ok", "input": "{\"ok\": true}"}),
    )
    .await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"], "{\"answer\":42}");
    assert_eq!(done["name"], "sync-ok");
    assert!(done["stopDate"].as_f64().unwrap() >= done["startDate"].as_f64().unwrap());
    assert!(
        done["billingDetails"]["billedDurationInMilliseconds"]
            .as_u64()
            .unwrap()
            >= 100
    );
    assert!(
        done["billingDetails"]["billedMemoryUsedInMB"]
            .as_u64()
            .unwrap()
            >= 64
    );

    let failed = ok(
        addr,
        "StartSyncExecution",
        json!({"stateMachineArn": machine, "input": "{\"ok\": false}"}),
    )
    .await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"], "Bad.Input");
    assert_eq!(failed["cause"], "ok was not true");

    let (code, message) = error(
        addr,
        "StartSyncExecution",
        json!({"stateMachineArn": machine, "input": "[not json"}),
    )
    .await;
    assert_eq!(code, "InvalidExecutionInput", "{message}");

    let standard = create_machine(addr, json!({"name": "Slow", "definition": definition})).await;
    let (code, message) = error(
        addr,
        "StartSyncExecution",
        json!({"stateMachineArn": standard, "input": "{}"}),
    )
    .await;
    assert_eq!(code, "StateMachineTypeNotSupported");
    assert!(message.contains("'Slow' is STANDARD"), "{message}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_given_on_create_is_kept_shown_and_read_by_executions() {
    let dir = TempDir::new("aws-role");
    let (server, _clients) = start(dir.path()).await;
    let addr = server.http_addr;
    let role = "arn:aws:iam::123456789012:role/OrderProcessing";
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"role.$": "$$.Execution.RoleArn"}, "End": true}}});
    let machine = create_machine(
        addr,
        json!({"name": "Roles", "definition": definition.to_string(), "roleArn": role}),
    )
    .await;
    let described = ok(
        addr,
        "DescribeStateMachine",
        json!({"stateMachineArn": machine}),
    )
    .await;
    assert_eq!(described["roleArn"], role);
    let run = |name: &'static str| {
        let machine = machine.clone();
        async move {
            let started = ok(
                addr,
                "StartExecution",
                json!({"stateMachineArn": machine, "name": name}),
            )
            .await;
            let arn = started["executionArn"].as_str().unwrap().to_string();
            for _ in 0..200 {
                let execution = ok(addr, "DescribeExecution", json!({"executionArn": arn})).await;
                if execution["status"] != "RUNNING" {
                    return (arn, execution);
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("{name} did not end");
        }
    };
    let (arn, execution) = run("first").await;
    let output: Value = serde_json::from_str(execution["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!({"role": role}));
    let history = ok(addr, "GetExecutionHistory", json!({"executionArn": arn})).await;
    assert_eq!(
        history["events"][0]["executionStartedEventDetails"]["roleArn"],
        role
    );
    // UpdateStateMachine may change it; later executions read the new one.
    let other = "arn:aws:iam::123456789012:role/Other";
    ok(
        addr,
        "UpdateStateMachine",
        json!({"stateMachineArn": machine, "definition": definition.to_string(), "roleArn": other}),
    )
    .await;
    let (_, execution) = run("second").await;
    let output: Value = serde_json::from_str(execution["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!({"role": other}));
    server.shutdown().await.unwrap();
}
