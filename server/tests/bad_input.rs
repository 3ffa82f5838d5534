//! Bad-input suite: a table of malformed, mistyped, invalid, oversized, forged and
//! repeated requests over both APIs (gRPC and AWS JSON). Each must get its expected
//! status or AWS error code with a message naming what is wrong, and leave everything
//! stored exactly as it was; the server must still answer afterwards.

mod support;

use std::net::SocketAddr;

use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use stepwise_server::runtime::Runtime;
use stepwise_server::runtime::paging::PageRequest;
use support::{Clients, TempDir, lambda};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// Everything the server has stored, as every read shows it.
async fn snapshot(runtime: &Runtime) -> String {
    let mut out = Vec::new();
    for machine in runtime.list_machines().await.unwrap() {
        out.push(format!("{machine:?}"));
        out.push(format!(
            "{:?}",
            runtime.describe_machine(&machine.name).await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            runtime.list_tags(&machine.arn).await.unwrap()
        ));
        let mut executions = Vec::new();
        let mut page = PageRequest::first(1000);
        loop {
            let (listed, next) = runtime
                .list_executions(&machine.name, None, &page)
                .await
                .unwrap();
            executions.extend(listed);
            match next {
                Some(next) => page.token = Some(next),
                None => break,
            }
        }
        for execution in executions {
            out.push(format!("{execution:?}"));
            out.push(format!(
                "{:?}",
                runtime.describe_execution(&execution.arn).await.unwrap()
            ));
            out.push(format!(
                "{:?}",
                runtime.history(&execution.arn).await.unwrap()
            ));
        }
    }
    for activity in runtime.list_activities().await.unwrap() {
        out.push(format!("{activity:?}"));
        out.push(format!(
            "{:?}",
            runtime.list_tags(&activity.arn).await.unwrap()
        ));
    }
    out.push(format!(
        "{:?}",
        runtime.usage(None, 0, i64::MAX / 2).await.unwrap()
    ));
    out.join("\n")
}

/// JSON nested `depth` levels deep: `[[[...]]]`.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A JSONPath filter whose parentheses nest `depth` deep (2 KB at 1,000: it once ended
/// the process with a stack overflow).
fn deep_filter(depth: usize) -> String {
    format!("$.a[?{}@.b > 1{}]", "(".repeat(depth), ")".repeat(depth))
}

/// A definition whose Pass state's Result is nested `depth` levels deep.
fn deep_definition(depth: usize) -> String {
    format!(
        r#"{{"StartAt":"P","States":{{"P":{{"Type":"Pass","Result":{},"End":true}}}}}}"#,
        nested(depth)
    )
}

fn pass_machine() -> Value {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})
}

/// One state with `state` added to a minimal valid machine.
fn with_state(state: Value) -> String {
    json!({"StartAt": "S", "States": {"S": state}}).to_string()
}

/// A gRPC request of the table.
enum Grpc {
    Create(&'static str, String, pb::StateMachineType),
    Update(&'static str, String),
    DeleteMachine(String),
    DescribeMachine(String),
    Start(String, String, String),
    StartSync(String, String),
    Describe(String),
    History(String, String),
    List(String, String),
    Stop(String),
    /// StopExecution with an error and a cause.
    StopWith(String, String, String),
    /// PollTask with a worker name.
    PollAs(Vec<String>, String),
    Succeed(String, String),
    Fail(String),
    Heartbeat(String),
    Poll(Vec<String>, u32),
    CreateActivity(String),
    /// StartExecution with raw bytes in the `name` field (not UTF-8).
    StartRawName(Vec<u8>),
}

async fn call(clients: &mut Clients, endpoint: &str, request: Grpc) -> Result<(), tonic::Status> {
    match request {
        Grpc::Create(name, definition, machine_type) => clients
            .machines
            .create_state_machine(pb::CreateStateMachineRequest {
                name: name.into(),
                definition,
                r#type: machine_type.into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Grpc::Update(name, definition) => clients
            .machines
            .update_state_machine(pb::UpdateStateMachineRequest {
                state_machine: name.into(),
                definition,
                ..Default::default()
            })
            .await
            .map(drop),
        Grpc::DeleteMachine(name) => clients
            .machines
            .delete_state_machine(pb::DeleteStateMachineRequest {
                state_machine: name,
            })
            .await
            .map(drop),
        Grpc::DescribeMachine(name) => clients
            .machines
            .describe_state_machine(pb::DescribeStateMachineRequest {
                state_machine: name,
            })
            .await
            .map(drop),
        Grpc::Start(machine, name, input) => clients
            .executions
            .start_execution(pb::StartExecutionRequest {
                state_machine: machine,
                name,
                input,
            })
            .await
            .map(drop),
        Grpc::StartSync(machine, input) => clients
            .executions
            .start_sync_execution(pb::StartExecutionRequest {
                state_machine: machine,
                name: String::new(),
                input,
            })
            .await
            .map(drop),
        Grpc::Describe(arn) => clients
            .executions
            .describe_execution(pb::DescribeExecutionRequest { execution_arn: arn })
            .await
            .map(drop),
        Grpc::History(arn, next_token) => clients
            .executions
            .get_execution_history(pb::GetExecutionHistoryRequest {
                execution_arn: arn,
                next_token,
                max_results: 2,
                ..Default::default()
            })
            .await
            .map(drop),
        Grpc::List(machine, next_token) => clients
            .executions
            .list_executions(pb::ListExecutionsRequest {
                state_machine: machine,
                next_token,
                ..Default::default()
            })
            .await
            .map(drop),
        Grpc::Stop(arn) => clients
            .executions
            .stop_execution(pb::StopExecutionRequest {
                execution_arn: arn,
                ..Default::default()
            })
            .await
            .map(drop),
        Grpc::StopWith(arn, error, cause) => clients
            .executions
            .stop_execution(pb::StopExecutionRequest {
                execution_arn: arn,
                error: Some(error),
                cause: Some(cause),
            })
            .await
            .map(drop),
        Grpc::PollAs(queues, worker_name) => clients
            .tasks
            .poll_task(pb::PollTaskRequest {
                queues,
                wait_seconds: 1,
                worker_name,
                ..Default::default()
            })
            .await
            .map(drop),
        Grpc::Succeed(token, output) => clients
            .tasks
            .send_task_success(pb::SendTaskSuccessRequest { token, output })
            .await
            .map(drop),
        Grpc::Fail(token) => clients.fail(&token, "E", "c").await,
        Grpc::Heartbeat(token) => clients
            .tasks
            .send_task_heartbeat(pb::SendTaskHeartbeatRequest { token })
            .await
            .map(drop),
        Grpc::Poll(queues, wait_seconds) => clients
            .tasks
            .poll_task(pb::PollTaskRequest {
                queues,
                wait_seconds,
                ..Default::default()
            })
            .await
            .map(drop),
        Grpc::CreateActivity(name) => clients
            .tasks
            .create_activity(pb::CreateActivityRequest { name })
            .await
            .map(drop),
        Grpc::StartRawName(name) => {
            /// StartExecutionRequest with `name` as bytes, to send what a String cannot hold.
            #[derive(Clone, PartialEq, prost::Message)]
            struct RawStart {
                #[prost(string, tag = "1")]
                state_machine: String,
                #[prost(bytes = "vec", tag = "2")]
                name: Vec<u8>,
            }
            let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.unwrap();
            grpc.unary::<_, pb::StartExecutionResponse, _>(
                tonic::Request::new(RawStart {
                    state_machine: "Good".into(),
                    name,
                }),
                tonic::codegen::http::uri::PathAndQuery::from_static(
                    "/stepwise.v1.Executions/StartExecution",
                ),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .map(drop)
        }
    }
}

/// A raw AWS JSON request: (HTTP status, `__type`, message).
async fn aws(addr: SocketAddr, action: &str, body: &[u8]) -> (u16, String, String) {
    let mut request = format!(
        "POST / HTTP/1.1\r\nhost: states.us-east-1.amazonaws.com\r\ncontent-type: application/x-amz-json-1.0\r\n\
         x-amz-target: AWSStepFunctions.{action}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = body["__type"].as_str().unwrap_or_default();
    let code = code.rsplit('#').next().unwrap_or_default().to_string();
    let message = body["message"].as_str().unwrap_or_default().to_string();
    (status, code, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_its_error_and_changes_nothing() {
    let dir = TempDir::new("bad-input");
    let (server, mut clients) = support::start(dir.path()).await;
    let endpoint = format!("http://{}", server.grpc_addr);

    // What there is to protect: machines of both types, a finished execution, one whose
    // task was completed (for double completion), one running with a task offered,
    // an activity and tags.
    let good = clients.create("Good", &pass_machine()).await;
    let done = clients.start("Good", "done", json!({"k": 1})).await;
    clients
        .wait_done(&done, std::time::Duration::from_secs(10))
        .await;
    let task_machine = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": lambda("bad-input"), "End": true}}});
    clients.create("Tasks", &task_machine).await;
    let completed = clients.start("Tasks", "completed", json!({})).await;
    let task = clients.poll("bad-input", 5).await.expect("a task");
    clients
        .succeed(&task.token, json!({"ok": true}))
        .await
        .unwrap();
    clients
        .wait_done(&completed, std::time::Duration::from_secs(10))
        .await;
    let running = clients.start("Tasks", "running", json!({})).await;
    clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "Quick".into(),
            definition: pass_machine().to_string(),
            r#type: pb::StateMachineType::Express.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    clients
        .tasks
        .create_activity(pb::CreateActivityRequest { name: "act".into() })
        .await
        .unwrap();
    let (status, _, message) = aws(
        server.http_addr,
        "TagResource",
        json!({"resourceArn": good.arn, "tags": [{"key": "team", "value": "core"}]})
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    let closed_token = task.token.clone();
    let execution_arn = |name: &str| done.replace(":done", &format!(":{name}"));
    let missing_execution = execution_arn("never-started");
    let machine_arn = good.arn.clone();
    let missing_machine = machine_arn.replace(":Good", ":Missing");
    let huge_input = format!(r#"{{"blob":"{}"}}"#, "x".repeat(300 * 1024));
    let long_name = "n".repeat(81);
    let std = pb::StateMachineType::Standard;

    // A request that does not decode (a string field holding bytes that are not UTF-8)
    // is refused by the protobuf layer before Stepwise sees it, with INTERNAL as gRPC's
    // status-code table lays down for a message that cannot be parsed; the message names
    // the field.
    let grpc_cases: Vec<(&str, Grpc, Code, &str)> = vec![
        ("definition not JSON", Grpc::Create("Bad1", "{not json".into(), std), Code::InvalidArgument, "JSON"),
        ("definition is a list", Grpc::Create("Bad2", "[]".into(), std), Code::InvalidArgument, "object"),
        ("StartAt missing", Grpc::Create("Bad3", json!({"States": {"P": {"Type": "Pass", "End": true}}}).to_string(), std), Code::InvalidArgument, "StartAt"),
        ("StartAt names no state", Grpc::Create("Bad4", json!({"StartAt": "Nope", "States": {"P": {"Type": "Pass", "End": true}}}).to_string(), std), Code::InvalidArgument, "Nope"),
        ("Next to a missing state", Grpc::Create("Bad5", with_state(json!({"Type": "Pass", "Next": "Ghost"})), std), Code::InvalidArgument, "Ghost"),
        ("unreachable state", Grpc::Create("Bad6", json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "Island": {"Type": "Pass", "End": true}}}).to_string(), std), Code::InvalidArgument, "Island"),
        ("Task without Resource", Grpc::Create("Bad7", with_state(json!({"Type": "Task", "End": true})), std), Code::InvalidArgument, "Resource"),
        ("Choice without Choices", Grpc::Create("Bad8", with_state(json!({"Type": "Choice", "Default": "S"})), std), Code::InvalidArgument, "Choices"),
        ("Wait with two durations", Grpc::Create("Bad9", with_state(json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2020-01-01T00:00:00Z", "End": true})), std), Code::InvalidArgument, "Wait"),
        ("unknown state type", Grpc::Create("Bad10", with_state(json!({"Type": "Teleport", "End": true})), std), Code::InvalidArgument, "Teleport"),
        ("Type of the wrong JSON type", Grpc::Create("Bad11", with_state(json!({"Type": 5, "End": true})), std), Code::InvalidArgument, "Type"),
        ("Retry MaxAttempts negative", Grpc::Create("Bad12", with_state(json!({"Type": "Task", "Resource": lambda("f"), "End": true, "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": -1}]})), std), Code::InvalidArgument, "MaxAttempts"),
        ("States.ALL not last in Retry", Grpc::Create("Bad13", with_state(json!({"Type": "Task", "Resource": lambda("f"), "End": true, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]})), std), Code::InvalidArgument, "States.ALL"),
        ("invalid JSONPath", Grpc::Create("Bad14", with_state(json!({"Type": "Pass", "InputPath": "$$$[", "End": true})), std), Code::InvalidArgument, "InputPath"),
        ("unknown intrinsic", Grpc::Create("Bad15", with_state(json!({"Type": "Pass", "Parameters": {"x.$": "States.Teleport($.a)"}, "End": true})), std), Code::InvalidArgument, "States.Teleport"),
        ("duplicate JSON keys", Grpc::Create("Bad16", r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true},"P":{"Type":"Pass","End":true}}}"#.into(), std), Code::InvalidArgument, "P"),
        ("JSONata syntax error", Grpc::Create("Bad17", json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $states.input. %}", "End": true}}}).to_string(), std), Code::InvalidArgument, "in 'Output' is not valid at character"),
        ("JSONata hostile expression", Grpc::Create("Bad17b", json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": format!("{{% {} %}}", "(".repeat(10_000)), "End": true}}}).to_string(), std), Code::InvalidArgument, "/States/P/Output"),
        ("Wait seconds a huge number", Grpc::Create("Bad18", with_state(json!({"Type": "Wait", "Seconds": 1e300, "End": true})), std), Code::InvalidArgument, "Seconds"),
        ("Wait seconds beyond f64", Grpc::Create("Bad19", r#"{"StartAt":"S","States":{"S":{"Type":"Wait","Seconds":1e400,"End":true}}}"#.into(), std), Code::InvalidArgument, "JSON"),
        ("definition nested 10,000 deep", Grpc::Create("Bad20", deep_definition(10_000), std), Code::InvalidArgument, "JSON"),
        ("definition over the size limit", Grpc::Create("Bad21", deep_definition(1).replace("[]", &format!("\"{}\"", "y".repeat(1024 * 1024 + 1))), std), Code::InvalidArgument, "bytes"),
        ("Express with .waitForTaskToken", Grpc::Create("Bad22", with_state(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "f", "Payload": {"t.$": "$$.Task.Token"}}, "End": true})), pb::StateMachineType::Express), Code::InvalidArgument, "waitForTaskToken"),
        ("machine name with spaces", Grpc::Create("bad name", pass_machine().to_string(), std), Code::InvalidArgument, "name"),
        ("machine name too long", Grpc::Create(Box::leak(long_name.clone().into_boxed_str()), pass_machine().to_string(), std), Code::InvalidArgument, "80"),
        ("machine name empty", Grpc::Create("", pass_machine().to_string(), std), Code::InvalidArgument, "name"),
        ("machine name taken, other definition", Grpc::Create("Good", with_state(json!({"Type": "Succeed"})), std), Code::AlreadyExists, "Good"),
        ("update a missing machine", Grpc::Update("Missing", pass_machine().to_string()), Code::NotFound, "Missing"),
        ("update with an invalid definition", Grpc::Update("Good", "{}".into()), Code::InvalidArgument, "StartAt"),
        ("delete a missing machine", Grpc::DeleteMachine(missing_machine.clone()), Code::NotFound, "Missing"),
        ("describe a malformed ARN", Grpc::DescribeMachine("arn:aws:states:nowhere".into()), Code::InvalidArgument, "arn:aws:states:nowhere"),
        ("start a missing machine", Grpc::Start(missing_machine.clone(), "x".into(), "{}".into()), Code::NotFound, "Missing"),
        ("input not JSON", Grpc::Start("Good".into(), "x".into(), "{oops".into()), Code::InvalidArgument, "input"),
        ("input over 256 KiB", Grpc::Start("Good".into(), "x".into(), huge_input.clone()), Code::InvalidArgument, "limit"),
        ("input nested 10,000 deep", Grpc::Start("Good".into(), "x".into(), nested(10_000)), Code::InvalidArgument, "input"),
        ("input nested 101 deep", Grpc::Start("Good".into(), "x".into(), nested(101)), Code::InvalidArgument, "nests 101 levels deep; at most 100"),
        ("input nested 125 deep (once stored, then unreadable)", Grpc::Start("Good".into(), "x".into(), nested(125)), Code::InvalidArgument, "nests 125 levels deep"),
        ("Express input nested 125 deep", Grpc::Start("Quick".into(), "x".into(), nested(125)), Code::InvalidArgument, "nests 125 levels deep"),
        ("sync Express input nested 125 deep", Grpc::StartSync("Quick".into(), nested(125)), Code::InvalidArgument, "nests 125 levels deep"),
        ("definition nested 101 deep", Grpc::Create("Bad23", deep_definition(101 - 3), std), Code::InvalidArgument, "more than 100 levels deep"),
        ("filter nested 1,000 deep", Grpc::Create("Bad24", with_state(json!({"Type": "Pass", "InputPath": deep_filter(1000), "End": true})), std), Code::InvalidArgument, "nest more than 32 deep"),
        ("Choice Variable nested 1,000 deep", Grpc::Create("Bad25", json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "D", "Choices": [{"Variable": deep_filter(1000), "IsPresent": true, "Next": "D"}]}, "D": {"Type": "Succeed"}}}).to_string(), std), Code::InvalidArgument, "nest more than 32 deep"),
        ("intrinsic path nested 1,000 deep", Grpc::Create("Bad26", with_state(json!({"Type": "Pass", "Parameters": {"x.$": format!("States.Array({})", deep_filter(1000))}, "End": true})), std), Code::InvalidArgument, "nest more than 32 deep"),
        ("update with a filter nested 1,000 deep", Grpc::Update("Good", with_state(json!({"Type": "Pass", "OutputPath": deep_filter(1000), "End": true}))), Code::InvalidArgument, "nest more than 32 deep"),
        ("ResultPath of 101 steps", Grpc::Create("Bad27", with_state(json!({"Type": "Pass", "ResultPath": format!("${}", ".a".repeat(101)), "End": true})), std), Code::InvalidArgument, "101 steps"),
        ("input with a number beyond f64", Grpc::Start("Good".into(), "x".into(), r#"{"n":1e400}"#.into()), Code::InvalidArgument, "input"),
        ("execution name with a slash", Grpc::Start("Good".into(), "a/b".into(), "{}".into()), Code::InvalidArgument, "name"),
        ("execution name too long", Grpc::Start("Good".into(), long_name.clone(), "{}".into()), Code::InvalidArgument, "80"),
        ("execution name reused with other input", Grpc::Start("Good".into(), "done".into(), r#"{"k":2}"#.into()), Code::AlreadyExists, "done"),
        ("execution name not UTF-8", Grpc::StartRawName(vec![b'a', 0xff, 0xfe]), Code::Internal, "StartExecutionRequest.name: invalid string value: data is not UTF-8"),
        ("sync start of a Standard machine", Grpc::StartSync("Good".into(), "{}".into()), Code::InvalidArgument, "STANDARD"),
        ("describe a missing execution", Grpc::Describe(missing_execution.clone()), Code::NotFound, "never-started"),
        ("describe a malformed ARN", Grpc::Describe("not-an-arn".into()), Code::InvalidArgument, "not-an-arn"),
        ("history with a forged token", Grpc::History(done.clone(), "forged!!".into()), Code::InvalidArgument, "token"),
        ("history of a missing execution", Grpc::History(missing_execution.clone(), String::new()), Code::NotFound, "never-started"),
        ("list with a forged token", Grpc::List("Good".into(), "AAAA".into()), Code::InvalidArgument, "token"),
        ("list a missing machine", Grpc::List("Missing".into(), String::new()), Code::NotFound, "Missing"),
        ("stop a finished execution", Grpc::Stop(done.clone()), Code::FailedPrecondition, "already ended"),
        ("stop a missing execution", Grpc::Stop(missing_execution.clone()), Code::NotFound, "never-started"),
        ("complete a task twice", Grpc::Succeed(closed_token.clone(), "{}".into()), Code::FailedPrecondition, "TaskTimedOut"),
        ("fail a completed task", Grpc::Fail(closed_token.clone()), Code::FailedPrecondition, "TaskTimedOut"),
        ("complete with an unknown token", Grpc::Succeed("forged-token".into(), "{}".into()), Code::NotFound, "TaskDoesNotExist"),
        ("task output not JSON", Grpc::Succeed(closed_token.clone(), "{nope".into()), Code::InvalidArgument, "output"),
        ("task output over the limit", Grpc::Succeed(closed_token.clone(), huge_input.clone()), Code::InvalidArgument, "limit"),
        ("task output nested 101 deep", Grpc::Succeed(closed_token.clone(), nested(101)), Code::InvalidArgument, "output nests 101 levels deep"),
        ("heartbeat an unknown token", Grpc::Heartbeat("forged-token".into()), Code::NotFound, "TaskDoesNotExist"),
        ("poll no queue", Grpc::Poll(Vec::new(), 1), Code::InvalidArgument, "queue"),
        ("stop with a 1,000-character error", Grpc::StopWith(running.clone(), "E".repeat(1000), String::new()), Code::InvalidArgument, "at 'error' failed to satisfy constraint: Member must have length less than or equal to 256"),
        ("stop with a 40,000-character cause", Grpc::StopWith(running.clone(), "E".into(), "c".repeat(40_000)), Code::InvalidArgument, "less than or equal to 32768"),
        ("poll with a 100-character worker name", Grpc::PollAs(vec!["act".into()], "w".repeat(100)), Code::InvalidArgument, "at 'workerName'"),
        ("complete with a 2,000-character token", Grpc::Succeed("t".repeat(2000), "{}".into()), Code::InvalidArgument, "at 'taskToken'"),
        ("activity name with spaces", Grpc::CreateActivity("my activity".into()), Code::InvalidArgument, "name"),
    ];

    let aws_cases: Vec<(&str, &str, Vec<u8>, &str, &str)> = vec![
        ("body not JSON", "ListStateMachines", b"{".to_vec(), "SerializationException", "JSON"),
        ("body a JSON list", "ListStateMachines", b"[]".to_vec(), "SerializationException", "object"),
        ("body not UTF-8", "DescribeStateMachine", b"{\"stateMachineArn\": \"\xff\xfe\"}".to_vec(), "SerializationException", "JSON"),
        ("body nested 10,000 deep", "ListStateMachines", format!("{{\"a\":{}}}", nested(10_000)).into_bytes(), "SerializationException", "JSON"),
        ("unknown action", "TeleportExecution", b"{}".to_vec(), "UnknownOperationException", "TeleportExecution"),
        ("roleArn missing", "CreateStateMachine", json!({"name": "T", "definition": pass_machine().to_string()}).to_string().into_bytes(), "ValidationException", "roleArn"),
        ("roleArn not an ARN", "CreateStateMachine", json!({"name": "T", "definition": pass_machine().to_string(), "roleArn": "r"}).to_string().into_bytes(), "InvalidArn", "r"),
        ("required member missing", "CreateStateMachine", json!({"definition": "{}", "roleArn": "arn:aws:iam::000000000000:role/r"}).to_string().into_bytes(), "ValidationException", "name"),
        ("member of the wrong type", "CreateStateMachine", json!({"name": 5, "definition": "{}", "roleArn": "arn:aws:iam::000000000000:role/r"}).to_string().into_bytes(), "ValidationException", "name"),
        ("unknown machine type", "CreateStateMachine", json!({"name": "T", "definition": pass_machine().to_string(), "roleArn": "arn:aws:iam::000000000000:role/r", "type": "FAST"}).to_string().into_bytes(), "ValidationException", "FAST"),
        ("invalid definition", "CreateStateMachine", json!({"name": "T", "definition": with_state(json!({"Type": "Pass", "Next": "Ghost"})), "roleArn": "arn:aws:iam::000000000000:role/r"}).to_string().into_bytes(), "InvalidDefinition", "Ghost"),
        ("invalid machine name", "CreateStateMachine", json!({"name": "no good", "definition": pass_machine().to_string(), "roleArn": "arn:aws:iam::000000000000:role/r"}).to_string().into_bytes(), "InvalidName", "name"),
        ("machine name taken", "CreateStateMachine", json!({"name": "Good", "definition": with_state(json!({"Type": "Succeed"})), "roleArn": "arn:aws:iam::000000000000:role/r"}).to_string().into_bytes(), "StateMachineAlreadyExists", "Good"),
        ("51 tags on create", "CreateStateMachine", json!({"name": "T", "definition": pass_machine().to_string(), "roleArn": "arn:aws:iam::000000000000:role/r", "tags": (0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect::<Vec<_>>()}).to_string().into_bytes(), "TooManyTags", "50"),
        ("describe a malformed ARN", "DescribeStateMachine", json!({"stateMachineArn": "arn:nope"}).to_string().into_bytes(), "InvalidArn", "arn:nope"),
        ("describe a missing machine", "DescribeStateMachine", json!({"stateMachineArn": missing_machine}).to_string().into_bytes(), "StateMachineDoesNotExist", "Missing"),
        ("start a missing machine", "StartExecution", json!({"stateMachineArn": missing_machine}).to_string().into_bytes(), "StateMachineDoesNotExist", "Missing"),
        ("start with input not JSON", "StartExecution", json!({"stateMachineArn": machine_arn, "input": "{oops"}).to_string().into_bytes(), "InvalidExecutionInput", "input"),
        ("start with input over the limit", "StartExecution", json!({"stateMachineArn": machine_arn, "input": huge_input}).to_string().into_bytes(), "InvalidExecutionInput", "limit"),
        ("start with an invalid name", "StartExecution", json!({"stateMachineArn": machine_arn, "name": "a b"}).to_string().into_bytes(), "InvalidName", "name"),
        ("start a reused name, other input", "StartExecution", json!({"stateMachineArn": machine_arn, "name": "done", "input": "{\"k\":3}"}).to_string().into_bytes(), "ExecutionAlreadyExists", "done"),
        ("sync start of a Standard machine", "StartSyncExecution", json!({"stateMachineArn": machine_arn}).to_string().into_bytes(), "StateMachineTypeNotSupported", "STANDARD"),
        ("describe a missing execution", "DescribeExecution", json!({"executionArn": missing_execution}).to_string().into_bytes(), "ExecutionDoesNotExist", "never-started"),
        ("history with a forged token", "GetExecutionHistory", json!({"executionArn": done, "nextToken": "forged!!"}).to_string().into_bytes(), "InvalidToken", "token"),
        ("maxResults a huge number", "GetExecutionHistory", format!("{{\"executionArn\": \"{done}\", \"maxResults\": 1e400}}").into_bytes(), "SerializationException", "JSON"),
        ("maxResults over 1,000", "ListExecutions", json!({"stateMachineArn": machine_arn, "maxResults": 1001}).to_string().into_bytes(), "ValidationException", "less than or equal to 1000"),
        ("maxResults negative", "ListExecutions", json!({"stateMachineArn": machine_arn, "maxResults": -5}).to_string().into_bytes(), "ValidationException", "maxResults"),
        ("unknown status filter", "ListExecutions", json!({"stateMachineArn": machine_arn, "statusFilter": "SLEEPING"}).to_string().into_bytes(), "ValidationException", "SLEEPING"),
        ("stop a missing execution", "StopExecution", json!({"executionArn": missing_execution}).to_string().into_bytes(), "ExecutionDoesNotExist", "never-started"),
        ("complete a task twice", "SendTaskSuccess", json!({"taskToken": closed_token, "output": "{}"}).to_string().into_bytes(), "TaskTimedOut", "token"),
        ("complete with a forged token", "SendTaskSuccess", json!({"taskToken": "forged", "output": "{}"}).to_string().into_bytes(), "TaskDoesNotExist", "token"),
        ("task output not JSON", "SendTaskSuccess", json!({"taskToken": closed_token, "output": "{x"}).to_string().into_bytes(), "InvalidOutput", "output"),
        ("heartbeat a forged token", "SendTaskHeartbeat", json!({"taskToken": "forged"}).to_string().into_bytes(), "TaskDoesNotExist", "token"),
        ("51 tags", "TagResource", json!({"resourceArn": machine_arn, "tags": (0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect::<Vec<_>>()}).to_string().into_bytes(), "TooManyTags", "50"),
        ("tag a missing resource", "TagResource", json!({"resourceArn": missing_machine, "tags": [{"key": "a", "value": "b"}]}).to_string().into_bytes(), "ResourceNotFound", "Missing"),
        ("delete a malformed ARN", "DeleteStateMachine", json!({"stateMachineArn": "arn:aws:states:us-east-1:1:bogus:X"}).to_string().into_bytes(), "InvalidArn", "bogus"),
        ("invalid activity name", "CreateActivity", json!({"name": "a b"}).to_string().into_bytes(), "InvalidName", "name"),
        ("stop with a 1,000-character error", "StopExecution", json!({"executionArn": running, "error": "E".repeat(1000)}).to_string().into_bytes(), "ValidationException", "less than or equal to 256"),
        ("stop with a 1 MiB cause", "StopExecution", json!({"executionArn": running, "cause": "c".repeat(1024 * 1024)}).to_string().into_bytes(), "ValidationException", "less than or equal to 32768"),
        ("poll with a 100,000-character worker name", "GetActivityTask", json!({"activityArn": "arn:aws:states:us-east-1:000000000000:activity:act", "workerName": "w".repeat(100_000)}).to_string().into_bytes(), "ValidationException", "workerName"),
        ("tag key with the aws: prefix", "TagResource", json!({"resourceArn": machine_arn, "tags": [{"key": "aws:owner", "value": "me"}]}).to_string().into_bytes(), "ValidationException", "reserved for AWS"),
        ("tag key with a control character", "TagResource", json!({"resourceArn": machine_arn, "tags": [{"key": "bell\u{7}", "value": "x"}]}).to_string().into_bytes(), "ValidationException", "contains"),
        ("start with an empty name", "StartExecution", json!({"stateMachineArn": machine_arn, "name": ""}).to_string().into_bytes(), "ValidationException", "length greater than or equal to 1"),
        ("X-Amz-Target not ASCII", "D\u{e9}scribeExecution", b"{}".to_vec(), "UnknownOperationException", "ASCII"),
        ("poll a missing activity", "GetActivityTask", json!({"activityArn": "arn:aws:states:us-east-1:000000000000:activity:none"}).to_string().into_bytes(), "ActivityDoesNotExist", "none"),
    ];
    assert!(
        grpc_cases.len() + aws_cases.len() >= 60,
        "{} cases",
        grpc_cases.len() + aws_cases.len()
    );

    let before = snapshot(&server.runtime).await;
    let mut failures = Vec::new();
    let grpc_count = grpc_cases.len();
    for (what, request, code, fragment) in grpc_cases {
        match call(&mut clients, &endpoint, request).await {
            Ok(()) => failures.push(format!("gRPC {what}: accepted")),
            Err(status) => {
                if status.code() != code || !status.message().contains(fragment) {
                    failures.push(format!(
                        "gRPC {what}: got {:?} {:?}, want {code:?} with '{fragment}'",
                        status.code(),
                        status.message()
                    ));
                }
            }
        }
        if snapshot(&server.runtime).await != before {
            failures.push(format!("gRPC {what}: the store changed"));
        }
    }
    let aws_count = aws_cases.len();
    for (what, action, body, code, fragment) in aws_cases {
        let (status, got, message) = aws(server.http_addr, action, &body).await;
        if status != 400 || got != code || !message.contains(fragment) {
            failures.push(format!(
                "AWS {what}: got {status} {got} {message:?}, want 400 {code} with '{fragment}'"
            ));
        }
        if snapshot(&server.runtime).await != before {
            failures.push(format!("AWS {what}: the store changed"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        grpc_count + aws_count,
        failures.join("\n")
    );
    println!("bad input: {grpc_count} gRPC and {aws_count} AWS cases, store unchanged after each");

    // A body over the limit gets an AWS-shaped 413 (boto3 reads the code)...
    let huge =
        json!({"stateMachineArn": machine_arn, "input": "x".repeat(5 * 1024 * 1024)}).to_string();
    let (status, code, message) = aws(server.http_addr, "StartExecution", huge.as_bytes()).await;
    assert_eq!(
        (status, code.as_str()),
        (413, "ValidationException"),
        "{message}"
    );
    assert!(message.contains("at most 4194304"), "{message}");
    // ...and one declared far larger is answered at once, without being read.
    let mut socket = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .unwrap();
    socket
        .write_all(
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: AWSStepFunctions.StartExecution\r\ncontent-length: 1000000000\r\n\r\n{",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("answered without waiting for the body")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("ValidationException"), "{answer}");
    assert_eq!(
        snapshot(&server.runtime).await,
        before,
        "the store is unchanged"
    );

    // Still serving: the running execution's task completes normally.
    let task = clients
        .poll("bad-input", 5)
        .await
        .expect("the running task");
    assert_eq!(task.execution_arn, running);
    clients.succeed(&task.token, json!({})).await.unwrap();
    let execution = clients
        .wait_done(&running, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_at_the_nesting_limit_are_stored_and_read_back_across_a_restart() {
    let dir = TempDir::new("deep-payloads");
    let (server, mut clients) = support::start(dir.path()).await;
    let at_limit: Value = serde_json::from_str(&nested(100)).unwrap();
    clients.create("Echo", &pass_machine()).await;
    let echoed = clients.start("Echo", "at-limit", at_limit.clone()).await;
    let execution = clients
        .wait_done(&echoed, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(execution.output(), at_limit.to_string());

    // 300 Pass states, each wrapping its input one level deeper: the engine stops the
    // execution where the output would pass the limit, before anything deeper is stored.
    let mut states = serde_json::Map::new();
    for i in 0..300 {
        let mut state = json!({"Type": "Pass", "Parameters": {"w.$": "$"}});
        if i < 299 {
            state["Next"] = json!(format!("W{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        states.insert(format!("W{i}"), state);
    }
    clients
        .create("Wrap", &json!({"StartAt": "W0", "States": states}))
        .await;
    let wrapped = clients.start("Wrap", "deeper", json!({})).await;
    let execution = clients
        .wait_done(&wrapped, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Failed);
    assert_eq!(execution.error(), "States.DataLimitExceeded");
    assert!(
        execution.cause().contains("nests 101 levels deep"),
        "{}",
        execution.cause()
    );
    // An asynchronous Express start is recorded (for re-running after a crash) with it.
    clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "QuickEcho".into(),
            definition: pass_machine().to_string(),
            r#type: pb::StateMachineType::Express.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    clients
        .start("QuickEcho", "at-limit", at_limit.clone())
        .await;
    let before = snapshot(&server.runtime).await;
    server.shutdown().await.unwrap();

    // After a restart every record reads back as it was.
    let (server, _clients) = support::start(dir.path()).await;
    assert!(server.runtime.set_aside().is_empty());
    assert_eq!(snapshot(&server.runtime).await, before);
    let view = server.runtime.describe_execution(&echoed).await.unwrap();
    assert_eq!(view.input, at_limit);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_over_100000_items_does_not_stall_other_callers() {
    let dir = TempDir::new("big-map");
    let (server, mut clients) = support::start(dir.path()).await;
    clients
        .create(
            "Big",
            &json!({"StartAt": "Each", "States": {"Each": {
                "Type": "Map", "ItemsPath": "$.items", "End": true,
                "ItemSelector": {"n.$": "$$.Map.Item.Index"},
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}),
        )
        .await;
    clients.create("Other", &pass_machine()).await;
    let input = json!({"items": vec![0; 100_000]});
    let started = std::time::Instant::now();
    let big = clients.start("Big", "big", input).await;
    let start_took = started.elapsed();

    // Meanwhile another client's calls keep answering promptly.
    let mut other = clients.clone();
    let mut slowest = std::time::Duration::ZERO;
    for i in 0..20 {
        let asked = std::time::Instant::now();
        other.create(&format!("Made{i}"), &pass_machine()).await;
        let arn = other
            .start("Other", &format!("other-{i}"), json!({"i": i}))
            .await;
        other
            .wait_done(&arn, std::time::Duration::from_secs(10))
            .await;
        slowest = slowest.max(asked.elapsed());
    }
    let execution = clients
        .wait_done(&big, std::time::Duration::from_secs(120))
        .await;
    let history = clients.history(&big).await;
    println!(
        "StartExecution of 100,000 items answered in {start_took:?}; the slowest create+start+finish beside it took {slowest:?}; the Map ended with {} events",
        history.len()
    );
    assert!(
        start_took < std::time::Duration::from_secs(10),
        "{start_took:?}"
    );
    assert!(slowest < std::time::Duration::from_secs(5), "{slowest:?}");
    // AWS fails an execution whose history would pass 25,000 events.
    assert_eq!(execution.status(), pb::ExecutionStatus::Failed);
    assert_eq!(execution.error(), "States.Runtime");
    assert!(history.len() <= 25_000, "{} events", history.len());
    server.shutdown().await.unwrap();
}
