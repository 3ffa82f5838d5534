//! JSONata and variables through the real server: hostile expressions end with an error
//! in bounded time while other callers are answered, variables in flight survive a
//! restart, the history shows what each state assigned, and a syntax error is refused
//! at creation with the state, the field and the position.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use support::{TempDir, lambda};

fn one_state(output: &str) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": "E", "States": {
        "E": {"Type": "Pass", "Output": {"v": output}, "End": true}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_expressions_end_with_an_error_and_others_are_answered_meanwhile() {
    let dir = TempDir::new("jsonata-hostile");
    let (server, mut clients) = support::start(dir.path()).await;
    let hostile = [
        (
            "recursion",
            "{% ($f := function($n) { $f($n + 1) }; $f(0)) %}",
        ),
        ("range", "{% $count([1..100000000]) %}"),
        (
            "doubling",
            "{% ($s := function($x, $n) { $n = 0 ? $x : $s($x & $x, $n - 1) }; $length($s('ab', 40))) %}",
        ),
        (
            "slow",
            "{% $reduce([1..1000000], function($a, $b) { $a + $count([1..1000].($ * 2)) }, 0) %}",
        ),
    ];
    clients
        .create(
            "Quick",
            &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        )
        .await;
    for (name, expression) in hostile {
        clients
            .create(&format!("Hostile-{name}"), &one_state(expression))
            .await;
    }
    let mut arns = Vec::new();
    let started = Instant::now();
    for (name, _) in hostile {
        arns.push((
            name,
            clients
                .start(&format!("Hostile-{name}"), "run", json!({}))
                .await,
        ));
    }
    // Another caller's work goes on beside them.
    let mut slowest = Duration::ZERO;
    for i in 0..5 {
        let asked = Instant::now();
        let arn = clients
            .start("Quick", &format!("q{i}"), json!({"i": i}))
            .await;
        clients.wait_done(&arn, Duration::from_secs(20)).await;
        slowest = slowest.max(asked.elapsed());
    }
    for (name, arn) in &arns {
        let execution = clients.wait_done(arn, Duration::from_secs(60)).await;
        assert_eq!(
            execution.status(),
            pb::ExecutionStatus::Failed,
            "{name}: {execution:?}"
        );
        assert_eq!(execution.error(), "States.QueryEvaluationError", "{name}");
        assert!(
            execution.cause().starts_with(
                "An error occurred while executing the state 'E' (entered at the event id #2)."
            ),
            "{name}: {}",
            execution.cause()
        );
        println!("{name}: {}", execution.cause());
    }
    let all_took = started.elapsed();
    println!(
        "four hostile executions ended within {all_took:?}; the slowest quick execution beside them took {slowest:?}"
    );
    assert!(all_took < Duration::from_secs(60), "{all_took:?}");
    assert!(slowest < Duration::from_secs(10), "{slowest:?}");
    server.shutdown().await.unwrap();

    // Nothing stored was harmed: the server restarts and reads every execution back.
    let (server, mut clients) = support::start(dir.path()).await;
    for (name, arn) in &arns {
        assert_eq!(
            clients.describe(arn).await.status(),
            pb::ExecutionStatus::Failed,
            "{name}"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_in_flight_survive_a_restart_and_the_history_shows_them() {
    let dir = TempDir::new("jsonata-restart");
    let (server, mut clients) = support::start(dir.path()).await;
    clients
        .create(
            "Vars",
            &json!({"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
                "Set": {"Type": "Pass", "Assign": {"order": "{% $states.input.order %}", "tries": 0}, "Next": "Work"},
                "Work": {"Type": "Task", "Resource": lambda("vars-worker"),
                         "Arguments": {"order": "{% $order %}"},
                         "Assign": {"tries": "{% $tries + 1 %}"},
                         "Output": {"order": "{% $order %}", "result": "{% $states.result %}", "triesBefore": "{% $tries %}"},
                         "Next": "Done"},
                "Done": {"Type": "Succeed", "Output": "{% $merge([$states.input, {'tries': $tries}]) %}"}
            }}),
        )
        .await;
    let arn = clients.start("Vars", "v1", json!({"order": "A-17"})).await;
    let task = clients.poll("vars-worker", 5).await.expect("a task");
    assert_eq!(
        serde_json::from_str::<Value>(&task.input).unwrap(),
        json!({"order": "A-17"})
    );
    server.shutdown().await.unwrap();

    // The worker that took the task before the restart reports to the restarted server.
    let (server, mut clients) = support::start(dir.path()).await;
    clients
        .succeed(&task.token, json!("shipped"))
        .await
        .unwrap();
    let execution = clients.wait_done(&arn, Duration::from_secs(20)).await;
    assert_eq!(execution.status(), pb::ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<Value>(execution.output()).unwrap(),
        json!({"order": "A-17", "result": "shipped", "triesBefore": 0, "tries": 1})
    );
    let history = clients.history(&arn).await;
    let assigned: Vec<(String, std::collections::HashMap<String, String>)> = history
        .iter()
        .filter(|e| !e.assigned_variables.is_empty())
        .map(|e| (e.name().to_string(), e.assigned_variables.clone()))
        .collect();
    assert_eq!(assigned.len(), 2, "{assigned:?}");
    assert_eq!(assigned[0].0, "Set");
    assert_eq!(assigned[0].1["order"], "\"A-17\"");
    assert_eq!(assigned[0].1["tries"], "0");
    assert_eq!(assigned[1].0, "Work");
    assert_eq!(assigned[1].1["tries"], "1");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_is_refused_at_creation_with_state_field_and_position() {
    let dir = TempDir::new("jsonata-syntax");
    let (server, mut clients) = support::start(dir.path()).await;
    let status = clients
        .machines
        .create_state_machine(pb::CreateStateMachineRequest {
            name: "Broken".into(),
            definition: one_state("{% $states.input.a + %}").to_string(),
            r#type: pb::StateMachineType::Standard.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let message = status.message();
    assert!(message.contains("/States/E/Output/v"), "{message}");
    assert!(
        message.contains("'$states.input.a +' in 'Output' is not valid at character"),
        "{message}"
    );
    server.shutdown().await.unwrap();
}
