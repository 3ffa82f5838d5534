//! The AWS-compatible API driven by the real AWS SDK for Rust (`aws-sdk-sfn`): requests
//! are signed and serialised, and answers and errors parsed, exactly as against AWS.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sfn::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_sfn::error::BoxError;
use aws_sdk_sfn::types::{
    ExecutionStatus, HistoryEventType, StateMachineType, SyncExecutionStatus, Tag,
    ValidateStateMachineDefinitionResultCode, ValidateStateMachineDefinitionSeverity,
};
use serde_json::{Value, json};
use support::{TempDir, fixture, start};

/// An SDK client for the server's HTTP listener, with throwaway credentials (signatures
/// are accepted and not checked while the server requires no keys).
fn sdk(addr: SocketAddr) -> Client {
    Client::from_conf(sdk_config(addr, "test", "test").build())
}

/// The SDK's configuration for the server, signing with this key.
fn sdk_config(addr: SocketAddr, id: &str, secret: &str) -> aws_sdk_sfn::config::Builder {
    aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(Credentials::new(id, secret, None, None, "stepwise-tests"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(ConnectPastSyncPrefix)
}

/// The SDK sends StartSyncExecution to `sync-<endpoint host>`, which for 127.0.0.1 does
/// not resolve, and the Rust SDK has no switch to turn the prefix off. This connects to
/// the plain address but keeps the prefixed `Host` header, so the server still sees the
/// request exactly as the SDK addressed it.
#[derive(Debug)]
struct ConnectPastSyncPrefix;

impl Intercept for ConnectPastSyncPrefix {
    fn name(&self) -> &'static str {
        "ConnectPastSyncPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri().to_string();
        if let Some(rest) = uri.strip_prefix("http://sync-") {
            let host = rest.split('/').next().unwrap_or_default().to_string();
            let request = context.request_mut();
            request.set_uri(format!("http://{rest}"))?;
            request.headers_mut().insert("host", format!("sync-{host}"));
        }
        Ok(())
    }
}

/// Polls DescribeExecution until the execution has ended (at most 20 seconds).
async fn finished(
    sfn: &Client,
    execution: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let described = sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .unwrap();
        if described.status() != &ExecutionStatus::Running {
            return described;
        }
        assert!(tokio::time::Instant::now() < deadline, "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_sdk_runs_the_choice_example_with_an_activity_worker() {
    let dir = TempDir::new("aws-sdk");
    let (server, mut clients) = start(dir.path()).await;
    let sfn = sdk(server.http_addr);

    let created = sfn
        .create_state_machine()
        .name("Choice")
        .definition(fixture("choice-state.asl.json").to_string())
        .role_arn("arn:aws:iam::000000000000:role/any")
        .tags(Tag::builder().key("team").value("qa").build())
        .send()
        .await
        .unwrap();
    let machine = created.state_machine_arn().to_string();
    let activity = sfn
        .create_activity()
        .name("AMIS_deciding_function")
        .send()
        .await
        .unwrap()
        .activity_arn()
        .to_string();
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(described.name(), "Choice");
    let definition: Value = serde_json::from_str(described.definition()).unwrap();
    assert_eq!(definition, fixture("choice-state.asl.json"));

    let execution = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("sdk-1")
        .input(r#"{"want": 200}"#)
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_string();

    // An activity worker loop, as teams write it against AWS.
    let task = sfn
        .get_activity_task()
        .activity_arn(&activity)
        .worker_name("sdk-worker")
        .send()
        .await
        .unwrap();
    let input: Value = serde_json::from_str(task.input().unwrap()).unwrap();
    assert_eq!(input, json!({"want": 200}));
    let token = task.task_token().unwrap().to_string();
    sfn.send_task_heartbeat()
        .task_token(&token)
        .send()
        .await
        .unwrap();
    sfn.send_task_success()
        .task_token(&token)
        .output(r#"{"statusCode": 200}"#)
        .send()
        .await
        .unwrap();

    let finished = finished(&sfn, &execution).await;
    assert_eq!(finished.status(), &ExecutionStatus::Succeeded);
    assert_eq!(finished.output(), Some(r#"{"statusCode":200}"#));
    assert!(finished.stop_date().is_some());

    let history = sfn
        .get_execution_history()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    let events = history.events();
    assert_eq!(events[0].r#type(), &HistoryEventType::ExecutionStarted);
    assert_eq!(
        events.last().unwrap().r#type(),
        &HistoryEventType::ExecutionSucceeded
    );
    let scheduled = events
        .iter()
        .find(|e| e.r#type() == &HistoryEventType::LambdaFunctionScheduled)
        .and_then(|e| e.lambda_function_scheduled_event_details())
        .expect("a LambdaFunctionScheduled event with its details");
    assert_eq!(
        scheduled.resource(),
        "arn:aws:lambda:eu-west-1:300577164517:function:AMIS_deciding_function"
    );
    let entered: Vec<&str> = events
        .iter()
        .filter_map(|e| e.state_entered_event_details().map(|d| d.name()))
        .collect();
    assert_eq!(
        entered,
        ["Deciding Lambda Function", "ChoiceState", "Correct"]
    );
    // Paging through the SDK's paginator returns the same events, newest first.
    let reversed: Vec<i64> = sfn
        .get_execution_history()
        .execution_arn(&execution)
        .reverse_order(true)
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id())
        .collect();
    let mut forward: Vec<i64> = events.iter().map(|e| e.id()).collect();
    forward.reverse();
    assert_eq!(reversed, forward);

    // After an update, the execution still reports the revision it ran.
    let mut revised = fixture("choice-state.asl.json");
    revised["Comment"] = json!("revision 2");
    let update = sfn
        .update_state_machine()
        .state_machine_arn(&machine)
        .definition(revised.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(update.revision_id(), Some("2"));
    let for_execution = sfn
        .describe_state_machine_for_execution()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    assert_eq!(for_execution.state_machine_arn(), machine);
    assert_eq!(for_execution.revision_id(), Some("1"));
    assert_eq!(
        serde_json::from_str::<Value>(for_execution.definition()).unwrap(),
        fixture("choice-state.asl.json")
    );
    assert!(
        for_execution.update_date().secs() <= update.update_date().secs(),
        "the first revision's date"
    );

    // The two APIs agree, both ways.
    assert_eq!(
        clients.describe(&execution).await.output(),
        finished.output().unwrap()
    );
    let from_grpc = clients.start("Choice", "grpc-1", json!({})).await;
    let seen = sfn
        .describe_execution()
        .execution_arn(&from_grpc)
        .send()
        .await
        .unwrap();
    assert_eq!(seen.name(), Some("grpc-1"));
    sfn.stop_execution()
        .execution_arn(&from_grpc)
        .error("Manual")
        .cause("test over")
        .send()
        .await
        .unwrap();
    assert_eq!(
        clients.describe(&from_grpc).await.status(),
        stepwise_proto::v1::ExecutionStatus::Aborted
    );
    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 2);
    let machines = sfn.list_state_machines().send().await.unwrap();
    assert_eq!(machines.state_machines().len(), 1);
    let activities = sfn.list_activities().send().await.unwrap();
    assert_eq!(activities.activities()[0].name(), "AMIS_deciding_function");

    let tags = sfn
        .list_tags_for_resource()
        .resource_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].key(), Some("team"));
    sfn.untag_resource()
        .resource_arn(&machine)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = sfn
        .list_tags_for_resource()
        .resource_arn(&machine)
        .send()
        .await
        .unwrap();
    assert!(tags.tags().is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_sdk_parses_our_errors_as_its_modelled_exceptions() {
    let dir = TempDir::new("aws-sdk-errors");
    let (server, _clients) = start(dir.path()).await;
    let sfn = sdk(server.http_addr);
    let pass = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;
    let machine = sfn
        .create_state_machine()
        .name("M")
        .definition(pass)
        .role_arn("arn:aws:iam::000000000000:role/any")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();

    let invalid = sfn
        .create_state_machine()
        .name("Bad")
        .definition(r#"{"StartAt": "X", "States": {"P": {"Type": "Pass", "End": true}}}"#)
        .role_arn("arn:aws:iam::000000000000:role/any")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(invalid.is_invalid_definition(), "{invalid:?}");
    assert!(
        invalid.to_string().contains('X'),
        "names the state: {invalid}"
    );

    let exists = sfn
        .create_state_machine()
        .name("M")
        .definition(r#"{"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": true}}}"#)
        .role_arn("arn:aws:iam::000000000000:role/any")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(exists.is_state_machine_already_exists(), "{exists:?}");

    let missing = sfn
        .describe_state_machine()
        .state_machine_arn("arn:aws:states:us-east-1:000000000000:stateMachine:Nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_state_machine_does_not_exist(), "{missing:?}");

    let bad_input = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .input("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_input.is_invalid_execution_input(), "{bad_input:?}");

    let bad_arn = sfn
        .describe_execution()
        .execution_arn("not-an-arn")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_arn.is_invalid_arn(), "{bad_arn:?}");

    let no_execution = sfn
        .describe_execution()
        .execution_arn("arn:aws:states:us-east-1:000000000000:execution:M:none")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        no_execution.is_execution_does_not_exist(),
        "{no_execution:?}"
    );

    let no_activity = sfn
        .get_activity_task()
        .activity_arn("arn:aws:states:us-east-1:000000000000:activity:never")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(no_activity.is_activity_does_not_exist(), "{no_activity:?}");

    let no_task = sfn
        .send_task_success()
        .task_token("never-issued")
        .output("{}")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(no_task.is_task_does_not_exist(), "{no_task:?}");

    let no_resource = sfn
        .list_tags_for_resource()
        .resource_arn("arn:aws:states:us-east-1:000000000000:activity:never")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(no_resource.is_resource_not_found(), "{no_resource:?}");

    // Nothing the refused calls touched was changed.
    let machines = sfn.list_state_machines().send().await.unwrap();
    assert_eq!(machines.state_machines().len(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_sdk_drives_the_remaining_actions() {
    let dir = TempDir::new("aws-sdk-rest");
    let (server, _clients) = start(dir.path()).await;
    let sfn = sdk(server.http_addr);
    let role = "arn:aws:iam::000000000000:role/any";

    let checked = sfn
        .validate_state_machine_definition()
        .definition(r#"{"StartAt": "Nowhere", "States": {"P": {"Type": "Pass", "End": true}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        checked.result(),
        &ValidateStateMachineDefinitionResultCode::Fail
    );
    let first = &checked.diagnostics()[0];
    assert_eq!(
        first.severity(),
        &ValidateStateMachineDefinitionSeverity::Error
    );
    assert!(first.message().contains("Nowhere"), "{first:?}");

    // StartSyncExecution, sent to the sync- host the SDK chooses.
    let quick = sfn
        .create_state_machine()
        .name("Quick")
        .r#type(StateMachineType::Express)
        .definition(r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"n": 1}, "End": true}}}"#)
        .role_arn(role)
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let synced = sfn
        .start_sync_execution()
        .state_machine_arn(&quick)
        .input("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(synced.status(), &SyncExecutionStatus::Succeeded);
    assert_eq!(synced.output(), Some(r#"{"n":1}"#));
    assert!(
        synced
            .billing_details()
            .unwrap()
            .billed_duration_in_milliseconds()
            >= 100
    );

    // UpdateStateMachine: new executions run the new definition.
    sfn.update_state_machine()
        .state_machine_arn(&quick)
        .definition(r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"n": 2}, "End": true}}}"#)
        .send()
        .await
        .unwrap();
    let synced = sfn
        .start_sync_execution()
        .state_machine_arn(&quick)
        .send()
        .await
        .unwrap();
    assert_eq!(synced.output(), Some(r#"{"n":2}"#));

    // SendTaskFailure fails the execution with the worker's error and cause.
    let activity = sfn
        .create_activity()
        .name("Fragile")
        .send()
        .await
        .unwrap()
        .activity_arn()
        .to_string();
    assert_eq!(
        sfn.describe_activity()
            .activity_arn(&activity)
            .send()
            .await
            .unwrap()
            .name(),
        "Fragile"
    );
    sfn.tag_resource()
        .resource_arn(&activity)
        .tags(Tag::builder().key("owner").value("sdk").build())
        .send()
        .await
        .unwrap();
    let tags = sfn
        .list_tags_for_resource()
        .resource_arn(&activity)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].value(), Some("sdk"));
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": activity, "End": true}}});
    let machine = sfn
        .create_state_machine()
        .name("Fragile")
        .definition(definition.to_string())
        .role_arn(role)
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let execution = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_string();
    let task = sfn
        .get_activity_task()
        .activity_arn(&activity)
        .send()
        .await
        .unwrap();
    sfn.send_task_failure()
        .task_token(task.task_token().unwrap())
        .error("Disk.Full")
        .cause("no space left")
        .send()
        .await
        .unwrap();
    let failed = finished(&sfn, &execution).await;
    assert_eq!(failed.status(), &ExecutionStatus::Failed);
    assert_eq!(failed.error(), Some("Disk.Full"));
    assert_eq!(failed.cause(), Some("no space left"));

    // Deletes: gone from describe and list.
    sfn.delete_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    sfn.delete_activity()
        .activity_arn(&activity)
        .send()
        .await
        .unwrap();
    let gone = sfn
        .describe_activity()
        .activity_arn(&activity)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_activity_does_not_exist(), "{gone:?}");
    let names: Vec<String> = sfn
        .list_state_machines()
        .send()
        .await
        .unwrap()
        .state_machines()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    assert_eq!(names, ["Quick"]);
    server.shutdown().await.unwrap();
}

/// Once keys are required, the SDK's own signatures decide: the admin credential works,
/// a wrong secret, an unknown key, a bearer key and a clock ten minutes off are refused
/// with AWS's codes, and a signing key of a limited role does only what its role may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_once_keys_are_required() {
    use aws_sdk_sfn::error::ProvideErrorMetadata;
    let dir = TempDir::new("aws-sdk-sigv4");
    let credentials = support::admin_credentials(dir.path(), "AKIDSDKADMIN", "sdk/admin+secret");
    let mut config = support::config(dir.path().join("data"));
    config.admin_credentials = Some(credentials);
    let server = stepwise_server::start(config).await.unwrap();
    let addr = server.http_addr;
    let admin = Client::from_conf(sdk_config(addr, "AKIDSDKADMIN", "sdk/admin+secret").build());
    let pass = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;
    for name in ["tests-unit", "billing"] {
        admin
            .create_state_machine()
            .name(name)
            .definition(pass)
            .role_arn("arn:aws:iam::000000000000:role/any")
            .send()
            .await
            .unwrap();
    }
    let code = |client: Client| async move {
        let error = client.list_state_machines().send().await.unwrap_err();
        error
            .into_service_error()
            .code()
            .unwrap_or_default()
            .to_string()
    };
    let wrong = Client::from_conf(sdk_config(addr, "AKIDSDKADMIN", "not-it").build());
    assert_eq!(code(wrong).await, "InvalidSignatureException");
    let unknown = Client::from_conf(sdk_config(addr, "AKIDNOSUCHKEY", "x").build());
    assert_eq!(code(unknown).await, "UnrecognizedClientException");
    // Without retries: the SDK recognises the refusal as clock skew and, retrying, would
    // sign again at the server's time (as it does against AWS).
    let ten_minutes_ago = std::time::SystemTime::now() - Duration::from_secs(600);
    let skewed = Client::from_conf(
        sdk_config(addr, "AKIDSDKADMIN", "sdk/admin+secret")
            .time_source(aws_smithy_async::time::StaticTimeSource::new(
                ten_minutes_ago,
            ))
            .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
            .build(),
    );
    let expired = skewed.list_state_machines().send().await.unwrap_err();
    let expired = expired.into_service_error();
    assert_eq!(expired.code(), Some("InvalidSignatureException"));
    assert!(
        expired
            .message()
            .unwrap_or_default()
            .starts_with("Signature expired"),
        "{expired:?}"
    );

    // Keys made through gRPC: a signing key limited to tests-*, and a bearer key.
    let grpc = format!("http://{}", server.grpc_addr);
    let keys = support::Clients::connect_with_key(grpc, Some("AKIDSDKADMIN:sdk/admin+secret"))
        .await
        .keys;
    let make = |role: &str, signing: bool| {
        let request = stepwise_proto::v1::CreateKeyRequest {
            role: role.into(),
            patterns: vec!["tests-*".into()],
            description: String::new(),
            signing,
        };
        let mut keys = keys.clone();
        async move {
            let created = keys.create_key(request).await.unwrap().into_inner();
            (created.key.unwrap().key_id, created.secret)
        }
    };
    let (reader_id, reader_secret) = make("reader", true).await;
    let (bearer_id, bearer_secret) = make("reader", false).await;
    let bearer = Client::from_conf(sdk_config(addr, &bearer_id, &bearer_secret).build());
    assert_eq!(code(bearer).await, "UnrecognizedClientException");

    let reader = Client::from_conf(sdk_config(addr, &reader_id, &reader_secret).build());
    let listed = reader.list_state_machines().send().await.unwrap();
    let names: Vec<&str> = listed.state_machines().iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        ["tests-unit"],
        "a listing shows what the key may read"
    );
    let arn = |name: &str| format!("arn:aws:states:us-east-1:000000000000:stateMachine:{name}");
    reader
        .describe_state_machine()
        .state_machine_arn(arn("tests-unit"))
        .send()
        .await
        .unwrap();
    let denied = reader
        .describe_state_machine()
        .state_machine_arn(arn("billing"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    let denied = reader
        .start_execution()
        .state_machine_arn(arn("tests-unit"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    let runs = admin
        .list_executions()
        .state_machine_arn(arn("tests-unit"))
        .send()
        .await
        .unwrap();
    assert!(
        runs.executions().is_empty(),
        "the refused start stored nothing"
    );
    server.shutdown().await.unwrap();
}
