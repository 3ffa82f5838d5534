//! `stepwise bench` against an in-process server, small: each workload's counts must add
//! up (executions, the server's transition count, a dispatch or lateness sample per
//! execution), whatever the timings.

use std::time::Duration;

use stepwise_client::bench::{self, BenchConfig, Workload};
use stepwise_server::Config;

fn config(endpoint: &str, workload: Workload, executions: usize) -> BenchConfig {
    BenchConfig {
        endpoint: endpoint.to_string(),
        key: None,
        tls: Default::default(),
        workload,
        executions,
        concurrency: 8,
        rate: 0.0,
        workers: 2,
        duration: Duration::from_secs(60),
        server_pid: Some(std::process::id()),
        wait_seconds: 1,
        restart_cmd: None,
        steps: None,
        console_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn every_workload_reports_counts_that_add_up() {
    let data = std::env::temp_dir().join(format!("stepwise-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let server = stepwise_server::start(Config::ephemeral(&data))
        .await
        .unwrap();
    let endpoint = format!("http://{}", server.grpc_addr);

    // (workload, --steps, executions, transitions (states entered) and tasks per execution)
    let cases = [
        (Workload::PassChain, None, 20, 10, 0),
        (Workload::PassChainJsonata, None, 20, 10, 0),
        (Workload::Task, None, 10, 4, 1),
        (Workload::Task, Some(5), 6, 5, 5),
        (Workload::FanOut, None, 2, 1 + 100 * 2, 100),
        (Workload::ExpressSync, None, 20, 10, 0),
        (Workload::Timers, None, 5, 1, 0),
        (Workload::Listing, None, 30, 1, 0),
    ];
    for (workload, steps, executions, transitions, tasks) in cases {
        let report = bench::run(BenchConfig {
            steps,
            console_url: Some(format!("http://{}", server.http_addr)),
            ..config(&endpoint, workload, executions)
        })
        .await
        .unwrap_or_else(|e| panic!("{workload:?}: {e}"));
        let table = bench::table(&report);
        assert_eq!(report.executions_completed, executions as u64, "{table}");
        assert_eq!(report.executions_failed, 0, "{table}");
        assert_eq!(
            report.state_transitions,
            (executions * transitions) as u64,
            "{workload:?}: {table}"
        );
        assert_eq!(report.start_call.count, executions as u64, "{table}");
        match workload {
            Workload::Task | Workload::FanOut => {
                let dispatch = report.task_dispatch.as_ref().unwrap();
                assert_eq!(
                    dispatch.count,
                    (executions * tasks) as u64,
                    "one sample per task: {table}"
                );
            }
            Workload::Listing => {
                assert!(report.end_to_end.is_none());
                for figure in [
                    &report.list_first_page,
                    &report.list_first_page_succeeded,
                    &report.list_small_machine,
                    &report.console_machines,
                ] {
                    assert_eq!(figure.as_ref().map(|f| f.count), Some(200), "{table}");
                }
            }
            Workload::Timers => {
                assert_eq!(report.timer_lateness.as_ref().unwrap().count, 5);
                assert!(report.end_to_end.is_none());
                assert!(report.rss_per_waiting_execution_kib.is_some());
            }
            _ => assert_eq!(report.end_to_end.as_ref().unwrap().count, executions as u64),
        }
        assert!(report.server_cpu_seconds.is_some() && report.server_peak_rss_mib.is_some());
        println!("{table}");
    }

    let refused = bench::run(config(&endpoint, Workload::Recovery, 1))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("--restart-cmd"), "{refused}");
    let refused = bench::run(BenchConfig {
        steps: Some(3),
        ..config(&endpoint, Workload::PassChain, 1)
    })
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("--steps"), "{refused}");
    server.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
