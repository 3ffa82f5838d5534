//! Runs the reference JSONata test suite (jsonata-js's language-neutral cases) against
//! the evaluator Stepwise uses for JSONata states, and prints the pass count:
//!
//!     cargo run --release -p stepwise-server --example jsonata_suite -- DIR
//!
//! DIR holds `groups/<group>/caseNNN.json` and `datasets/`. A case passes when it gives
//! the expected result (numbers compared as numbers), `undefined` when one is expected,
//! or an error with the expected code. Cases Stepwise cannot run as AWS would are left
//! out, each listed with the reason. Exits non-zero below `--min-percent` (default 99)
//! of the cases not left out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde_json::{Map, Value};
use stepwise_server::asl::eval::Env;
use stepwise_server::asl::jsonata::{Limits, evaluate_document};
use stepwise_server::asl::random::SeededRandom;
use stepwise_server::runtime::watchdog::Watchdog;

/// Functions AWS Step Functions leaves out of its JSONata ("all built-in functions except
/// $eval"): a case calling one is left out.
const NOT_ON_AWS: [&str; 1] = ["$eval"];

struct Case {
    name: String,
    group: PathBuf,
    body: Value,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut min_percent = 99.0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--min-percent" => {
                min_percent = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--min-percent takes a number")
            }
            other => dir = Some(PathBuf::from(other)),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: jsonata_suite DIR [--min-percent N]");
        return ExitCode::from(2);
    };
    let (cases, mut left_out) = read_cases(&dir);
    let watchdog = Watchdog::start();
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut passed = 0usize;
    for case in &cases {
        if let Some(function) = NOT_ON_AWS
            .iter()
            .find(|f| expression(case).is_some_and(|e| e.contains(*f)))
        {
            left_out.push((
                case.name.clone(),
                format!("calls {function}, which AWS does not allow"),
            ));
            continue;
        }
        match run(case, &dir, &watchdog) {
            Ok(()) => passed += 1,
            Err(why) => failed.push((case.name.clone(), why)),
        }
    }
    let took = started.elapsed();
    let counted = passed + failed.len();
    let percent = 100.0 * passed as f64 / counted.max(1) as f64;
    println!(
        "JSONata reference suite: {passed} of {counted} cases passed ({percent:.2} %) in {took:.2?}; {} left out",
        left_out.len()
    );
    for (name, why) in &left_out {
        println!("  left out {name}: {why}");
    }
    for (name, why) in &failed {
        println!("  FAILED {name}: {why}");
    }
    if percent < min_percent {
        eprintln!("below the required {min_percent} %");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Every case (array files hold several), and the files that cannot be read.
fn read_cases(dir: &Path) -> (Vec<Case>, Vec<(String, String)>) {
    let mut files = Vec::new();
    for group in std::fs::read_dir(dir.join("groups")).expect("DIR/groups exists") {
        let group = group.expect("a readable directory").path();
        for file in std::fs::read_dir(&group).expect("a readable group") {
            let file = file.expect("a readable entry").path();
            if file.extension().is_some_and(|e| e == "json") {
                files.push(file);
            }
        }
    }
    files.sort();
    let mut cases = Vec::new();
    let mut left_out = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(dir.join("groups"))
            .unwrap_or(&file)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&file).expect("a readable case");
        let group = file.parent().expect("a case is in a group").to_path_buf();
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => {
                for (i, body) in items.into_iter().enumerate() {
                    cases.push(Case {
                        name: format!("{name}[{i}]"),
                        group: group.clone(),
                        body,
                    });
                }
            }
            Ok(body) => cases.push(Case { name, group, body }),
            // JSON text with a lone UTF-16 surrogate: valid for JavaScript, not for a
            // JSON reader that yields Unicode strings, and not for AWS's input either.
            Err(e) => left_out.push((
                name,
                format!("not readable as JSON with Unicode strings ({e})"),
            )),
        }
    }
    (cases, left_out)
}

fn expression(case: &Case) -> Option<String> {
    match case.body.get("expr-file").and_then(Value::as_str) {
        Some(file) => std::fs::read_to_string(case.group.join(file)).ok(),
        None => case
            .body
            .get("expr")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn run(case: &Case, dir: &Path, watchdog: &std::sync::Arc<Watchdog>) -> Result<(), String> {
    let body = &case.body;
    let text = expression(case).ok_or("no expression")?;
    let input = match (body.get("data"), body.get("dataset")) {
        (Some(data), _) => Some(data.clone()),
        (None, Some(Value::String(name))) => {
            let path = dir.join("datasets").join(format!("{name}.json"));
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(serde_json::from_str(&text).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let bindings = match body.get("bindings") {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let mut limits = Limits {
        watch: Some(watchdog.clone()),
        ..Limits::default()
    };
    if let Some(ms) = body.get("timelimit").and_then(Value::as_u64) {
        limits.time_ms = ms;
    }
    if let Some(depth) = body.get("depth").and_then(Value::as_u64) {
        limits.max_depth = depth as usize;
    }
    let context = Value::Null;
    let mut random = SeededRandom::new(7);
    let mut env = Env::new(&context, &mut random);
    env.jsonata = &limits;
    env.now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        evaluate_document(&text, input.as_ref(), &bindings, &mut env)
    }))
    .map_err(|_| "the evaluator panicked".to_string())?;
    let expected_code = body
        .get("code")
        .or_else(|| body.get("error").and_then(|e| e.get("code")))
        .and_then(Value::as_str);
    match (outcome, expected_code) {
        (Err(message), Some(code)) if message.contains(code) => Ok(()),
        (Err(message), _) => Err(format!("error {message}")),
        (Ok(got), Some(code)) => Err(format!("expected error {code}, got {got:?}")),
        (Ok(None), None) if body.get("undefinedResult").is_some() => Ok(()),
        (Ok(Some(got)), None) => match body.get("result") {
            Some(expected) if numbers_as_f64(&got) == numbers_as_f64(expected) => Ok(()),
            Some(expected) => Err(format!("expected {expected}, got {got}")),
            None => Err(format!("expected undefined, got {got}")),
        },
        (Ok(None), None) => Err("got undefined".into()),
    }
}

/// The value with every number as a float: `1` and `1.0` are one JSONata number.
fn numbers_as_f64(value: &Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Null, |f| serde_json::json!(f)),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_f64).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
