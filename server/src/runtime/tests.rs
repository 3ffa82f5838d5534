//! The runtime over a real sled store in a temporary directory: what survives records
//! the store cannot read.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::store::SledStore;

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "stepwise-runtime-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WAITING: &str =
    r#"{"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 600, "End": true}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_are_set_aside_and_everything_else_recovers() {
    let dir = TempDir::new("damaged");
    let store = Arc::new(SledStore::open(&dir.0).unwrap());
    let runtime = Runtime::open(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    runtime
        .create_machine("Hold", WAITING, MachineType::Standard, None)
        .await
        .unwrap();
    let mut arns = Vec::new();
    for name in ["healthy", "record-damaged", "history-damaged"] {
        let (arn, _) = runtime
            .start_execution("Hold", Some(name), r#"{"n": 1}"#)
            .await
            .unwrap();
        arns.push(arn);
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    drop(runtime);
    store.damage_execution(&arns[1], true);
    store.damage_execution(&arns[2], false);

    // Recovery brings back the healthy one and sets the other two aside.
    let runtime = Runtime::open(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    assert_eq!(runtime.running(), 1);
    let set_aside: Vec<String> = runtime.set_aside().iter().map(|d| d.to_string()).collect();
    assert_eq!(set_aside.len(), 2, "{set_aside:?}");
    assert!(
        set_aside[0].starts_with(&format!("x|{}: ", arns[1])),
        "{set_aside:?}"
    );
    assert!(
        set_aside[1].contains(&arns[2]) && set_aside[1].contains("history cannot be read"),
        "{set_aside:?}"
    );

    // A listing skips the unreadable record and counts it; the others are listed.
    let listed: Vec<String> = runtime
        .list_executions("Hold", None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.arn)
        .collect();
    assert!(
        listed.contains(&arns[0]) && listed.contains(&arns[2]),
        "{listed:?}"
    );
    assert!(!listed.contains(&arns[1]));
    assert!(
        runtime
            .metrics_text()
            .contains("stepwise_damaged_records_skipped_total 1"),
        "{}",
        runtime.metrics_text()
    );
    assert!(
        runtime
            .metrics_text()
            .contains("stepwise_damaged_records_set_aside 2")
    );

    // Describe and history name the problem for the damaged ones only.
    for arn in &arns[1..] {
        let err = runtime.describe_execution(arn).await.unwrap_err();
        assert_eq!(err.aws_code(), "InternalFailure", "{err}");
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
    let err = runtime.history(&arns[2]).await.unwrap_err();
    assert_eq!(err.aws_code(), "InternalFailure", "{err}");
    let healthy = runtime.describe_execution(&arns[0]).await.unwrap();
    assert_eq!(healthy.input, json!({"n": 1}));

    // The healthy execution still runs: it can be stopped, and new work starts.
    runtime.stop_execution(&arns[0], None, None).await.unwrap();
    let (again, _) = runtime
        .start_execution("Hold", Some("after"), "{}")
        .await
        .unwrap();
    assert_eq!(
        runtime
            .describe_execution(&again)
            .await
            .unwrap()
            .record
            .status,
        Status::Running
    );
    runtime.shutdown(Duration::from_secs(10)).await;
}
