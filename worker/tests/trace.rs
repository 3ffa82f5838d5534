//! One trace from a client's start, through the server, to the task on its worker and
//! the completion, recorded with an in-memory OpenTelemetry exporter.

use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::executions_client::ExecutionsClient;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use stepwise_server::Config;
use stepwise_worker::Worker;
use tonic::transport::Channel;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_start_the_task_on_its_worker_and_the_completion() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = std::env::temp_dir().join(format!("stepwise-trace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = stepwise_server::start(Config::ephemeral(&dir))
        .await
        .unwrap();
    let endpoint = format!("http://{}", server.grpc_addr);
    let channel = Channel::from_shared(endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut machines = StateMachinesClient::new(channel.clone());
    let mut executions = ExecutionsClient::new(channel);
    machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "Traced".into(),
            definition: json!({"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:work", "End": true}}}).to_string(),
            r#type: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    let worker = Worker::new(endpoint.clone()).handle("work", |task| async move {
        tracing::info!("working");
        Ok(json!({"done": task.input}))
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));

    let root = tracing::info_span!("client start");
    let trace_id = root.context().span().span_context().trace_id();
    let mut request = tonic::Request::new(pb::StartExecutionRequest {
        state_machine: "Traced".into(),
        name: "t1".into(),
        input: "{}".into(),
    });
    root.in_scope(|| stepwise_proto::trace::inject(request.metadata_mut()));
    assert!(
        request.metadata().get("traceparent").is_some(),
        "the client sends its trace context"
    );
    let arn = executions
        .start_execution(request)
        .await
        .unwrap()
        .into_inner()
        .execution_arn;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let execution = executions
            .describe_execution(pb::DescribeExecutionRequest {
                execution_arn: arn.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if execution.status() == pb::ExecutionStatus::Succeeded {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the execution did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
    drop(root);
    server.shutdown().await.unwrap();
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let in_trace: Vec<String> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace_id)
        .map(|s| {
            let method = s
                .attributes
                .iter()
                .find(|a| a.key.as_str() == "method")
                .map(|a| a.value.to_string())
                .unwrap_or_default();
            format!("{} {method}", s.name)
        })
        .collect();
    let has = |needle: &str| in_trace.iter().any(|s| s.contains(needle));
    assert!(has("client start"), "{in_trace:#?}");
    assert!(
        has("rpc /stepwise.v1.Executions/StartExecution"),
        "the server's span joins the client's trace: {in_trace:#?}"
    );
    assert!(
        has("task "),
        "the worker's task span joins the trace: {in_trace:#?}"
    );
    assert!(
        has("rpc /stepwise.v1.Tasks/SendTaskSuccess"),
        "the completion joins the trace: {in_trace:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
