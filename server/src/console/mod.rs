//! The web console on the HTTP listener: a page at `/` (HTML, JavaScript and CSS embedded
//! in the binary, nothing fetched from elsewhere) and the few JSON calls it needs beyond
//! the AWS API, which it uses for everything AWS has (create, start, stop, list).
//!
//! - `GET /console/api/machines`: every state machine with its executions by status.
//! - `GET /console/api/machines/{name}`: one, with its definition, graph and usage.
//! - `POST /console/api/validate`: diagnostics for a definition, with line and column.
//! - `GET /console/api/executions/{arn}/graph`: the graph of the revision it runs.
//! - `GET /console/api/executions/{arn}/live`: server-sent events: the execution, its
//!   state board and its events, then what changes as events commit, until it ends.
//! - `GET /console/api/express`: Express executions in memory.
//! - `GET /console/api/cluster`: the nodes sharing the database, their partitions, lease
//!   ages and running executions (`{"clustered": false}` on the embedded store).
//! - `/console/api/session`: signing in with a key once the server requires keys
//!   (`session`); every call above then shows and does only what the key may.
//!
//! Graphs are laid out and drawn here (`graph`), so the page needs no layout library;
//! every user-supplied string in them is escaped. Errors use the AWS API's JSON shape.

pub mod graph;
pub mod lines;
pub mod live;
pub mod session;
pub mod status;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Extension, FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::asl::validate::{self, Code, Severity};
use crate::auth::{Action, Caller};
use crate::aws::{AwsError, summary_json};
use crate::engine::Status;
use crate::runtime::Runtime;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const ICON_SVG: &str = include_str!("assets/icon.svg");

/// Scripts, styles and connections only from this server: a value that escaped escaping
/// still could not load or run anything.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's address as a person opens it: a listener on every interface
/// (`0.0.0.0`, `::`) is reached on this machine through loopback.
pub fn url(http_addr: std::net::SocketAddr, tls: bool) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let shown = match http_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), http_addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), http_addr.port())
        }
        _ => http_addr,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{shown}/")
}

/// What the console's handlers share: the runtime, and the live views of executions
/// that pages watch.
#[derive(Clone)]
struct Console {
    runtime: Runtime,
    live: Arc<live::LiveViews>,
    /// Whether the listener serves TLS (the cookie is then `Secure`).
    tls: bool,
}

impl FromRef<Console> for Runtime {
    fn from_ref(console: &Console) -> Runtime {
        console.runtime.clone()
    }
}

/// The console's routes (`tls`: whether the HTTP listener serves TLS).
pub fn router(runtime: Runtime, tls: bool) -> Router {
    // Every data call needs the signed-in key (once keys are required); the page, its
    // assets and the session calls, which are how one signs in, do not.
    let data = Router::new()
        .route("/console/api/machines", get(machines))
        .route("/console/api/machines/{name}", get(machine))
        .route(
            "/console/api/validate",
            post(validate_definition).layer(DefaultBodyLimit::disable()),
        )
        .route("/console/api/executions/{arn}/graph", get(execution_graph))
        .route("/console/api/executions/{arn}/live", get(live))
        .route("/console/api/express", get(express))
        .route("/console/api/cluster", get(cluster))
        .route_layer(axum::middleware::from_fn_with_state(
            runtime.clone(),
            session::authenticate,
        ));
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/icon.svg",
            get(|| async { asset(ICON_SVG, "image/svg+xml") }),
        )
        // Browsers and bookmarking tools ask for this path whatever the page links.
        .route(
            "/favicon.ico",
            get(|| async { asset(ICON_SVG, "image/svg+xml") }),
        )
        .route(
            "/console/api/session",
            get(session::show)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .merge(data)
        .with_state(Console {
            runtime,
            live: Arc::default(),
            tls,
        })
}

async fn cluster(
    State(runtime): State<Runtime>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, AwsError> {
    caller.allow("ConsoleCluster", Action::Cluster)?;
    Ok(match runtime.cluster_overview().await {
        None => json_response(json!({"clustered": false})),
        Some(overview) => {
            let mut body = serde_json::to_value(overview).unwrap_or_default();
            body["clustered"] = json!(true);
            json_response(body)
        }
    })
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn json_response(value: Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        value.to_string(),
    )
        .into_response()
}

fn svg_response(svg: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response()
}

async fn machines(
    State(runtime): State<Runtime>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, AwsError> {
    caller.allow("ListStateMachines", Action::ReadListing)?;
    let mut records = runtime.list_machines().await?;
    records.retain(|record| caller.may_see(&record.name));
    let counts = runtime.execution_counts().await?;
    let items: Vec<Value> = records
        .iter()
        .map(|record| {
            let of = counts.get(&record.name);
            let by_status: serde_json::Map<String, Value> = Status::ALL
                .iter()
                .map(|s| {
                    let n = of.and_then(|c| c.get(s)).copied().unwrap_or_default();
                    (s.as_str().to_string(), json!(n))
                })
                .collect();
            json!({
                "name": record.name,
                "arn": record.arn,
                "type": record.machine_type.as_str(),
                "createdMs": record.created_ms,
                "updatedMs": record.updated_ms,
                "revision": record.revision,
                "executions": by_status,
            })
        })
        .collect();
    Ok(json_response(json!({ "stateMachines": items })))
}

async fn machine(
    State(runtime): State<Runtime>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, AwsError> {
    let name = runtime.arns().machine_name(&name)?;
    caller.allow("DescribeStateMachine", Action::ReadMachine(&name))?;
    let view = runtime.describe_machine(&name).await?;
    let graph = runtime
        .revision_definition(&view.record.name, view.record.revision)
        .map(|machine| graph::render(machine.definition()))
        .unwrap_or_default();
    let (usage, cost) = runtime
        .usage(Some(&view.record.name), 0, i64::MAX / 2)
        .await?;
    Ok(json_response(json!({
        "name": view.record.name,
        "arn": view.record.arn,
        "type": view.record.machine_type.as_str(),
        "createdMs": view.record.created_ms,
        "updatedMs": view.record.updated_ms,
        "revision": view.record.revision,
        "definition": view.definition,
        "graph": graph,
        "usage": {
            "standardExecutions": usage.standard_executions,
            "standardTransitions": usage.standard_transitions,
            "expressRequests": usage.express_requests,
            "expressBilledDurationMs": usage.express_billed_duration_ms,
            "expressGbSeconds": usage.express_gb_seconds,
            "estimatedCost": cost.total(),
        },
    })))
}

/// Refuses a request that another site's page could have sent. A browser sends a
/// "simple" cross-site POST (plain text, no custom header) without asking first, so the
/// console's own POSTs must carry `Content-Type: application/json`, which makes the
/// browser ask (a CORS preflight this server never grants); and an `Origin`, when the
/// browser sends one, must be this server's own.
fn same_origin_json(headers: &HeaderMap) -> Result<(), AwsError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(AwsError::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ValidationException",
            "the console's calls take Content-Type: application/json",
        ));
    }
    session::same_origin(headers)
}

/// Diagnostics for the definition in the body, each with the line and column of the
/// field it names (or of the JSON syntax error).
async fn validate_definition(
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AwsError> {
    same_origin_json(&headers)?;
    caller.allow("ValidateStateMachineDefinition", Action::ReadListing)?;
    let body = crate::aws::body::read(&headers, body).await?;
    let text = String::from_utf8_lossy(&body);
    let diagnostics: Vec<Value> = validate::validate(&text)
        .iter()
        .map(|d| {
            // A syntax error names no field; the parser says where it stopped.
            let position = syntax_error_position(&text)
                .filter(|_| d.code == Code::InvalidJsonDescription)
                .or_else(|| lines::position_of(&text, &d.location));
            json!({
                "severity": if d.severity == Severity::Error { "ERROR" } else { "WARNING" },
                "code": d.code.as_str(),
                "location": d.location,
                "message": d.message,
                "line": position.map(|p| p.0),
                "column": position.map(|p| p.1),
            })
        })
        .collect();
    Ok(json_response(json!({ "diagnostics": diagnostics })))
}

/// Where the JSON parser stopped, for text that does not parse.
fn syntax_error_position(text: &str) -> Option<(usize, usize)> {
    let error = serde_json::from_str::<Value>(text).err()?;
    (error.line() > 0).then(|| (error.line(), error.column().max(1)))
}

async fn execution_graph(
    State(runtime): State<Runtime>,
    Extension(caller): Extension<Caller>,
    Path(arn): Path<String>,
) -> Result<Response, AwsError> {
    let machine = runtime.arns().execution_machine(&arn)?;
    caller.allow("DescribeExecution", Action::ReadMachine(&machine))?;
    let machine = runtime.execution_definition(&arn).await?;
    Ok(svg_response(graph::render(machine.definition())))
}

async fn express(
    State(runtime): State<Runtime>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, AwsError> {
    caller.allow("ListExecutions", Action::ReadListing)?;
    let items: Vec<Value> = runtime
        .recent_express()
        .iter()
        .filter(|record| caller.may_see(&record.machine_name))
        .map(|record| {
            let mut summary = summary_json(record);
            summary["stateMachineName"] = json!(record.machine_name);
            summary
        })
        .collect();
    Ok(json_response(json!({ "executions": items })))
}

/// The live execution page's feed: a `snapshot` event, then an `update` per committed
/// batch, each with the execution's summary, the states that changed and the new rows
/// of the event table; the stream ends after the terminal event.
async fn live(
    State(console): State<Console>,
    Extension(caller): Extension<Caller>,
    Path(arn): Path<String>,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>>>, AwsError> {
    let machine = console.runtime.arns().execution_machine(&arn)?;
    caller.allow("GetExecutionHistory", Action::ReadMachine(&machine))?;
    let receiver = console.live.watch(&console.runtime, &arn).await?;
    Ok(
        Sse::new(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .keep_alive(KeepAlive::default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_url_is_one_a_browser_on_this_machine_opens() {
        assert_eq!(
            url("127.0.0.1:7838".parse().unwrap(), false),
            "http://127.0.0.1:7838/"
        );
        assert_eq!(
            url("0.0.0.0:80".parse().unwrap(), false),
            "http://127.0.0.1:80/"
        );
        assert_eq!(
            url("[::]:7838".parse().unwrap(), false),
            "http://[::1]:7838/"
        );
        assert_eq!(
            url("[fe80::1]:9".parse().unwrap(), false),
            "http://[fe80::1]:9/"
        );
        assert_eq!(
            url("0.0.0.0:443".parse().unwrap(), true),
            "https://127.0.0.1:443/"
        );
    }
}
