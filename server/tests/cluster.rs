//! Three nodes on one PostgreSQL: partitions spread by lease, calls answered by any node,
//! failover after kill -9, a node paused past its lease whose stale writes are refused,
//! a node that could not renew for a lease period taking its partitions back, and keys
//! checked by the node that owns a task when another node forwards its result, and nodes
//! that serve TLS (client certificates required) reaching each other over it. Needs the
//! suite's PostgreSQL (`STEPWISE_TEST_DATABASE_URL`, set by run-tests.sh); bounded in
//! executions and time.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stepwise_proto::v1 as pb;
use support::process::{free_port, http_get};
use support::{Clients, TempDir, assert_contiguous};

const PARTITIONS: &str = "12";
const LEASE_SECONDS: u64 = 3;
const ACTIVITY: &str = "arn:aws:states:us-east-1:000000000000:activity:work";

/// One node: a server process on the shared database, restartable under its id.
struct Node {
    id: String,
    grpc: String,
    http: String,
    url: String,
    /// More arguments for the server.
    extra: Vec<String>,
    /// The CA (PEM) of its certificate, when it serves TLS.
    ca: Option<String>,
    child: Option<Child>,
}

impl Node {
    fn new(id: &str, url: &str) -> Node {
        Node {
            id: id.into(),
            grpc: format!("127.0.0.1:{}", free_port()),
            http: format!("127.0.0.1:{}", free_port()),
            url: url.into(),
            extra: Vec::new(),
            ca: None,
            child: None,
        }
    }

    async fn start(&mut self, dir: &std::path::Path) {
        let child = Command::new(env!("CARGO_BIN_EXE_stepwise-server"))
            .args([
                "--data-dir",
                &dir.join(&self.id).display().to_string(),
                "--database-url",
                &self.url,
                "--node-id",
                &self.id,
                "--lease-seconds",
                &LEASE_SECONDS.to_string(),
                "--partitions",
                PARTITIONS,
                "--grpc-addr",
                &self.grpc,
                "--http-addr",
                &self.http,
            ])
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(self.log(dir))
            .spawn()
            .expect("the server binary starts");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(&self.grpc).await.is_err() {
            assert!(
                self.child.as_mut().unwrap().try_wait().unwrap().is_none(),
                "node {} exited instead of coming up",
                self.id
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {} did not come up",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The node's log file (appended to across restarts), for a failure to show.
    fn log(&self, dir: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{}.log", self.id)))
            .unwrap()
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn endpoint(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.grpc)
    }

    /// The partitions this node serves and their epochs, from its /metrics.
    async fn held(&self) -> BTreeMap<u16, u64> {
        let (status, body) = match &self.ca {
            None => http_get(&self.http, "/metrics").await,
            Some(ca) => {
                let (_, response) =
                    support::https_get(self.http.parse().unwrap(), ca, "/metrics").await;
                let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap();
                (status, body.to_string())
            }
        };
        assert_eq!(status, 200);
        body.lines()
            .filter_map(|line| line.strip_prefix("stepwise_cluster_lease_epoch{partition=\""))
            .filter_map(|rest| {
                let (partition, epoch) = rest.split_once("\"} ")?;
                Some((partition.parse().ok()?, epoch.trim().parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused node must be resumed to be killed cleanly.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// Waits until every partition is served by exactly one of the running nodes and each
/// serves its share; answers who serves what.
async fn balanced(nodes: &[&Node], limit: Duration) -> Vec<BTreeMap<u16, u64>> {
    let deadline = tokio::time::Instant::now() + limit;
    let total: usize = PARTITIONS.parse().unwrap();
    loop {
        let mut held = Vec::new();
        for node in nodes {
            held.push(node.held().await);
        }
        let all: Vec<u16> = held.iter().flat_map(|h| h.keys().copied()).collect();
        let distinct: HashSet<u16> = all.iter().copied().collect();
        let share = total.div_ceil(nodes.len());
        if all.len() == total && distinct.len() == total && held.iter().all(|h| h.len() <= share) {
            return held;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the partitions did not settle over {} nodes within {limit:?}: {held:?}",
            nodes.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn definition() -> Value {
    let task = |kind: &str| json!({"Type": "Task", "Resource": ACTIVITY, "Parameters": {"kind": kind}, "TimeoutSeconds": 30, "End": true});
    json!({
        "StartAt": "First",
        "States": {
            "First": {
                "Type": "Task", "Resource": ACTIVITY,
                "Parameters": {"kind": "flaky", "attempt.$": "$$.State.RetryCount"},
                "TimeoutSeconds": 30,
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1}],
                "ResultPath": "$.first", "Next": "Pause"
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Fanout"},
            "Fanout": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Left", "States": {"Left": task("plain")}},
                    {"StartAt": "Right", "States": {"Right": task("plain")}}
                ],
                "ResultPath": "$.fan", "Next": "Items"
            },
            "Items": {
                "Type": "Map", "ItemsPath": "$.items",
                "Iterator": {"StartAt": "Item", "States": {"Item": task("plain")}},
                "ResultPath": "$.mapped", "Next": "Risky"
            },
            "Risky": {
                "Type": "Task", "Resource": ACTIVITY, "Parameters": {"kind": "boom"},
                "TimeoutSeconds": 30,
                "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.caught", "Next": "Recovered"}],
                "Next": "Callback"
            },
            "Recovered": {"Type": "Pass", "Next": "Callback"},
            "Callback": {
                "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 30,
                "End": true
            }
        }
    })
}

/// The states each execution enters, and how often: the same for every run, whatever
/// failed over beneath it (retries and timeouts enter no state again).
fn expected_entries() -> BTreeMap<String, usize> {
    [
        ("First", 1),
        ("Pause", 1),
        ("Fanout", 1),
        ("Left", 1),
        ("Right", 1),
        ("Items", 1),
        ("Item", 3),
        ("Risky", 1),
        ("Recovered", 1),
        ("Callback", 1),
    ]
    .into_iter()
    .map(|(name, count)| (name.to_string(), count))
    .collect()
}

/// Sends a task's answer through the node at `endpoints[first]`, or the next ones while
/// a node is down; an answer the task already has counts as sent.
async fn answer(endpoints: &[String], first: usize, token: &str, outcome: Result<Value, &str>) {
    for attempt in 0..40 {
        let endpoint = &endpoints[(first + attempt) % endpoints.len()];
        let Ok(channel) = tonic::transport::Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut tasks = pb::tasks_client::TasksClient::new(channel);
        let sent = match &outcome {
            Ok(output) => tasks
                .send_task_success(pb::SendTaskSuccessRequest {
                    token: token.into(),
                    output: output.to_string(),
                })
                .await
                .map(|_| ()),
            Err(error) => tasks
                .send_task_failure(pb::SendTaskFailureRequest {
                    token: token.into(),
                    error: error.to_string(),
                    cause: "as the test asks".into(),
                })
                .await
                .map(|_| ()),
        };
        match sent {
            Ok(()) => return,
            // Sent before, by an attempt whose answer was lost with its node.
            Err(status)
                if status.message().starts_with(
                    "TaskTimedOut: the task for this token already has its result",
                ) =>
            {
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("no node took the answer for {token}");
}

/// A worker polling `endpoints[home]` (the next node while that one is down) until told
/// to stop; every task it receives is recorded by delivery token.
async fn worker(
    endpoints: Arc<Vec<String>>,
    home: usize,
    delivered: Arc<Mutex<Vec<String>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut at = home;
    while !*stop.borrow() {
        let endpoint = endpoints[at % endpoints.len()].clone();
        let Ok(channel) = tonic::transport::Channel::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
        else {
            at += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut tasks = pb::tasks_client::TasksClient::new(channel);
        let request = pb::PollTaskRequest {
            queues: vec!["work".into(), "sqs:sendMessage".into()],
            worker_name: format!("worker-{home}"),
            wait_seconds: 1,
            ..Default::default()
        };
        let polled = tokio::select! {
            polled = tasks.poll_task(request) => polled,
            _ = stop.changed() => return,
        };
        let task = match polled {
            Ok(task) => task.into_inner(),
            Err(_) => {
                at += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if task.token.is_empty() {
            continue;
        }
        delivered.lock().unwrap().push(task.token.clone());
        let input: Value = serde_json::from_str(&task.input).unwrap();
        let endpoints = endpoints.clone();
        if task.queue == "sqs:sendMessage" {
            // The integration's call is done; the callback comes later, through another
            // node, with the task token the message carried.
            answer(&endpoints, at, &task.token, Ok(json!({"sent": true}))).await;
            let callback = input["MessageBody"]["token"].as_str().unwrap().to_string();
            answer(&endpoints, at + 1, &callback, Ok(json!({"called": "back"}))).await;
            continue;
        }
        let outcome = match input["kind"].as_str().unwrap() {
            "flaky" if input["attempt"] == 0 => Err("Flaky"),
            "boom" => Err("Boom"),
            _ => Ok(json!({"done": input["kind"]})),
        };
        answer(&endpoints, at, &task.token, outcome).await;
    }
}

/// Prints the nodes' logs if the test fails (they live in its directory, deleted after).
struct LogsOnFailure(std::path::PathBuf);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let logs = std::fs::read_dir(&self.0).into_iter().flatten().flatten();
        let mut ids: Vec<String> = logs
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().to_string();
                name.strip_suffix(".log").map(str::to_string)
            })
            .collect();
        ids.sort();
        for id in ids {
            let log = std::fs::read_to_string(self.0.join(format!("{id}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("---- {id}'s log, last lines ----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_fail_over_without_losing_or_repeating_anything() {
    let dir = TempDir::new("cluster");
    let _logs = LogsOnFailure(dir.path().to_path_buf());
    let url = support::database_of(dir.path());
    let mut nodes = vec![
        Node::new("n1", &url),
        Node::new("n2", &url),
        Node::new("n3", &url),
    ];
    for node in nodes.iter_mut() {
        node.start(dir.path()).await;
    }
    let limit = Duration::from_secs(4 * LEASE_SECONDS + 10);
    let held = balanced(&nodes.iter().collect::<Vec<_>>(), limit).await;
    eprintln!("partitions at the start: {held:?}");

    let endpoints: Arc<Vec<String>> = Arc::new(nodes.iter().map(Node::endpoint).collect());
    let mut clients = Vec::new();
    for endpoint in endpoints.iter() {
        clients.push(Clients::connect(endpoint.clone()).await);
    }
    clients[0].create("Mixed", &definition()).await;
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for home in 0..3 {
        workers.push(tokio::spawn(worker(
            endpoints.clone(),
            home,
            delivered.clone(),
            stopped.clone(),
        )));
    }

    // Executions started through every node, whichever owns each.
    let input = json!({"items": [1, 2, 3]});
    let mut arns = Vec::new();
    for i in 0..24 {
        arns.push(
            clients[i % 3]
                .start("Mixed", &format!("run-{i}"), input.clone())
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // kill -9 of n1 while executions run; it comes back under its id.
    nodes[0].kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 24..30 {
        arns.push(
            clients[2]
                .start("Mixed", &format!("run-{i}"), input.clone())
                .await,
        );
    }
    nodes[0].start(dir.path()).await;
    balanced(&nodes.iter().collect::<Vec<_>>(), limit).await;

    // n2 paused past its lease: n1 and n3 take its partitions over; resumed, it finds
    // its leases gone, and whatever it tries to commit under them is refused.
    let before = nodes[1].held().await;
    nodes[1].signal("-STOP");
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS + 2)).await;
    for i in 30..36 {
        arns.push(
            clients[2]
                .start("Mixed", &format!("run-{i}"), input.clone())
                .await,
        );
    }
    let others = [&nodes[0], &nodes[2]];
    let mut taken_over = false;
    let deadline = tokio::time::Instant::now() + limit;
    while !taken_over {
        let mut held: Vec<u16> = Vec::new();
        for node in others {
            held.extend(node.held().await.keys());
        }
        taken_over = before.keys().all(|p| held.contains(p));
        assert!(
            tokio::time::Instant::now() < deadline,
            "n2's partitions were not taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nodes[1].signal("-CONT");
    let after = balanced(&nodes.iter().collect::<Vec<_>>(), limit).await;
    for (partition, epoch) in &before {
        let now = after.iter().find_map(|h| h.get(partition)).unwrap();
        assert!(
            now > epoch,
            "partition {partition} changed hands under a new epoch"
        );
    }

    // Every execution finishes, each exactly as a run without failures would.
    for (i, arn) in arns.iter().enumerate() {
        let execution = clients[i % 3].wait_done(arn, Duration::from_secs(60)).await;
        assert_eq!(
            execution.status(),
            pb::ExecutionStatus::Succeeded,
            "{arn}: {execution:?}"
        );
        let history = clients[(i + 1) % 3].history(arn).await;
        assert_contiguous(&history);
        let mut entered: BTreeMap<String, usize> = BTreeMap::new();
        for event in &history {
            if event.r#type.ends_with("StateEntered") {
                *entered
                    .entry(event.name.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
        assert_eq!(entered, expected_entries(), "{arn}: no state entered twice");
    }
    // A watch through any node gives the whole history (from the owner's live feed
    // where another node serves it); an unknown execution is NotFound through any node.
    for (n, client) in clients.iter_mut().enumerate() {
        for (i, arn) in arns.iter().enumerate().take(6) {
            let watch = pb::WatchExecutionHistoryRequest {
                execution_arn: arn.clone(),
                exclude_execution_data: false,
            };
            let mut stream = (client.executions.clone())
                .watch_execution_history(watch)
                .await
                .unwrap()
                .into_inner();
            let mut watched = Vec::new();
            while let Some(event) = stream.message().await.unwrap() {
                watched.push(event.id);
            }
            let history: Vec<u64> = (client.history(arn).await.iter()).map(|e| e.id).collect();
            assert_eq!(watched, history, "{arn} watched through node {n} (run {i})");
        }
        let unknown = format!("{}-never-{n}", arns[0]);
        let watch = pb::WatchExecutionHistoryRequest {
            execution_arn: unknown.clone(),
            exclude_execution_data: true,
        };
        let refused = (client.executions.clone())
            .watch_execution_history(watch)
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            refused.code(),
            tonic::Code::NotFound,
            "{unknown}: {refused}"
        );
    }
    let _ = stop.send(true);
    for worker in workers {
        worker.await.unwrap();
    }
    let delivered = delivered.lock().unwrap().clone();
    let distinct: HashSet<&String> = delivered.iter().collect();
    assert_eq!(
        distinct.len(),
        delivered.len(),
        "no task attempt delivered twice"
    );
    // Per execution: First twice (one retry), Left, Right, three Items, Risky, Callback.
    assert!(
        delivered.len() >= arns.len() * 9,
        "{} deliveries",
        delivered.len()
    );
    // The console's cluster view, from any node: three live nodes, every partition
    // served once, and what each runs.
    let (status, body) = http_get(&nodes[2].http, "/console/api/cluster").await;
    assert_eq!(status, 200);
    let view: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["node"], "n3");
    assert_eq!(view["unowned"], json!([]), "{view}");
    let listed = view["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{view}");
    let mut served = 0;
    for node in listed {
        assert_eq!(node["live"], true, "{view}");
        assert_eq!(
            node["runningExecutions"], 0,
            "every execution has finished: {view}"
        );
        served += node["partitions"].as_array().unwrap().len();
    }
    assert_eq!(served, 12, "{view}");
    let mut fenced = 0;
    for node in &nodes {
        let (_, metrics) = http_get(&node.http, "/metrics").await;
        fenced += metrics
            .lines()
            .find_map(|l| l.strip_prefix("stepwise_store_batches_fenced_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_default();
    }
    eprintln!(
        "{} executions, {} deliveries, {fenced} stale batches refused",
        arns.len(),
        delivered.len()
    );
}

/// Runs SQL on a node's database, as an operator (or a fault) would.
async fn run_sql(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = connection.await;
}

/// Waits until `node` serves exactly `count` partitions; answers them with their epochs.
async fn serving(node: &Node, count: usize, limit: Duration) -> BTreeMap<u16, u64> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let held = node.held().await;
        if held.len() == count {
            return held;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} serves {} partitions, not {count}, after {limit:?}",
            node.id,
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_could_not_renew_for_a_lease_period_gives_its_leases_back_and_takes_them_again()
{
    let dir = TempDir::new("cluster-strays");
    let _logs = LogsOnFailure(dir.path().to_path_buf());
    let url = support::database_of(dir.path());
    let mut node = Node::new("n1", &url);
    node.start(dir.path()).await;
    let total: usize = PARTITIONS.parse().unwrap();
    let limit = Duration::from_secs(4 * LEASE_SECONDS + 10);
    let before = serving(&node, total, limit).await;
    let mut clients = Clients::connect(node.endpoint()).await;
    let wait = LEASE_SECONDS * 3 + 4;
    let waiting = json!({"StartAt": "Hold", "States": {
        "Hold": {"Type": "Wait", "Seconds": wait, "Next": "Done"},
        "Done": {"Type": "Pass", "End": true}}});
    clients.create("Holds", &waiting).await;
    let arn = clients.start("Holds", "held", json!({"n": 1})).await;

    // Every renewal first marks the node seen; refused, the renewal fails, while group
    // commits (which never touch that row) go on. After a lease period the node stops
    // serving its partitions; the database still names it their owner.
    run_sql(
        &url,
        "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'renewals refused by the test'; END $$; \
         CREATE TRIGGER test_refuse_renewals BEFORE UPDATE ON nodes \
         FOR EACH ROW EXECUTE FUNCTION test_refuse();",
    )
    .await;
    serving(&node, 0, limit).await;

    // Renewals succeed again: the leases it renews but no longer serves are given back
    // and taken again under new epochs, their executions recovered.
    run_sql(&url, "DROP TRIGGER test_refuse_renewals ON nodes;").await;
    let after = serving(&node, total, limit).await;
    for (partition, epoch) in &after {
        assert!(
            *epoch > before[partition],
            "partition {partition} is served under epoch {epoch}, not a new one (before: {})",
            before[partition]
        );
    }
    let done = clients
        .wait_done(&arn, Duration::from_secs(wait + 4 * LEASE_SECONDS + 10))
        .await;
    assert_eq!(done.status(), pb::ExecutionStatus::Succeeded);
    let history = clients.history(&arn).await;
    assert_contiguous(&history);
    let exits = history.iter().filter(|e| e.r#type == "WaitStateExited");
    assert_eq!(exits.count(), 1, "{:?}", support::types(&history));
    let log = std::fs::read_to_string(dir.path().join("n1.log")).unwrap();
    assert!(
        log.contains("leases this node no longer served given back"),
        "the give-back is logged: {log}"
    );
}

/// With keys required, a task's result sent to any node is decided by the node that owns
/// the task: a worker completes the tasks of its queues wherever they live, and is
/// refused another queue's task on every node, even when it claims to forward for an
/// admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_result_is_allowed_or_refused_by_the_owner_by_the_callers_key() {
    let dir = TempDir::new("cluster-keys");
    let _logs = LogsOnFailure(dir.path().to_path_buf());
    let url = support::database_of(dir.path());
    let credentials = support::admin_credentials(dir.path(), "AKIDCLUSTER", "cluster-admin-secret");
    let admin_key = "AKIDCLUSTER:cluster-admin-secret";
    let mut nodes = [Node::new("k1", &url), Node::new("k2", &url)];
    for node in nodes.iter_mut() {
        node.extra = vec![
            "--admin-credentials".into(),
            credentials.display().to_string(),
        ];
        node.start(dir.path()).await;
    }
    let limit = Duration::from_secs(4 * LEASE_SECONDS + 10);
    let held = balanced(&[&nodes[0], &nodes[1]], limit).await;
    let mut admin = Clients::connect_with_key(nodes[0].endpoint(), Some(admin_key)).await;
    let created = admin
        .keys
        .create_key(pb::CreateKeyRequest {
            role: "worker".into(),
            patterns: vec!["tests-*".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let worker_key = format!("{}:{}", created.key.unwrap().key_id, created.secret);
    for queue in ["tests-q", "billing-q"] {
        admin
            .tasks
            .create_activity(pb::CreateActivityRequest { name: queue.into() })
            .await
            .unwrap();
        let machine = json!({"StartAt": "Work", "States": {"Work": {"Type": "Task",
            "Resource": format!("arn:aws:states:us-east-1:000000000000:activity:{queue}"),
            "End": true}}});
        admin.create(queue.trim_end_matches("-q"), &machine).await;
    }
    // Runs on both nodes' partitions (checked below), started through the first.
    let count = 10;
    let mut runs = Vec::new();
    for i in 0..count {
        runs.push(admin.start("tests", &format!("t{i}"), json!({})).await);
        runs.push(admin.start("billing", &format!("b{i}"), json!({})).await);
    }
    let partitions: u16 = PARTITIONS.parse().unwrap();
    let owner = |arn: &str| {
        let partition = stepwise_server::placement::partition_of(arn, partitions);
        usize::from(!held[0].contains_key(&partition))
    };
    for kind in ["execution:tests:", "execution:billing:"] {
        let owners: HashSet<usize> = runs
            .iter()
            .filter(|arn| arn.contains(kind))
            .map(|arn| owner(arn))
            .collect();
        assert_eq!(owners.len(), 2, "{kind} runs on both nodes");
    }

    // The worker, connected to the second node only, completes every tests task.
    let mut worker = Clients::connect_with_key(nodes[1].endpoint(), Some(&worker_key)).await;
    for _ in 0..count {
        let task = worker.poll("tests-q", 5).await.expect("a tests task");
        worker.succeed(&task.token, json!({})).await.unwrap();
    }
    // Another queue's tasks are refused on both nodes, whichever owns them, and a forged
    // claim to act for someone else changes nothing.
    let mut forged = Clients::connect_with_key(nodes[0].endpoint(), Some(&worker_key)).await;
    let admin_caller = stepwise_server::auth::Caller {
        key: "AKIDCLUSTER".into(),
        grant: stepwise_server::auth::Grant {
            role: stepwise_server::auth::Role::Admin,
            patterns: Vec::new(),
        },
        checked: true,
    };
    for _ in 0..count {
        let task = admin.poll("billing-q", 5).await.expect("a billing task");
        for refused in [&mut worker, &mut forged] {
            let mut request = tonic::Request::new(pb::SendTaskSuccessRequest {
                token: task.token.clone(),
                output: "{}".into(),
            });
            let metadata = request.metadata_mut();
            metadata.insert("stepwise-forwarded", "1".parse().unwrap());
            metadata.insert("stepwise-caller", admin_caller.to_header().parse().unwrap());
            let status = refused.tasks.send_task_success(request).await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
            assert!(
                status
                    .message()
                    .contains("may not work on queue 'billing-q'"),
                "{status:?}"
            );
        }
        admin.succeed(&task.token, json!({})).await.unwrap();
    }
    for arn in &runs {
        let done = admin.wait_done(arn, Duration::from_secs(30)).await;
        assert_eq!(done.status(), pb::ExecutionStatus::Succeeded, "{arn}");
    }
}

/// Nodes that serve TLS and require client certificates reach each other over TLS with
/// their own certificates: a worker on one node, itself presenting a certificate, runs
/// the tasks of executions on both nodes' partitions (polls and results forwarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_serving_tls_forward_to_each_other_over_it() {
    let dir = TempDir::new("cluster-tls");
    let _logs = LogsOnFailure(dir.path().to_path_buf());
    let url = support::database_of(dir.path());
    let ca = support::Ca::new("Stepwise cluster CA");
    let (cert, key) = ca.issue(&["127.0.0.1"], "node");
    let (worker_cert, worker_key) = ca.issue(&["worker"], "worker");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let (cert, key, ca_file) = (
        file("node.pem", &cert),
        file("node.key", &key),
        file("ca.pem", &ca.pem),
    );
    let tls = stepwise_proto::tls::ClientTls {
        ca_cert: Some(ca_file.clone()),
        client_cert: Some(file("worker.pem", &worker_cert)),
        client_key: Some(file("worker.key", &worker_key)),
    };
    let mut nodes = [Node::new("t1", &url), Node::new("t2", &url)];
    for node in nodes.iter_mut() {
        node.ca = Some(ca.pem.clone());
        for (flag, path) in [
            ("--tls-cert", &cert),
            ("--tls-key", &key),
            ("--tls-ca", &ca_file),
            ("--tls-client-ca", &ca_file),
        ] {
            node.extra.push(flag.into());
            node.extra.push(path.display().to_string());
        }
        node.start(dir.path()).await;
    }
    let limit = Duration::from_secs(4 * LEASE_SECONDS + 10);
    let held = balanced(&[&nodes[0], &nodes[1]], limit).await;
    let mut first = Clients::connect_with(nodes[0].endpoint(), None, &tls).await;
    first
        .tasks
        .create_activity(pb::CreateActivityRequest {
            name: "work".into(),
        })
        .await
        .unwrap();
    let machine = json!({"StartAt": "Work", "States": {"Work": {"Type": "Task",
        "Resource": ACTIVITY, "End": true}}});
    first.create("OverTls", &machine).await;
    let mut runs = Vec::new();
    for i in 0..10 {
        runs.push(
            first
                .start("OverTls", &format!("r{i}"), json!({"i": i}))
                .await,
        );
    }
    let partitions: u16 = PARTITIONS.parse().unwrap();
    let owners: HashSet<bool> = runs
        .iter()
        .map(|arn| held[0].contains_key(&stepwise_server::placement::partition_of(arn, partitions)))
        .collect();
    assert_eq!(owners.len(), 2, "runs on both nodes' partitions");
    let mut worker = Clients::connect_with(nodes[1].endpoint(), None, &tls).await;
    for _ in 0..runs.len() {
        let task = worker.poll("work", 5).await.expect("a task");
        worker
            .succeed(&task.token, json!({"done": true}))
            .await
            .unwrap();
    }
    for arn in &runs {
        let done = first.wait_done(arn, Duration::from_secs(30)).await;
        assert_eq!(done.status(), pb::ExecutionStatus::Succeeded, "{arn}");
    }
}
