//! The live feed of an execution for the console's pages, shared by every page that
//! watches it. One task per watched execution follows its history and shapes each event
//! once (its row in the event table, in AWS's shape, and the state board); every page
//! gets the rows so far, in messages of at most [`MESSAGE_BYTES`], then each update.
//!
//! Memory: one copy of the shaped rows per execution being watched (ten pages of one
//! large execution held ten copies of its history, 48 MiB each), freed when the last
//! page leaves; each page's queue holds at most [`PAGE_QUEUE`] messages, and a page that
//! falls [`UPDATES_KEPT`] updates behind starts again from a snapshot.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};

use axum::response::sse::Event as SseEvent;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use super::status::StatusBoard;
use crate::aws::{AwsError, TaskResources, summary_json};
use crate::engine::Event;
use crate::runtime::{HistoryFeed, Runtime};

/// Rows per message are cut at about this many bytes of JSON (at least one row).
pub const MESSAGE_BYTES: usize = 256 * 1024;
/// Messages waiting to be sent to one page.
pub const PAGE_QUEUE: usize = 4;
/// Updates kept for pages that are behind.
pub const UPDATES_KEPT: usize = 64;

/// The executions being watched, each shared by its pages.
#[derive(Default)]
pub struct LiveViews {
    views: tokio::sync::Mutex<HashMap<String, Weak<View>>>,
}

/// One watched execution.
struct View {
    shaped: Mutex<Shaped>,
    updates: broadcast::Sender<Update>,
    /// Dropped with the view, which ends the task following the history.
    _following: tokio::sync::oneshot::Sender<()>,
}

impl Drop for View {
    fn drop(&mut self) {
        let bytes: usize = self
            .shaped
            .get_mut()
            .map_or(0, |shaped| shaped.rows.iter().map(|r| r.len()).sum());
        if bytes > RETURN_MEMORY_BYTES {
            // The rows are many small allocations, which glibc keeps in its heap after
            // they are freed (a server that had served ten pages of a large execution
            // stayed 2 GiB larger): hand the free pages back once the last page leaves.
            self.shaped = Mutex::default();
            crate::memory::return_free_pages_soon();
        }
    }
}

/// A view whose rows held more than this gives the memory back to the OS when it goes.
const RETURN_MEMORY_BYTES: usize = 1024 * 1024;

/// What the pages are told beyond the snapshot.
#[derive(Clone)]
enum Update {
    /// An `update` message's JSON.
    Message(Arc<str>),
    /// The execution ended: the page closes its feed.
    End,
}

/// The execution as shaped so far.
#[derive(Default)]
struct Shaped {
    board: StatusBoard,
    resources: TaskResources,
    start_ms: Option<i64>,
    /// Each event's row in the table, as JSON.
    rows: Vec<Arc<str>>,
    /// The execution's summary, as JSON (`null` until known).
    execution: Arc<str>,
    ended: bool,
}

impl Shaped {
    /// Folds in a batch of events; returns the new rows and the states they changed.
    fn add(&mut self, events: &[Event]) -> (Vec<Arc<str>>, Vec<String>) {
        let start_ms = *self
            .start_ms
            .get_or_insert_with(|| events.first().map_or(0, |e| e.timestamp_ms));
        let mut rows = Vec::with_capacity(events.len());
        let mut changed = Vec::new();
        for event in events {
            self.resources.observe(event);
            let state = self.board.state_of(event);
            changed.extend(self.board.apply(event));
            let row = serde_json::json!({
                "id": event.id,
                "type": event.kind.type_name(),
                "state": state,
                "timestampMs": event.timestamp_ms,
                "elapsedMs": event.timestamp_ms - start_ms,
                "details": self.resources.shape(event, true),
            });
            rows.push(Arc::<str>::from(row.to_string()));
        }
        self.rows.extend(rows.iter().cloned());
        changed.sort();
        changed.dedup();
        (rows, changed)
    }

    /// The states named, as a JSON object.
    fn states_json(&self, names: &[String]) -> String {
        let states: serde_json::Map<String, Value> = names
            .iter()
            .filter_map(|name| {
                let state = self.board.states().get(name)?;
                Some((name.clone(), serde_json::to_value(state).ok()?))
            })
            .collect();
        Value::Object(states).to_string()
    }

    /// What a page that just arrived is sent: a `snapshot` with every state and the first
    /// rows, then `update`s with the rest of the rows.
    fn snapshot(&self) -> Vec<(&'static str, String)> {
        let names: Vec<String> = self.board.states().keys().cloned().collect();
        let mut messages = Vec::new();
        let mut pages = pages(&self.rows).into_iter();
        let first = pages.next().unwrap_or_default();
        messages.push((
            "snapshot",
            message(&self.execution, &self.states_json(&names), first),
        ));
        for page in pages {
            messages.push(("update", message(&self.execution, "{}", page)));
        }
        messages
    }
}

/// `{"execution": ..., "states": ..., "events": [...]}` from JSON pieces.
fn message(execution: &str, states: &str, rows: &[Arc<str>]) -> String {
    let size: usize = rows.iter().map(|r| r.len() + 1).sum();
    let mut out = String::with_capacity(size + execution.len() + states.len() + 40);
    out.push_str(r#"{"execution":"#);
    out.push_str(execution);
    out.push_str(r#","states":"#);
    out.push_str(states);
    out.push_str(r#","events":["#);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(row);
    }
    out.push_str("]}");
    out
}

/// Rows cut into runs of at most [`MESSAGE_BYTES`] (at least one row each).
fn pages(rows: &[Arc<str>]) -> Vec<&[Arc<str>]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, row) in rows.iter().enumerate() {
        if i > start && bytes + row.len() > MESSAGE_BYTES {
            out.push(&rows[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += row.len() + 1;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

impl LiveViews {
    /// The feed for one page: server-sent events until the execution ends or the page
    /// leaves.
    pub(crate) async fn watch(
        &self,
        runtime: &Runtime,
        arn: &str,
    ) -> Result<mpsc::Receiver<Result<SseEvent, Infallible>>, AwsError> {
        let view = self.view(runtime, arn).await?;
        let (sender, receiver) = mpsc::channel(PAGE_QUEUE);
        tokio::spawn(async move {
            'snapshot: loop {
                let (snapshot, ended, mut updates) = {
                    let shaped = view.shaped.lock().expect("live view lock");
                    // Subscribed under the lock: no update is missed or sent twice.
                    (shaped.snapshot(), shaped.ended, view.updates.subscribe())
                };
                for (kind, data) in snapshot {
                    if sender.send(Ok(sse(kind, data))).await.is_err() {
                        return;
                    }
                }
                if ended {
                    let _ = sender.send(Ok(sse("end", "{}".into()))).await;
                    return;
                }
                loop {
                    let update = tokio::select! {
                        update = updates.recv() => update,
                        _ = sender.closed() => return,
                    };
                    let end = event_is_end(&update);
                    let event = match update {
                        Ok(Update::Message(data)) => sse("update", data.to_string()),
                        Ok(Update::End) | Err(broadcast::error::RecvError::Closed) => {
                            sse("end", "{}".into())
                        }
                        // Fell behind: start again from the rows as they are now.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue 'snapshot,
                    };
                    if sender.send(Ok(event)).await.is_err() || end {
                        return;
                    }
                }
            }
        });
        Ok(receiver)
    }

    /// The shared view of `arn`, made (with the history so far) if no page has it.
    async fn view(&self, runtime: &Runtime, arn: &str) -> Result<Arc<View>, AwsError> {
        let mut views = self.views.lock().await;
        views.retain(|_, view| view.strong_count() > 0);
        if let Some(view) = views.get(arn).and_then(Weak::upgrade) {
            return Ok(view);
        }
        let mut feed = runtime.follow(arn).await?;
        let mut shaped = Shaped {
            execution: summary(runtime, arn).await,
            ..Shaped::default()
        };
        match feed.next().await {
            Some(history) => {
                shaped.add(&history);
                shaped.ended = history.last().is_some_and(|e| e.kind.is_terminal());
            }
            None => shaped.ended = true,
        }
        let (updates, _) = broadcast::channel(UPDATES_KEPT);
        let (following, stop) = tokio::sync::oneshot::channel();
        let ended = shaped.ended;
        let view = Arc::new(View {
            shaped: Mutex::new(shaped),
            updates,
            _following: following,
        });
        if !ended {
            tokio::spawn(follow(
                Arc::downgrade(&view),
                feed,
                stop,
                runtime.clone(),
                arn.to_string(),
            ));
        }
        views.insert(arn.to_string(), Arc::downgrade(&view));
        Ok(view)
    }
}

fn event_is_end(update: &Result<Update, broadcast::error::RecvError>) -> bool {
    matches!(
        update,
        Ok(Update::End) | Err(broadcast::error::RecvError::Closed)
    )
}

fn sse(kind: &'static str, data: String) -> SseEvent {
    SseEvent::default().event(kind).data(data)
}

/// The execution's summary as JSON, `null` if it cannot be read.
async fn summary(runtime: &Runtime, arn: &str) -> Arc<str> {
    match runtime.execution_record(arn).await {
        Ok(record) => Arc::from(summary_json(&record).to_string()),
        Err(_) => Arc::from("null"),
    }
}

/// Follows the history for the view's pages until it ends or the last page leaves.
async fn follow(
    view: Weak<View>,
    mut feed: HistoryFeed,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    runtime: Runtime,
    arn: String,
) {
    loop {
        let events = tokio::select! {
            events = feed.next() => events,
            _ = &mut stop => return,
        };
        let execution = summary(&runtime, &arn).await;
        let Some(view) = view.upgrade() else {
            return;
        };
        let mut shaped = view.shaped.lock().expect("live view lock");
        shaped.execution = execution.clone();
        let Some(events) = events else {
            shaped.ended = true;
            let _ = view.updates.send(Update::End);
            return;
        };
        let (rows, changed) = shaped.add(&events);
        let data = message(&execution, &shaped.states_json(&changed), &rows);
        let ended = events.last().is_some_and(|e| e.kind.is_terminal());
        let _ = view.updates.send(Update::Message(Arc::from(data)));
        if ended {
            shaped.ended = true;
            let _ = view.updates.send(Update::End);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_into_messages_of_bounded_size() {
        let row: Arc<str> = Arc::from("x".repeat(MESSAGE_BYTES / 3 + 1));
        let rows = vec![row; 7];
        let cut = pages(&rows);
        assert_eq!(
            cut.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [2, 2, 2, 1]
        );
        let huge: Arc<str> = Arc::from("y".repeat(MESSAGE_BYTES * 2));
        assert_eq!(
            pages(&[huge]).len(),
            1,
            "a row larger than the bound goes alone"
        );
        assert!(pages(&[]).is_empty());
        let rows: Vec<Arc<str>> = vec![Arc::from(r#"{"id":1}"#), Arc::from(r#"{"id":2}"#)];
        let text = message("null", "{}", &rows);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["events"].as_array().unwrap().len(), 2);
    }
}

#[cfg(test)]
mod sharing {
    use super::*;
    use crate::runtime::RuntimeConfig;
    use crate::store::{MachineType, SledStore};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_of_one_execution_share_one_view_which_goes_when_they_leave() {
        let dir = std::env::temp_dir().join(format!("stepwise-live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(SledStore::open(&dir).unwrap());
        let runtime = Runtime::open(store, RuntimeConfig::default())
            .await
            .unwrap();
        runtime
            .create_machine(
                "Hold",
                r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}}"#,
                MachineType::Standard,
                None,
            )
            .await
            .unwrap();
        let (arn, _) = runtime
            .start_execution("Hold", Some("watched"), "{}")
            .await
            .unwrap();
        let views = LiveViews::default();
        let mut pages = Vec::new();
        for _ in 0..10 {
            let mut page = views.watch(&runtime, &arn).await.unwrap();
            assert!(page.recv().await.is_some(), "each page gets its snapshot");
            pages.push(page);
        }
        let view = views.views.lock().await.get(&arn).and_then(Weak::upgrade);
        let view = view.expect("one view for the execution");
        assert_eq!(views.views.lock().await.len(), 1);
        assert_eq!(
            Arc::strong_count(&view),
            11,
            "ten pages and this test hold it"
        );
        // ExecutionStarted and WaitStateEntered, held once for all ten pages.
        assert_eq!(view.shaped.lock().unwrap().rows.len(), 2);
        let weak = Arc::downgrade(&view);
        drop(view);
        drop(pages);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while weak.upgrade().is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the view is dropped"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        runtime.shutdown(std::time::Duration::from_secs(5)).await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
