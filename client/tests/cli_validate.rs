//! `stepwise validate` against the real server on an ephemeral port.

use std::process::Command;

use stepwise_server::Config;

fn fixture(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

// The CLI runs as a child process while this test waits on it synchronously, so the
// in-process server needs runtime threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_prints_diagnostics_with_locations_and_sets_the_exit_code() {
    let data = std::env::temp_dir().join(format!("stepwise-cli-data-{}", std::process::id()));
    let server = stepwise_server::start(Config::ephemeral(&data))
        .await
        .unwrap();
    let endpoint = format!("http://{}", server.grpc_addr);
    let stepwise = env!("CARGO_BIN_EXE_stepwise");

    let ok = Command::new(stepwise)
        .args([
            "--endpoint",
            &endpoint,
            "validate",
            &fixture("choice-state.asl.json"),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("choice-state.asl.json: valid"));

    let broken_dir = std::env::temp_dir().join(format!("stepwise-cli-{}", std::process::id()));
    std::fs::create_dir_all(&broken_dir).unwrap();
    let broken = broken_dir.join("broken.json");
    let text = std::fs::read_to_string(fixture("choice-state.asl.json"))
        .unwrap()
        .replace("\"Next\": \"ChoiceState\"", "\"Next\": \"ChoiseState\"");
    std::fs::write(&broken, text).unwrap();
    let failed = Command::new(stepwise)
        .args(["--endpoint", &endpoint, "validate"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(
        stdout.contains("error /States/Deciding Lambda Function/Next: Next names 'ChoiseState'"),
        "{stdout}"
    );
    assert!(stdout.contains("[MISSING_TRANSITION_TARGET]"), "{stdout}");

    let json = Command::new(stepwise)
        .args(["--endpoint", &endpoint, "--output", "json", "validate"])
        .arg(&broken)
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["result"], "FAIL");
    assert_eq!(
        value["diagnostics"][0]["location"],
        "/States/Deciding Lambda Function/Next"
    );

    // A JSONata expression that does not parse: the state, the field and the character.
    let jsonata = broken_dir.join("jsonata.json");
    std::fs::write(
        &jsonata,
        serde_json::json!({"QueryLanguage": "JSONata", "StartAt": "Total", "States": {
            "Total": {"Type": "Pass", "Output": {"sum": "{% $sum($states.input.items %}"}, "End": true}}})
        .to_string(),
    )
    .unwrap();
    let failed = Command::new(stepwise)
        .args(["--endpoint", &endpoint, "validate"])
        .arg(&jsonata)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(
        stdout.contains("error /States/Total/Output/sum: the JSONata expression '$sum($states.input.items' in 'Output' is not valid at character"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&broken_dir).unwrap();
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn unreachable_server_and_missing_file_are_clear_errors() {
    let stepwise = env!("CARGO_BIN_EXE_stepwise");
    let missing = Command::new(stepwise)
        .args(["validate", "/nonexistent/def.json"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/def.json"));
    // Port 9 (discard) on loopback: nothing listens there.
    let down = Command::new(stepwise)
        .args([
            "--endpoint",
            "http://127.0.0.1:9",
            "validate",
            &fixture("choice-state.asl.json"),
        ])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&down.stderr)
            .contains("cannot reach the Stepwise server at http://127.0.0.1:9"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}
