//! Golden histories: each file in `server/tests/golden/` holds a definition, an input, the
//! steps a worker and the clock take, and the history AWS's API shows for it (the shape
//! of GetExecutionHistory, with Stepwise's deterministic test clock and tokens). The
//! engine must produce exactly that history, so none of the recorded behaviours (event
//! sequences, causes, assigned variables) regresses.
//!
//! Steps: `succeed`/`fail` (a worker takes the oldest task of `queue` and reports),
//! `start` (a worker takes it and says nothing), `timer` (the clock moves to the earliest
//! timer), `stop`. `maxHistoryEvents` lowers the history limit.
//!
//! A new file is written without `history`; `STEPWISE_BLESS_GOLDEN=1 cargo test golden`
//! fills it in, to be read and checked against AWS's behaviour before it is committed.

use std::path::PathBuf;

use serde_json::Value;

use super::tests::World;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Runs a golden file's steps and returns the history as AWS shows it.
fn run(case: &Value) -> Vec<Value> {
    let limit = case["maxHistoryEvents"].as_u64().unwrap_or(25_000);
    let mut world = World::start_limited(case["definition"].clone(), case["input"].clone(), limit);
    for step in case["steps"].as_array().into_iter().flatten() {
        if let Some(s) = step.get("succeed") {
            world.succeed(s["queue"].as_str().unwrap(), s["output"].clone());
        } else if let Some(f) = step.get("fail") {
            world.fail(
                f["queue"].as_str().unwrap(),
                f["error"].as_str().unwrap(),
                f["cause"].as_str().unwrap(),
            );
        } else if let Some(t) = step.get("start") {
            world.take(t["queue"].as_str().unwrap());
        } else if step.get("timer").is_some() {
            world.fire_next_timer();
        } else if step.get("stop").is_some() {
            world.stop();
        } else {
            panic!("unknown step {step}");
        }
    }
    crate::aws::history::events_json(&world.history, &world.history, true)
}

#[test]
fn every_golden_history_is_reproduced_exactly() {
    let bless = std::env::var("STEPWISE_BLESS_GOLDEN").is_ok_and(|v| v == "1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("server/tests/golden exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 18, "the golden histories are there");
    let mut mismatches = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut case: Value = serde_json::from_str(&text).unwrap();
        let produced = Value::Array(run(&case));
        match case.get("history") {
            Some(expected) if *expected == produced => {}
            _ if bless => {
                case["history"] = produced;
                let text = serde_json::to_string_pretty(&case).unwrap() + "\n";
                std::fs::write(&path, text).unwrap();
            }
            Some(expected) => mismatches.push(format!(
                "{}: expected\n{}\nproduced\n{}",
                path.display(),
                serde_json::to_string_pretty(expected).unwrap(),
                serde_json::to_string_pretty(&produced).unwrap()
            )),
            None => mismatches.push(format!("{}: no history recorded", path.display())),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
