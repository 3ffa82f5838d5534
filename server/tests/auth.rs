//! Keys through the real gRPC API: a server started with --admin-credentials requires
//! a key on every call; the admin makes keys of each role; each role is allowed what it
//! may do and refused the rest (names its patterns match and names they do not);
//! unknown, wrongly signed and revoked keys are refused with their own codes; nothing a
//! refused call asked for is stored; keys outlive a restart; the HTTP listener's APIs
//! refuse every call while they cannot check keys.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use stepwise_proto::v1 as pb;
use stepwise_server::RunningServer;
use support::{Clients, TempDir, http_request};
use tonic::Code;

const ADMIN_ID: &str = "AKIDSTEPWISEADMIN";
const ADMIN_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn admin_key() -> String {
    format!("{ADMIN_ID}:{ADMIN_SECRET}")
}

fn credentials_file(dir: &Path) -> std::path::PathBuf {
    support::admin_credentials(dir, ADMIN_ID, ADMIN_SECRET)
}

async fn start(dir: &Path, with_admin: bool) -> RunningServer {
    let mut config = support::config(dir.join("data"));
    if with_admin {
        config.admin_credentials = Some(credentials_file(dir));
    }
    stepwise_server::start(config).await.unwrap()
}

async fn clients(server: &RunningServer, key: Option<&str>) -> Clients {
    Clients::connect_with_key(format!("http://{}", server.grpc_addr), key).await
}

fn task_machine(queue: &str) -> serde_json::Value {
    json!({
        "StartAt": "Work",
        "States": {"Work": {
            "Type": "Task",
            "Resource": format!("arn:aws:states:us-east-1:000000000000:activity:{queue}"),
            "End": true
        }}
    })
}

/// A key made by the admin: `KEY_ID:SECRET`.
async fn make_key(admin: &mut Clients, role: &str, patterns: &[&str]) -> String {
    let created = admin
        .keys
        .create_key(pb::CreateKeyRequest {
            role: role.into(),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            description: format!("{role} for the auth suite"),
            signing: false,
        })
        .await
        .unwrap()
        .into_inner();
    let key = created.key.unwrap();
    assert_eq!(key.role, role);
    assert!(!key.signing);
    format!("{}:{}", key.key_id, created.secret)
}

fn expect_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, text: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(text), "{text}: {status:?}");
}

/// What the server holds, as the admin reads it: machines with their revisions,
/// executions per machine, activities.
async fn snapshot(admin: &mut Clients) -> serde_json::Value {
    let machines = admin.list_machines().await.unwrap();
    let mut state = serde_json::Map::new();
    for machine in machines {
        let executions = admin.list_all(&machine.name).await;
        let names: Vec<String> = executions.iter().map(|e| e.name.clone()).collect();
        state.insert(
            machine.name.clone(),
            json!({"revision": machine.revision, "executions": names}),
        );
    }
    let activities = admin
        .tasks
        .list_activities(pb::ListActivitiesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .activities;
    let names: Vec<String> = activities.into_iter().map(|a| a.name).collect();
    state.insert("activities".into(), json!(names));
    serde_json::Value::Object(state)
}

/// Each family's call on `machine` (and its queue), as `who`: whether it was allowed.
async fn try_families(who: &mut Clients, machine: &str, run: &str) -> Vec<(&'static str, bool)> {
    let definition = task_machine(&format!("{machine}-q")).to_string();
    let manage = who
        .machines
        .update_state_machine(pb::UpdateStateMachineRequest {
            state_machine: machine.into(),
            definition,
            ..Default::default()
        })
        .await;
    let start = who
        .executions
        .start_execution(pb::StartExecutionRequest {
            state_machine: machine.into(),
            name: run.into(),
            input: "{}".into(),
        })
        .await;
    let read = who
        .machines
        .describe_state_machine(pb::DescribeStateMachineRequest {
            state_machine: machine.into(),
        })
        .await;
    let activity = who
        .tasks
        .describe_activity(pb::DescribeActivityRequest {
            activity: format!("{machine}-q"),
        })
        .await;
    let work = who
        .tasks
        .poll_task(pb::PollTaskRequest {
            queues: vec![format!("{machine}-nothing-waits")],
            worker_name: "suite".into(),
            wait_seconds: 1,
            poll_id: String::new(),
        })
        .await;
    let keys = who.keys.list_keys(pb::ListKeysRequest {}).await;
    let mut families = Vec::new();
    for (family, status) in [
        ("manage machine", manage.err()),
        ("run execution", start.err()),
        ("read machine", read.err()),
        ("manage activity", activity.err()),
        ("work", work.err()),
        ("manage keys", keys.err()),
    ] {
        if let Some(status) = &status {
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{family}: {status:?}"
            );
            assert!(
                status
                    .message()
                    .starts_with("AccessDeniedException: the key "),
                "{family}: {status:?}"
            );
        }
        families.push((family, status.is_none()));
    }
    families
}

/// Polls `queue` until the task of `execution` comes, completing the others (tasks of
/// the runs the families' checks started).
async fn task_of(clients: &mut Clients, queue: &str, execution: &str) -> pb::PollTaskResponse {
    for _ in 0..20 {
        let task = clients.poll(queue, 5).await.expect("a task");
        if task.execution_arn == execution {
            return task;
        }
        clients.succeed(&task.token, json!({})).await.unwrap();
    }
    panic!("no task of {execution} on {queue}");
}

fn allowed(families: &[(&'static str, bool)]) -> Vec<&'static str> {
    families
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(family, _)| *family)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_its_part_and_nothing_else() {
    let dir = TempDir::new("auth");
    let server = start(dir.path(), true).await;
    let mut admin = clients(&server, Some(&admin_key())).await;
    for machine in ["tests-unit", "billing"] {
        admin
            .create(machine, &task_machine(&format!("{machine}-q")))
            .await;
        admin
            .tasks
            .create_activity(pb::CreateActivityRequest {
                name: format!("{machine}-q"),
            })
            .await
            .unwrap();
    }

    let operator = make_key(&mut admin, "operator", &["tests-*"]).await;
    let worker = make_key(&mut admin, "worker", &["tests-*"]).await;
    let reader = make_key(&mut admin, "reader", &[]).await;
    let limited_reader = make_key(&mut admin, "reader", &["tests-*"]).await;

    // (key, families allowed on tests-unit, on billing).
    let cases: Vec<(&str, &String, Vec<&str>, Vec<&str>)> = vec![
        (
            "operator tests-*",
            &operator,
            vec![
                "manage machine",
                "run execution",
                "read machine",
                "manage activity",
            ],
            vec![],
        ),
        ("worker tests-*", &worker, vec!["work"], vec![]),
        (
            "reader",
            &reader,
            vec!["read machine"],
            vec!["read machine"],
        ),
        (
            "reader tests-*",
            &limited_reader,
            vec!["read machine"],
            vec![],
        ),
    ];
    for (who, key, on_tests, on_billing) in cases {
        let mut clients = clients(&server, Some(key)).await;
        let before = snapshot(&mut admin).await;
        let billing = try_families(&mut clients, "billing", &format!("{}-b", who.len())).await;
        assert_eq!(allowed(&billing), on_billing, "{who} on billing");
        assert_eq!(
            snapshot(&mut admin).await,
            before,
            "{who}: refused calls stored nothing"
        );
        let tests = try_families(&mut clients, "tests-unit", &format!("{}-t", who.len())).await;
        assert_eq!(allowed(&tests), on_tests, "{who} on tests-unit");
    }
    let mut everything = clients(&server, Some(&admin_key())).await;
    let families = try_families(&mut everything, "billing", "admin-run").await;
    assert!(families.iter().all(|(_, ok)| *ok), "admin: {families:?}");

    // Listings show what the key may read; a worker lists nothing.
    let mut limited = clients(&server, Some(&operator)).await;
    let listed = limited.list_machines().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["tests-unit"]);
    let mut worker_clients = clients(&server, Some(&worker)).await;
    expect_code(
        worker_clients.list_machines().await,
        Code::PermissionDenied,
        "may not list",
    );
    expect_code(
        limited
            .executions
            .get_usage(pb::GetUsageRequest::default())
            .await,
        Code::PermissionDenied,
        "every state machine",
    );

    // A worker completes a task of its queues, and may not touch another queue's task
    // even holding its token: the task waits for someone who may.
    let tests_run = admin.start("tests-unit", "work-1", json!({})).await;
    let billing_run = admin.start("billing", "work-2", json!({})).await;
    let task = task_of(&mut worker_clients, "tests-unit-q", &tests_run).await;
    worker_clients
        .succeed(&task.token, json!({"done": 1}))
        .await
        .unwrap();
    let billing_task = task_of(&mut admin, "billing-q", &billing_run).await;
    for refused in [
        worker_clients
            .tasks
            .send_task_success(pb::SendTaskSuccessRequest {
                token: billing_task.token.clone(),
                output: "{}".into(),
            })
            .await
            .map(|_| ()),
        worker_clients
            .tasks
            .send_task_failure(pb::SendTaskFailureRequest {
                token: billing_task.token.clone(),
                error: "E".into(),
                cause: String::new(),
            })
            .await
            .map(|_| ()),
        worker_clients
            .tasks
            .send_task_heartbeat(pb::SendTaskHeartbeatRequest {
                token: billing_task.token.clone(),
            })
            .await
            .map(|_| ()),
    ] {
        expect_code(
            refused,
            Code::PermissionDenied,
            "may not work on queue 'billing-q'",
        );
    }
    expect_code(
        worker_clients
            .tasks
            .poll_task(pb::PollTaskRequest {
                queues: vec!["tests-unit-q".into(), "billing-q".into()],
                worker_name: "suite".into(),
                wait_seconds: 1,
                poll_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        "'billing-q'",
    );
    let done = admin.wait_done(&tests_run, Duration::from_secs(20)).await;
    assert_eq!(done.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(
        admin.describe(&billing_run).await.status(),
        pb::ExecutionStatus::Running,
        "the refused result changed nothing"
    );
    admin.succeed(&billing_task.token, json!({})).await.unwrap();
    let done = admin.wait_done(&billing_run, Duration::from_secs(20)).await;
    assert_eq!(done.status(), pb::ExecutionStatus::Succeeded);

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_unknown_wrong_and_revoked_keys_are_refused_and_keys_outlive_a_restart() {
    let dir = TempDir::new("auth-keys");
    let server = start(dir.path(), true).await;
    let mut admin = clients(&server, Some(&admin_key())).await;
    let reader = make_key(&mut admin, "reader", &[]).await;
    let (reader_id, _) = reader.split_once(':').unwrap();
    let list = |mut clients: Clients| async move { clients.list_machines().await };
    let none = clients(&server, None).await;
    expect_code(
        list(none).await,
        Code::Unauthenticated,
        "MissingAuthenticationTokenException",
    );
    let unknown = clients(&server, Some("SWKNOSUCHKEY0000000:secret")).await;
    expect_code(
        list(unknown).await,
        Code::Unauthenticated,
        "UnrecognizedClientException",
    );
    let wrong = clients(&server, Some(&format!("{reader_id}:not-the-secret"))).await;
    expect_code(
        list(wrong).await,
        Code::Unauthenticated,
        "InvalidSignatureException",
    );
    let wrong_admin = clients(&server, Some(&format!("{ADMIN_ID}:nope"))).await;
    expect_code(
        list(wrong_admin).await,
        Code::Unauthenticated,
        "InvalidSignatureException",
    );
    assert!(list(clients(&server, Some(&reader)).await).await.is_ok());

    // Keys are listed without secrets; bad requests name what is wrong.
    let keys = admin
        .keys
        .list_keys(pb::ListKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id, reader_id);
    for (role, patterns, text) in [
        ("root", vec![], "role 'root'"),
        ("worker", vec![], "a worker key needs the queues"),
        ("admin", vec!["x-*".to_string()], "takes no name patterns"),
        ("reader", vec![String::new()], "cannot be empty"),
    ] {
        expect_code(
            admin
                .keys
                .create_key(pb::CreateKeyRequest {
                    role: role.into(),
                    patterns,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            text,
        );
    }

    // A restart without --admin-credentials: the stored key still decides, as keys
    // exist; an admin key made through the API manages them.
    let root = make_key(&mut admin, "admin", &[]).await;
    server.shutdown().await.unwrap();
    let server = start(dir.path(), false).await;
    expect_code(
        list(clients(&server, None).await).await,
        Code::Unauthenticated,
        "MissingAuthenticationTokenException",
    );
    expect_code(
        list(clients(&server, Some(&admin_key())).await).await,
        Code::Unauthenticated,
        "UnrecognizedClientException",
    );
    assert!(list(clients(&server, Some(&reader)).await).await.is_ok());
    let mut root_clients = clients(&server, Some(&root)).await;
    let revoked = root_clients
        .keys
        .revoke_key(pb::RevokeKeyRequest {
            key_id: reader_id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoked_ms.is_some());
    expect_code(
        list(clients(&server, Some(&reader)).await).await,
        Code::Unauthenticated,
        "has been revoked",
    );
    expect_code(
        root_clients
            .keys
            .revoke_key(pb::RevokeKeyRequest {
                key_id: "SWKNOSUCHKEY".into(),
            })
            .await,
        Code::NotFound,
        "no key has the id 'SWKNOSUCHKEY'",
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_key_turns_checks_on_for_every_api() {
    let dir = TempDir::new("auth-first");
    let server = start(dir.path(), false).await;
    let mut open = clients(&server, None).await;
    // Nothing required yet: a loopback server without keys answers anyone.
    open.create("first", &task_machine("first-q")).await;
    let aws = |addr| async move {
        http_request(
            addr,
            "POST",
            "/",
            "content-type: application/x-amz-json-1.0\r\nx-amz-target: AWSStepFunctions.ListStateMachines\r\n",
            "{}",
        )
        .await
    };
    let (status, _, _) = aws(server.http_addr).await;
    assert_eq!(status, 200);
    let (status, _, _) =
        http_request(server.http_addr, "GET", "/console/api/machines", "", "").await;
    assert_eq!(status, 200);

    let admin = make_key(&mut open, "admin", &[]).await;
    expect_code(
        open.list_machines().await,
        Code::Unauthenticated,
        "MissingAuthenticationTokenException",
    );
    let mut admin = clients(&server, Some(&admin)).await;
    assert!(admin.list_machines().await.is_ok());
    let (status, _, body) = aws(server.http_addr).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    let (status, _, body) =
        http_request(server.http_addr, "GET", "/console/api/machines", "", "").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    // Health and metrics stay open for probes and scrapers.
    let (status, _, _) = http_request(server.http_addr, "GET", "/health", "", "").await;
    assert_eq!(status, 200);
    server.shutdown().await.unwrap();
}

/// The audit target records who did or tried what: an allowed change, a refused call
/// and a call with an unknown key, each with its key, operation, resource and outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_and_refusals_are_written_to_the_audit_log() {
    use support::process::{free_port, server_command};
    let dir = TempDir::new("auth-audit");
    let log_path = dir.path().join("server.log");
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let mut child = server_command(&dir.path().join("data"), &grpc, &http)
        .args([
            "--admin-credentials",
            &credentials_file(dir.path()).display().to_string(),
        ])
        .args(["--log-format", "json"])
        .env("RUST_LOG", "warn,stepwise::audit=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let endpoint = format!("http://{grpc}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(&grpc).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut admin = Clients::connect_with_key(endpoint.clone(), Some(&admin_key())).await;
    admin.create("audited", &task_machine("audited-q")).await;
    let reader = make_key(&mut admin, "reader", &[]).await;
    let mut reader_clients = Clients::connect_with_key(endpoint.clone(), Some(&reader)).await;
    let refused = reader_clients
        .executions
        .start_execution(pb::StartExecutionRequest {
            state_machine: "audited".into(),
            name: "nope".into(),
            input: "{}".into(),
        })
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    let mut stranger = Clients::connect_with_key(endpoint, Some("SWKSTRANGER:x")).await;
    assert!(stranger.list_machines().await.is_err());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let records: Vec<serde_json::Value> = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|record: &serde_json::Value| record["target"] == "stepwise::audit")
        .map(|record| record["fields"].clone())
        .collect();
    let find = |operation: &str| {
        records
            .iter()
            .find(|r| r["operation"] == operation)
            .unwrap_or_else(|| panic!("no audit record of {operation}: {records:?}"))
            .clone()
    };
    let created = find("CreateStateMachine");
    assert_eq!(created["key"], ADMIN_ID);
    assert_eq!(created["resource"], "audited");
    assert_eq!(created["allowed"], true);
    let denied = find("StartExecution");
    assert_eq!(denied["key"], reader.split_once(':').unwrap().0);
    assert_eq!(denied["role"], "reader");
    assert_eq!(denied["allowed"], false);
    let unknown = find("ListStateMachines");
    assert_eq!(unknown["key"], "SWKSTRANGER");
    assert_eq!(unknown["allowed"], false);
    assert_eq!(unknown["reason"], "UnrecognizedClientException");
    assert!(
        !std::fs::read_to_string(&log_path)
            .unwrap()
            .contains(ADMIN_SECRET),
        "no secret is ever logged"
    );
}
