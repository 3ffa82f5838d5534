//! ValidateStateMachineDefinition through the real server on an ephemeral port.

use stepwise_proto::v1 as pb;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use stepwise_server::Config;

async fn client() -> (
    stepwise_server::RunningServer,
    StateMachinesClient<tonic::transport::Channel>,
) {
    let server = stepwise_server::start(Config {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .expect("server starts");
    let client = StateMachinesClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("client connects");
    (server, client)
}

fn seed(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn seed_workflows_validate_ok_over_grpc() {
    let (server, mut client) = client().await;
    for name in ["choice-state.asl.json", "test-pipeline.asl.json"] {
        let response = client
            .validate_state_machine_definition(pb::ValidateStateMachineDefinitionRequest {
                definition: seed(name),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.result(),
            pb::ValidationResult::Ok,
            "{name}: {:?}",
            response.diagnostics
        );
        assert!(response.diagnostics.is_empty());
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn broken_definition_reports_located_diagnostics_over_grpc() {
    let (server, mut client) = client().await;
    let definition =
        seed("choice-state.asl.json").replace("\"Next\": \"Error\"", "\"Next\": \"Eror\"");
    let response = client
        .validate_state_machine_definition(pb::ValidateStateMachineDefinitionRequest { definition })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.result(), pb::ValidationResult::Fail);
    assert_eq!(response.diagnostics.len(), 1, "{:?}", response.diagnostics);
    let d = &response.diagnostics[0];
    assert_eq!(d.severity(), pb::Severity::Error);
    assert_eq!(d.code, "MISSING_TRANSITION_TARGET");
    assert_eq!(d.location, "/States/ChoiceState/Choices/1/Next");
    assert!(d.message.contains("did you mean 'Error'?"), "{}", d.message);

    let response = client
        .validate_state_machine_definition(pb::ValidateStateMachineDefinitionRequest {
            definition: "{not json".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.result(), pb::ValidationResult::Fail);
    assert_eq!(response.diagnostics[0].code, "INVALID_JSON_DESCRIPTION");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let (server, _client) = client().await;
    let err = stepwise_server::start(Config {
        grpc_addr: server.grpc_addr,
    })
    .await
    .err()
    .expect("second bind fails");
    assert!(
        err.to_string()
            .contains(&format!("cannot listen for gRPC on {}", server.grpc_addr)),
        "{err}"
    );
    server.shutdown().await.unwrap();
}
