//! Many callers at once on the same name: idempotent starts answer with one ARN, updates
//! each get their own revision, none lost. Each round is repeated, since a race shows
//! only some of the time.

mod support;

use std::collections::BTreeSet;

use serde_json::json;
use stepwise_proto::v1 as pb;
use support::{TempDir, start};

const ROUNDS: usize = 10;
const CALLERS: usize = 50;

fn waiting(seconds: u64) -> serde_json::Value {
    json!({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": seconds, "End": true}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_same_name_starts_with_the_same_input_all_get_the_one_arn() {
    let dir = TempDir::new("race-starts");
    let (server, mut clients) = start(dir.path()).await;
    clients.create("Hold", &waiting(600)).await;
    for round in 0..ROUNDS {
        let name = format!("same-{round}");
        let calls = (0..CALLERS).map(|_| {
            let mut executions = clients.executions.clone();
            let name = name.clone();
            tokio::spawn(async move {
                executions
                    .start_execution(pb::StartExecutionRequest {
                        state_machine: "Hold".into(),
                        name,
                        input: r#"{"job": 7}"#.into(),
                    })
                    .await
                    .map(|r| r.into_inner().execution_arn)
            })
        });
        let mut arns = BTreeSet::new();
        for call in calls.collect::<Vec<_>>() {
            match call.await.unwrap() {
                Ok(arn) => {
                    arns.insert(arn);
                }
                Err(status) => panic!("round {round}: a repeated start was refused: {status}"),
            }
        }
        assert_eq!(arns.len(), 1, "round {round}: {arns:?}");
        let arn = arns.into_iter().next().unwrap();
        let history = clients.history(&arn).await;
        assert_eq!(
            history
                .iter()
                .filter(|e| e.r#type == "ExecutionStarted")
                .count(),
            1,
            "round {round}: started once"
        );
        // A different input under the same name is still refused.
        let other = clients
            .executions
            .start_execution(pb::StartExecutionRequest {
                state_machine: "Hold".into(),
                name: name.clone(),
                input: r#"{"job": 8}"#.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(other.code(), tonic::Code::AlreadyExists, "{other}");
    }
    assert_eq!(clients.list_all("Hold").await.len(), ROUNDS);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_each_get_their_own_revision() {
    let dir = TempDir::new("race-updates");
    let (server, mut clients) = start(dir.path()).await;
    clients.create("Edited", &waiting(1)).await;
    let mut expected_revision = 1u32;
    for round in 0..ROUNDS / 2 {
        let calls = (0..30u64).map(|i| {
            let mut machines = clients.machines.clone();
            tokio::spawn(async move {
                machines
                    .update_state_machine(pb::UpdateStateMachineRequest {
                        state_machine: "Edited".into(),
                        definition: waiting(100 + i).to_string(),
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner().revision)
            })
        });
        let mut revisions = BTreeSet::new();
        for call in calls.collect::<Vec<_>>() {
            let revision = call
                .await
                .unwrap()
                .unwrap_or_else(|status| panic!("round {round}: an update failed: {status}"));
            assert!(
                revisions.insert(revision),
                "round {round}: revision {revision} was returned twice"
            );
        }
        let want: BTreeSet<u32> = (expected_revision + 1..=expected_revision + 30).collect();
        assert_eq!(
            revisions, want,
            "round {round}: every update got its own revision"
        );
        expected_revision += 30;
        let described = clients
            .machines
            .describe_state_machine(pb::DescribeStateMachineRequest {
                state_machine: "Edited".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(described.revision, expected_revision);
    }
    // Concurrent creates of one name and definition: one machine, every call answered.
    let calls = (0..CALLERS).map(|_| {
        let mut machines = clients.machines.clone();
        tokio::spawn(async move {
            machines
                .create_state_machine(pb::CreateStateMachineRequest {
                    name: "Once".into(),
                    definition: waiting(5).to_string(),
                    r#type: pb::StateMachineType::Standard.into(),
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().revision)
        })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap().unwrap(), 1);
    }
    server.shutdown().await.unwrap();
}
