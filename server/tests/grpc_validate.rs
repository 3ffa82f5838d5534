//! ValidateStateMachineDefinition through the real server on an ephemeral port.

mod support;

use stepwise_proto::v1 as pb;
use support::{TempDir, start};

fn seed(name: &str) -> String {
    support::fixture(name).to_string()
}

#[tokio::test]
async fn seed_workflows_validate_ok_over_grpc() {
    let dir = TempDir::new("validate");
    let (server, mut clients) = start(dir.path()).await;
    for name in ["choice-state.asl.json", "test-pipeline.asl.json"] {
        let response = clients
            .machines
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
    let dir = TempDir::new("validate");
    let (server, mut clients) = start(dir.path()).await;
    let definition =
        seed("choice-state.asl.json").replace("\"Next\":\"Error\"", "\"Next\":\"Eror\"");
    let response = clients
        .machines
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

    let response = clients
        .machines
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
    let dir = TempDir::new("validate");
    let (server, _clients) = start(dir.path()).await;
    let other = TempDir::new("validate-other");
    let mut config = support::config(other.path());
    config.grpc_addr = server.grpc_addr;
    let err = stepwise_server::start(config)
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
