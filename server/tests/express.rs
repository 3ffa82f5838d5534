//! Express workflows and usage accounting through the real server.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use support::{Clients, TempDir, lambda, types};
use tonic::Code;

const LIMIT: Duration = Duration::from_secs(20);

async fn start_with(
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut stepwise_server::Config),
) -> (stepwise_server::RunningServer, Clients) {
    let mut config = support::config(dir);
    adjust(&mut config);
    let server = stepwise_server::start(config).await.unwrap();
    let clients = Clients::connect(format!("http://{}", server.grpc_addr)).await;
    (server, clients)
}

async fn create_express(
    clients: &mut Clients,
    name: &str,
    definition: &Value,
) -> Result<pb::StateMachine, tonic::Status> {
    clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: name.into(),
            definition: definition.to_string(),
            r#type: pb::StateMachineType::Express.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn sync(clients: &mut Clients, machine: &str, input: Value) -> pb::Execution {
    clients
        .executions
        .start_sync_execution(pb::StartExecutionRequest {
            state_machine: machine.into(),
            name: String::new(),
            input: input.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Answers tasks on `queue` with `handler(input)` until `count` were handled.
fn worker(
    mut clients: Clients,
    queue: &'static str,
    count: usize,
    handler: fn(Value) -> Value,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut handled = 0;
        let deadline = tokio::time::Instant::now() + LIMIT;
        while handled < count && tokio::time::Instant::now() < deadline {
            if let Some(task) = clients.poll(queue, 1).await {
                let input: Value = serde_json::from_str(&task.input).unwrap();
                clients.succeed(&task.token, handler(input)).await.unwrap();
                handled += 1;
            }
        }
        handled
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_express_returns_output_and_billing_and_keeps_recent_history_in_memory() {
    let dir = TempDir::new("express-sync");
    let (server, mut clients) = start_with(dir.path(), |c| c.express_history = 2).await;
    let definition = json!({"StartAt": "Double", "States": {
        "Double": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "double", "Payload.$": "$"},
            "OutputPath": "$.Payload", "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "TooBig"}], "Default": "Done"},
        "TooBig": {"Type": "Fail", "Error": "TooBig", "Cause": "n over 10"},
        "Done": {"Type": "Succeed"}
    }});
    create_express(&mut clients, "Fast", &definition)
        .await
        .unwrap();
    let handled = worker(
        clients.clone(),
        "double",
        3,
        |v| json!({"n": v["n"].as_i64().unwrap() * 2}),
    );

    let ok = sync(&mut clients, "Fast", json!({"n": 2})).await;
    assert_eq!(ok.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<Value>(ok.output()).unwrap(),
        json!({"n": 4})
    );
    assert!(ok.arn.contains(":express:Fast:"), "{}", ok.arn);
    let billed = ok.billed_duration_ms.expect("billed duration");
    assert!(billed >= 100 && billed % 100 == 0, "{billed}");
    assert_eq!(ok.billed_memory_mb, Some(64));

    // A failed execution is a successful call whose status is FAILED.
    let failed = sync(&mut clients, "Fast", json!({"n": 6})).await;
    assert_eq!(failed.status(), pb::ExecutionStatus::Failed);
    assert_eq!((failed.error(), failed.cause()), ("TooBig", "n over 10"));

    // Recent ones can be described and their history read, from memory.
    let described = clients.describe(&failed.arn).await;
    assert_eq!(described.status(), pb::ExecutionStatus::Failed);
    let history = clients.history(&failed.arn).await;
    assert_eq!(types(&history).first().unwrap(), "ExecutionStarted");
    assert_eq!(types(&history).last().unwrap(), "ExecutionFailed");

    // Beyond the ring (2 here), Describe says why it cannot answer.
    sync(&mut clients, "Fast", json!({"n": 1})).await;
    let gone = clients
        .executions
        .describe_execution(pb::DescribeExecutionRequest {
            execution_arn: ok.arn.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert!(
        gone.message()
            .contains("Express histories are not persisted"),
        "{}",
        gone.message()
    );
    assert_eq!(handled.await.unwrap(), 3);

    // Nothing per transition reached the store: no execution records or events.
    let listed = clients
        .executions
        .list_executions(pb::ListExecutionsRequest {
            state_machine: "Fast".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .executions;
    assert!(listed.is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_rejects_activities_sync_and_callbacks_and_runs_async_without_name_dedup() {
    let dir = TempDir::new("express-rules");
    let (server, mut clients) = start_with(dir.path(), |_| {}).await;
    for (resource, reason) in [
        (
            "arn:aws:states:us-east-1:000000000000:activity:approve",
            "uses activities",
        ),
        ("arn:aws:states:::ecs:runTask.sync", ".sync"),
        (
            "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            ".waitForTaskToken",
        ),
    ] {
        let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": true}}});
        let err = create_express(&mut clients, "Bad", &definition)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("/States/T/Resource") && err.message().contains(reason),
            "{}",
            err.message()
        );
    }
    let ok = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    create_express(&mut clients, "Async", &ok).await.unwrap();
    let update = clients
        .machines
        .update_state_machine(pb::UpdateStateMachineRequest {
            state_machine: "Async".into(),
            definition: json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "End": true}}}).to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(update.code(), Code::InvalidArgument);

    let first = clients.start("Async", "same-name", json!({"a": 1})).await;
    let second = clients.start("Async", "same-name", json!({"a": 1})).await;
    assert_ne!(first, second, "Express names are not deduplicated");
    for arn in [&first, &second] {
        assert_eq!(
            clients.wait_done(arn, LIMIT).await.status(),
            pb::ExecutionStatus::Succeeded
        );
    }
    // A STANDARD machine cannot be started synchronously.
    clients.create("Std", &ok).await;
    let refused = clients
        .executions
        .start_sync_execution(pb::StartExecutionRequest {
            state_machine: "Std".into(),
            name: String::new(),
            input: "{}".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused
            .message()
            .starts_with("StateMachineTypeNotSupported: "),
        "{}",
        refused.message()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_executions_time_out_at_their_limit() {
    let dir = TempDir::new("express-limit");
    let (server, mut clients) = start_with(dir.path(), |c| c.express_max_seconds = 1).await;
    let definition =
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}});
    create_express(&mut clients, "Slow", &definition)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let execution = sync(&mut clients, "Slow", json!({})).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::TimedOut);
    assert_eq!(execution.error(), "States.Timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_are_counted_as_aws_bills_them_and_usage_is_queried_by_window() {
    let dir = TempDir::new("usage");
    let (server, mut clients) = start_with(dir.path(), |_| {}).await;
    // Hand count: Work is entered once and retried once, Tidy and Done are entered once:
    // 3 states entered + 1 retry = 4 transitions.
    clients
        .create(
            "Billed",
            &json!({"StartAt": "Work", "States": {
                "Work": {"Type": "Task", "Resource": lambda("work"), "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1}], "Next": "Tidy"},
                "Tidy": {"Type": "Pass", "Next": "Done"},
                "Done": {"Type": "Succeed"}
            }}),
        )
        .await;
    let arn = clients.start("Billed", "b1", json!({})).await;
    let task = clients.poll("work", 5).await.unwrap();
    clients.fail(&task.token, "Flaky", "once").await.unwrap();
    let task = clients.poll("work", 5).await.unwrap();
    clients.succeed(&task.token, json!({})).await.unwrap();
    let execution = clients.wait_done(&arn, LIMIT).await;
    assert_eq!(execution.state_transitions, 4);

    create_express(
        &mut clients,
        "Quick",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        sync(&mut clients, "Quick", json!({})).await;
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let usage = |machine: &str, start: i64, end: i64| pb::GetUsageRequest {
        state_machine: machine.into(),
        start_time_ms: start,
        end_time_ms: end,
    };
    let current = clients
        .executions
        .get_usage(usage("", now - 60_000, now + 60_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (current.standard_executions, current.standard_transitions),
        (1, 4)
    );
    assert_eq!(current.express_requests, 3);
    assert!(current.express_billed_duration_ms >= 300);
    assert!(
        (current.standard_cost - 4.0 * 0.000025).abs() < 1e-12,
        "{}",
        current.standard_cost
    );
    assert!((current.express_request_cost - 3.0 / 1_000_000.0).abs() < 1e-12);
    assert!(current.total_cost > current.standard_cost + current.express_request_cost);
    let only_billed = clients
        .executions
        .get_usage(usage("Billed", now - 60_000, now + 60_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            only_billed.standard_transitions,
            only_billed.express_requests
        ),
        (4, 0)
    );
    let last_week = clients
        .executions
        .get_usage(usage("", now - 7 * 86_400_000, now - 6 * 86_400_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (last_week.standard_transitions, last_week.express_requests),
        (0, 0)
    );
    assert_eq!(last_week.total_cost, 0.0);
    server.shutdown().await.unwrap();

    // Counters are durable: after a restart the same window reports the same figures.
    let (server, mut clients) = start_with(dir.path(), |_| {}).await;
    let again = clients
        .executions
        .get_usage(usage("", now - 60_000, now + 60_000))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.standard_transitions, again.express_requests), (4, 3));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_price_table_comes_from_configuration() {
    let dir = TempDir::new("prices");
    let prices = dir.path().join("prices.json");
    std::fs::write(&prices, r#"{"standard_transition": 1.0, "express_request": 0.5, "express_gb_hour_tiers": [[1e308, 0.0]]}"#).unwrap();
    let data = dir.path().join("data");
    let (server, mut clients) = start_with(&data, |c| c.price_table = Some(prices.clone())).await;
    clients.create("Two", &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}})).await;
    let arn = clients.start("Two", "t", json!({})).await;
    clients.wait_done(&arn, LIMIT).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let usage = clients
        .executions
        .get_usage(pb::GetUsageRequest {
            state_machine: String::new(),
            start_time_ms: now - 1000,
            end_time_ms: now + 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(usage.standard_cost, 2.0, "two transitions at $1 each");
    server.shutdown().await.unwrap();

    std::fs::write(&prices, r#"{"standard_transitions": 1.0}"#).unwrap();
    let mut config = support::config(dir.path().join("other"));
    config.price_table = Some(prices.clone());
    let err = stepwise_server::start(config)
        .await
        .err()
        .expect("a bad price table is refused");
    assert!(
        err.to_string().contains("is not valid")
            && err.to_string().contains("standard_transitions"),
        "{err}"
    );
}
