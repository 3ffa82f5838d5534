//! The web console's own HTTP calls against a real in-process server: the page and its
//! assets with their security headers, the JSON reads, validation with line numbers,
//! errors in the AWS API's shape, and the live feed of an execution (server-sent events).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use support::{TempDir, fixture, http_request, lambda, start};

/// One HTTP/1.1 request; the status, lower-cased head and body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String, String) {
    http_request(addr, method, path, "", body).await
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, head, body) = http(addr, "GET", path, "").await;
    assert!(head.contains("content-type: application/"), "{head}");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn encoded(arn: &str) -> String {
    support::percent_encoded(arn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_assets_are_served_with_a_strict_policy() {
    let dir = TempDir::new("console-assets");
    let (server, _clients) = start(dir.path()).await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/icon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/svg+xml"),
    ] {
        let (status, head, body) = http(server.http_addr, "GET", path, "").await;
        assert_eq!(status, 200, "{path}");
        assert!(head.contains(&format!("content-type: {kind}")), "{head}");
        assert!(
            head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
            "{head}"
        );
        assert!(head.contains("x-content-type-options: nosniff"));
        // The SVG namespace is a name, not an address anything is fetched from.
        let body = body.replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} fetches nothing from elsewhere"
        );
    }
    let (_, _, page) = http(server.http_addr, "GET", "/", "").await;
    assert!(page.contains(r#"<script src="/assets/app.js" defer></script>"#));
    assert!(page.contains(r#"<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_list_counts_and_a_machine_carries_its_graph_and_usage() {
    let dir = TempDir::new("console-machines");
    let (server, mut clients) = start(dir.path()).await;
    let addr = server.http_addr;
    clients
        .create("Choice", &fixture("choice-state.asl.json"))
        .await;
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    clients.create("Quick", &pass).await;
    for i in 0..3 {
        let arn = clients.start("Quick", &format!("q{i}"), json!({})).await;
        clients.wait_done(&arn, Duration::from_secs(10)).await;
    }
    clients.start("Choice", "waiting", json!({})).await;

    let (status, listing) = get_json(addr, "/console/api/machines").await;
    assert_eq!(status, 200);
    let machines = listing["stateMachines"].as_array().unwrap();
    let quick = machines.iter().find(|m| m["name"] == "Quick").unwrap();
    assert_eq!(quick["type"], "STANDARD");
    assert_eq!(quick["executions"]["SUCCEEDED"], 3);
    assert_eq!(quick["executions"]["RUNNING"], 0);
    let choice = machines.iter().find(|m| m["name"] == "Choice").unwrap();
    assert_eq!(choice["executions"]["RUNNING"], 1);

    let (status, quick) = get_json(addr, "/console/api/machines/Quick").await;
    assert_eq!(status, 200);
    assert!(quick["graph"].as_str().unwrap().starts_with("<svg"));
    assert!(
        quick["graph"]
            .as_str()
            .unwrap()
            .contains(r#"data-state="P""#)
    );
    assert_eq!(quick["usage"]["standardTransitions"], 3);
    assert_eq!(quick["usage"]["standardExecutions"], 3);
    assert!(quick["usage"]["estimatedCost"].as_f64().unwrap() > 0.0);

    let (status, missing) = get_json(addr, "/console/api/machines/Nope").await;
    assert_eq!(status, 400);
    assert_eq!(missing["__type"], "StateMachineDoesNotExist");
    assert!(missing["message"].as_str().unwrap().contains("'Nope'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_reports_each_problem_at_its_line_and_column() {
    let dir = TempDir::new("console-validate");
    let (server, _clients) = start(dir.path()).await;
    let text = "{\n  \"StartAt\": \"A\",\n  \"States\": {\n    \"A\": {\"Type\": \"Pass\", \"Next\": \"B\"}\n  }\n}";
    let (status, _, body) = validate(server.http_addr, text).await;
    assert_eq!(status, 200);
    let result: Value = serde_json::from_str(&body).unwrap();
    let errors: Vec<&Value> = result["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "{result}");
    assert_eq!(errors[0]["location"], "/States/A/Next");
    assert_eq!(
        (errors[0]["line"].clone(), errors[0]["column"].clone()),
        (json!(4), json!(27))
    );
    assert!(errors[0]["message"].as_str().unwrap().contains("'B'"));

    let broken = "{\n  \"StartAt\": \"A\",\n  \"States\": {\n";
    let (_, _, body) = validate(server.http_addr, broken).await;
    let result: Value = serde_json::from_str(&body).unwrap();
    let first = &result["diagnostics"][0];
    assert_eq!(first["code"], "INVALID_JSON_DESCRIPTION");
    assert_eq!(first["line"], 4, "{result}");

    let (_, _, body) = validate(server.http_addr, "").await;
    let result: Value = serde_json::from_str(&body).unwrap();
    assert!(!result["diagnostics"].as_array().unwrap().is_empty());

    // What another site's page can send without asking first is refused: a plain-text
    // POST, or JSON from a page of another origin.
    let addr = server.http_addr;
    let (status, _, body) = http(addr, "POST", "/console/api/validate", text).await;
    assert_eq!(status, 415, "{body}");
    let (status, _, body) = http_request(
        addr,
        "POST",
        "/console/api/validate",
        "content-type: text/plain\r\norigin: https://evil.example\r\n",
        text,
    )
    .await;
    assert_eq!(status, 415, "{body}");
    let (status, _, body) = http_request(
        addr,
        "POST",
        "/console/api/validate",
        "content-type: application/json\r\norigin: https://evil.example\r\n",
        text,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");
    // The console's own page (the same origin as the Host it asks) is served.
    let (status, _, _) = http_request(
        addr,
        "POST",
        "/console/api/validate",
        "content-type: application/json\r\norigin: http://127.0.0.1\r\n",
        text,
    )
    .await;
    assert_eq!(status, 200);
    // An oversized body gets an AWS-shaped 413.
    let huge = "x".repeat(5 * 1024 * 1024);
    let (status, _, body) = validate(addr, &huge).await;
    assert_eq!(status, 413);
    assert!(
        body.contains("ValidationException") && body.contains("at most"),
        "{body}"
    );
}

/// The console's validation call as the page makes it.
async fn validate(addr: SocketAddr, text: &str) -> (u16, String, String) {
    http_request(
        addr,
        "POST",
        "/console/api/validate",
        "content-type: application/json\r\n",
        text,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_streams_states_and_events_until_the_execution_ends() {
    let dir = TempDir::new("console-live");
    let (server, mut clients) = start(dir.path()).await;
    let addr = server.http_addr;
    let definition = json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": lambda("work"), "Next": "Done"},
        "Done": {"Type": "Succeed"}
    }});
    clients.create("Live", &definition).await;
    let arn = clients.start("Live", "one", json!({"k": "<b>v</b>"})).await;

    // The graph of the revision the execution runs.
    let (status, head, svg) = http(
        addr,
        "GET",
        &format!("/console/api/executions/{}/graph", encoded(&arn)),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: image/svg+xml"));
    assert!(svg.contains(r#"data-state="Work""#) && svg.contains(r#"data-state="Done""#));

    // The feed: read it while a worker completes the task; it ends by itself.
    let path = format!("/console/api/executions/{}/live", encoded(&arn));
    let feed = tokio::spawn(async move { http(addr, "GET", &path, "").await });
    let task = clients.poll("work", 10).await.expect("the task is offered");
    clients
        .succeed(&task.token, json!({"done": true}))
        .await
        .unwrap();
    let (status, head, body) = tokio::time::timeout(Duration::from_secs(20), feed)
        .await
        .expect("the feed ends after the execution")
        .unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let messages: Vec<(String, Value)> = body
        .split("\n\n")
        .filter_map(|chunk| {
            let kind = chunk.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data: String = chunk
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            Some((kind.to_string(), serde_json::from_str(&data).ok()?))
        })
        .collect();
    assert_eq!(messages.first().unwrap().0, "snapshot", "{body}");
    assert_eq!(messages.last().unwrap().0, "end");
    let mut states = serde_json::Map::new();
    let mut ids = Vec::new();
    for (_, message) in &messages {
        if let Some(changed) = message["states"].as_object() {
            states.extend(changed.clone());
        }
        for row in message["events"].as_array().into_iter().flatten() {
            ids.push(row["id"].as_u64().unwrap());
        }
    }
    let expected: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, expected, "every event once, in order");
    assert_eq!(states["Work"]["status"], "succeeded");
    assert_eq!(states["Work"]["input"], json!({"k": "<b>v</b>"}));
    assert_eq!(states["Work"]["output"], json!({"done": true}));
    assert_eq!(states["Done"]["status"], "succeeded");
    let last = &messages[messages.len() - 2].1;
    assert_eq!(last["execution"]["status"], "SUCCEEDED");
    let rows = messages[0].1["events"].as_array().unwrap();
    assert_eq!(rows[0]["type"], "ExecutionStarted");
    assert_eq!(rows[1]["state"], "Work");

    let (status, missing) = get_json(addr, "/console/api/executions/arn%3Aaws%3Astates%3Aus-east-1%3A000000000000%3Aexecution%3ALive%3Anope/live").await;
    assert_eq!(status, 400);
    assert_eq!(missing["__type"], "ExecutionDoesNotExist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_express_executions_are_listed_from_memory() {
    let dir = TempDir::new("console-express");
    let (server, _clients) = start(dir.path()).await;
    let addr = server.http_addr;
    let aws = |action: &'static str, body: Value| async move {
        let target = format!(
            "content-type: application/x-amz-json-1.0\r\nx-amz-target: AWSStepFunctions.{action}\r\n"
        );
        let (status, _, answer) = http_request(addr, "POST", "/", &target, &body.to_string()).await;
        assert_eq!(status, 200, "{action}: {answer}");
    };
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    aws("CreateStateMachine", json!({"name": "Fast", "type": "EXPRESS", "definition": pass.to_string(), "roleArn": "arn:aws:iam::000000000000:role/r"})).await;
    let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:Fast";
    aws(
        "StartSyncExecution",
        json!({"stateMachineArn": machine, "name": "sync-1"}),
    )
    .await;
    let (status, listing) = get_json(addr, "/console/api/express").await;
    assert_eq!(status, 200);
    let executions = listing["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 1, "{listing}");
    assert_eq!(executions[0]["name"], "sync-1");
    assert_eq!(executions[0]["status"], "SUCCEEDED");
    assert_eq!(executions[0]["stateMachineName"], "Fast");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_view_says_who_serves_what() {
    let dir = TempDir::new("console-cluster");
    let (server, _clients) = start(dir.path()).await;
    let (status, cluster) = get_json(server.http_addr, "/console/api/cluster").await;
    assert_eq!(status, 200);
    if support::on_postgres() {
        // A node alone on its database: a cluster of one, serving every partition.
        assert_eq!(cluster["clustered"], true, "{cluster}");
        assert_eq!(cluster["node"], support::SUITE_NODE);
        assert_eq!(cluster["partitionCount"], 64);
        assert_eq!(cluster["unowned"], json!([]));
        let nodes = cluster["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "{cluster}");
        assert_eq!(nodes[0]["live"], true);
        assert_eq!(nodes[0]["partitions"].as_array().unwrap().len(), 64);
        assert_eq!(nodes[0]["runningExecutions"], 0);
    } else {
        assert_eq!(cluster, json!({"clustered": false}));
    }
}

/// With keys required the console signs in once: the key is checked and kept in an
/// HttpOnly, SameSite=Strict cookie; the console's calls and its AWS API calls then show
/// and do only what that key may; the AWS API takes the cookie only with the console's
/// header and from the console's origin; signing out forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_with_a_key_kept_in_a_strict_cookie() {
    let dir = TempDir::new("console-keys");
    let credentials = support::admin_credentials(dir.path(), "AKIDCONSOLE", "console-secret");
    let mut config = support::config(dir.path().join("data"));
    config.admin_credentials = Some(credentials);
    let server = stepwise_server::start(config).await.unwrap();
    let addr = server.http_addr;
    let mut admin = support::Clients::connect_with_key(
        format!("http://{}", server.grpc_addr),
        Some("AKIDCONSOLE:console-secret"),
    )
    .await;
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    admin.create("tests-unit", &pass).await;
    admin.create("billing", &pass).await;
    let created = admin
        .keys
        .create_key(stepwise_proto::v1::CreateKeyRequest {
            role: "reader".into(),
            patterns: vec!["tests-*".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let reader = format!("{}:{}", created.key.unwrap().key_id, created.secret);

    let (status, _, body) = http(addr, "GET", "/console/api/machines", "").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    for page in ["/", "/assets/app.js", "/assets/app.css"] {
        let (status, head, _) = http(addr, "GET", page, "").await;
        assert_eq!(status, 200, "{page} is served to sign in from");
        assert!(head.contains("content-security-policy"), "{page}: {head}");
    }
    let (status, session) = get_json(addr, "/console/api/session").await;
    assert_eq!(status, 200);
    assert_eq!(session, json!({"required": true, "signedIn": null}));

    let sign_in = |key: &str, extra: &str| {
        let body = json!({ "key": key }).to_string();
        let headers = format!("content-type: application/json\r\n{extra}");
        async move { http_request(addr, "POST", "/console/api/session", &headers, &body).await }
    };
    let (status, _, body) = sign_in("AKIDCONSOLE:wrong", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("InvalidSignatureException"), "{body}");
    let (status, _, body) = sign_in(&reader, "origin: http://evil.example\r\n").await;
    assert_eq!(status, 403, "{body}");
    let set_cookie = signed_in_cookie(addr, &reader).await;
    let lower = set_cookie.to_ascii_lowercase();
    assert!(
        lower.contains("httponly") && lower.contains("samesite=strict") && lower.contains("path=/"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains(&reader),
        "the key is not in clear text"
    );
    let cookie = format!("cookie: {}\r\n", set_cookie.split(';').next().unwrap());

    let (status, _, body) = http_request(addr, "GET", "/console/api/machines", &cookie, "").await;
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = listed["stateMachines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tests-unit"]);
    let (status, _, body) =
        http_request(addr, "GET", "/console/api/machines/billing", &cookie, "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");

    // The AWS API, as the page calls it.
    let aws = |action: &str, body: Value, extra: String| {
        let headers = format!(
            "content-type: application/x-amz-json-1.0\r\nx-amz-target: AWSStepFunctions.{action}\r\n{extra}"
        );
        let body = body.to_string();
        async move { http_request(addr, "POST", "/", &headers, &body).await }
    };
    let console = format!("{cookie}x-stepwise-console: 1\r\n");
    let (status, _, body) = aws("ListStateMachines", json!({}), console.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("tests-unit") && !body.contains("billing"),
        "{body}"
    );
    let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:tests-unit";
    let (status, _, body) = aws(
        "StartExecution",
        json!({"stateMachineArn": machine}),
        console.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("AccessDeniedException"),
        "a reader starts nothing: {body}"
    );
    let (status, _, body) = aws("ListStateMachines", json!({}), cookie.clone()).await;
    assert_eq!(status, 403, "without the console's header: {body}");
    let (status, _, body) = aws(
        "ListStateMachines",
        json!({}),
        format!("{console}origin: http://evil.example\r\n"),
    )
    .await;
    assert_eq!(status, 403, "from another site: {body}");
    assert!(body.contains("AccessDeniedException"), "{body}");
    assert!(
        admin.list_all("tests-unit").await.is_empty(),
        "nothing started"
    );

    let (status, head, _) = http_request(addr, "DELETE", "/console/api/session", &cookie, "").await;
    assert_eq!(status, 204);
    assert!(head.contains("max-age=0"), "{head}");
    server.shutdown().await.unwrap();
}

/// The Set-Cookie value of a successful sign-in with `key`, its case kept (the shared
/// helper lower-cases the head).
async fn signed_in_cookie(addr: SocketAddr, key: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = json!({ "key": key }).to_string();
    let request = format!(
        "POST /console/api/session HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(": ")?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.to_string())
        })
        .expect("a cookie")
}
