//! `stepwise.v1.Executions`: start, stop, describe, list, history and the live watch.

use std::pin::Pin;

use stepwise_proto::v1 as pb;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::auth::allow;
use super::{convert, from_peer, on_behalf};
use crate::auth::Action;

/// The most bytes of events in one GetExecutionHistory page: under the 4 MiB a gRPC
/// client decodes by default, with room for the rest of the message.
const MAX_HISTORY_PAGE_BYTES: usize = 3 * 1024 * 1024;
use super::status::to_status;
use super::{execution_machine, machine_name};
use crate::runtime::Runtime;

/// Serves `stepwise.v1.Executions`.
#[derive(Clone)]
pub struct ExecutionsService {
    runtime: Runtime,
}

impl ExecutionsService {
    /// A service over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        ExecutionsService { runtime }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::HistoryEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::executions_server::Executions for ExecutionsService {
    async fn start_execution(
        &self,
        request: Request<pb::StartExecutionRequest>,
    ) -> Result<Response<pb::StartExecutionResponse>, Status> {
        let machine = machine_name(&self.runtime, &request.get_ref().state_machine)?;
        allow(&request, "StartExecution", Action::RunExecution(&machine))?;
        let from_peer = from_peer(&request);
        let request = request.into_inner();
        let name = (!request.name.is_empty()).then_some(request.name.as_str());
        let started = (self.runtime).start_execution(&request.state_machine, name, &request.input);
        let (execution_arn, start_time_ms) =
            on_behalf(from_peer, started).await.map_err(to_status)?;
        Ok(Response::new(pb::StartExecutionResponse {
            execution_arn,
            start_time_ms,
        }))
    }

    async fn start_sync_execution(
        &self,
        request: Request<pb::StartExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        let machine = machine_name(&self.runtime, &request.get_ref().state_machine)?;
        allow(
            &request,
            "StartSyncExecution",
            Action::RunExecution(&machine),
        )?;
        let request = request.into_inner();
        let name = (!request.name.is_empty()).then_some(request.name.as_str());
        let view = self
            .runtime
            .start_sync_execution(&request.state_machine, name, &request.input)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::execution_view(view)))
    }

    async fn get_usage(
        &self,
        request: Request<pb::GetUsageRequest>,
    ) -> Result<Response<pb::GetUsageResponse>, Status> {
        match request.get_ref().state_machine.as_str() {
            "" => allow(&request, "GetUsage", Action::ReadAll)?,
            machine => {
                let machine = machine_name(&self.runtime, machine)?;
                allow(&request, "GetUsage", Action::ReadMachine(&machine))?
            }
        };
        let request = request.into_inner();
        let machine = (!request.state_machine.is_empty()).then_some(request.state_machine.as_str());
        let (usage, cost) = self
            .runtime
            .usage(machine, request.start_time_ms, request.end_time_ms)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetUsageResponse {
            standard_executions: usage.standard_executions,
            standard_transitions: usage.standard_transitions,
            express_requests: usage.express_requests,
            express_billed_duration_ms: usage.express_billed_duration_ms,
            express_gb_seconds: usage.express_gb_seconds,
            standard_cost: cost.standard,
            express_request_cost: cost.express_requests,
            express_duration_cost: cost.express_duration,
            total_cost: cost.total(),
        }))
    }

    async fn stop_execution(
        &self,
        request: Request<pb::StopExecutionRequest>,
    ) -> Result<Response<pb::StopExecutionResponse>, Status> {
        let machine = execution_machine(&self.runtime, &request.get_ref().execution_arn)?;
        allow(&request, "StopExecution", Action::RunExecution(&machine))?;
        let from_peer = from_peer(&request);
        let request = request.into_inner();
        let stopped =
            (self.runtime).stop_execution(&request.execution_arn, request.error, request.cause);
        let stop_time_ms = on_behalf(from_peer, stopped).await.map_err(to_status)?;
        Ok(Response::new(pb::StopExecutionResponse { stop_time_ms }))
    }

    async fn describe_execution(
        &self,
        request: Request<pb::DescribeExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        let machine = execution_machine(&self.runtime, &request.get_ref().execution_arn)?;
        allow(&request, "DescribeExecution", Action::ReadMachine(&machine))?;
        let view = self
            .runtime
            .describe_execution(&request.into_inner().execution_arn)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::execution_view(view)))
    }

    async fn list_executions(
        &self,
        request: Request<pb::ListExecutionsRequest>,
    ) -> Result<Response<pb::ListExecutionsResponse>, Status> {
        let machine = machine_name(&self.runtime, &request.get_ref().state_machine)?;
        allow(&request, "ListExecutions", Action::ReadMachine(&machine))?;
        let request = request.into_inner();
        let filter = convert::status_filter(request.status_filter());
        let page = convert::page_request(request.max_results, &request.next_token)?;
        let (page, next_token) = self
            .runtime
            .list_executions(&request.state_machine, filter, &page)
            .await
            .map_err(to_status)?;
        let next_token = next_token.unwrap_or_default();
        let mut executions = Vec::with_capacity(page.len());
        for record in page {
            // Listing shows no input, as AWS's ListExecutions.
            executions.push(convert::execution(record, &serde_json::Value::Null));
        }
        Ok(Response::new(pb::ListExecutionsResponse {
            executions,
            next_token,
        }))
    }

    async fn get_execution_history(
        &self,
        request: Request<pb::GetExecutionHistoryRequest>,
    ) -> Result<Response<pb::GetExecutionHistoryResponse>, Status> {
        let machine = execution_machine(&self.runtime, &request.get_ref().execution_arn)?;
        allow(
            &request,
            "GetExecutionHistory",
            Action::ReadMachine(&machine),
        )?;
        let request = request.into_inner();
        let mut events = self
            .runtime
            .history(&request.execution_arn)
            .await
            .map_err(to_status)?;
        if request.reverse_order {
            events.reverse();
        }
        let with_data = !request.exclude_execution_data;
        let events: Vec<pb::HistoryEvent> = events
            .iter()
            .map(|e| convert::event(e, with_data))
            .collect();
        // Large payloads: a page stays under the 4 MiB a gRPC client accepts by default.
        let (events, next_token) = convert::page_within(
            events,
            request.max_results,
            &request.next_token,
            prost::Message::encoded_len,
            MAX_HISTORY_PAGE_BYTES,
        )?;
        Ok(Response::new(pb::GetExecutionHistoryResponse {
            events,
            next_token,
        }))
    }

    type WatchExecutionHistoryStream = EventStream;

    async fn watch_execution_history(
        &self,
        request: Request<pb::WatchExecutionHistoryRequest>,
    ) -> Result<Response<Self::WatchExecutionHistoryStream>, Status> {
        let machine = execution_machine(&self.runtime, &request.get_ref().execution_arn)?;
        allow(
            &request,
            "WatchExecutionHistory",
            Action::ReadMachine(&machine),
        )?;
        let from_peer = from_peer(&request);
        let request = request.into_inner();
        let arn = request.execution_arn;
        let with_data = !request.exclude_execution_data;
        // An execution another node serves: its events come from that node's live feed
        // (the store would only be read now and then); if that node goes away before
        // the end, the local feed takes over after the last event passed on. The local
        // feed, which reads the whole history first, is opened only when it is used.
        let owner = match from_peer {
            true => None,
            false => (self.runtime).watch_at_owner(&arn, !with_data).await,
        };
        let local = match owner {
            Some(_) => None,
            None => Some(self.runtime.follow(&arn).await.map_err(to_status)?),
        };
        let runtime = self.runtime.clone();
        let stream = async_stream(move |sender| async move {
            let mut feed = match local {
                Some(feed) => feed,
                None => {
                    let Some(mut remote) = owner else { return };
                    let mut last_id = 0;
                    loop {
                        let message = tokio::select! {
                            message = remote.message() => message,
                            _ = sender.closed() => return,
                        };
                        let Ok(Some(event)) = message else { break };
                        last_id = event.id;
                        let terminal = TERMINAL.contains(&event.r#type.as_str());
                        if sender.send(Ok(event)).await.is_err() || terminal {
                            return;
                        }
                    }
                    match runtime.follow(&arn).await {
                        Ok(feed) => feed.after(last_id),
                        Err(e) => {
                            let _ = sender.send(Err(to_status(e))).await;
                            return;
                        }
                    }
                }
            };
            loop {
                // A watcher that hung up stops the feed even if nothing more happens.
                let events = tokio::select! {
                    events = feed.next() => events,
                    _ = sender.closed() => None,
                };
                let Some(events) = events else { return };
                for event in &events {
                    if sender
                        .send(Ok(convert::event(event, with_data)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// The event types that end a history.
const TERMINAL: [&str; 4] = [
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionAborted",
    "ExecutionTimedOut",
];

/// A stream fed by a task through a bounded channel.
fn async_stream<F, Fut>(produce: F) -> EventStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<pb::HistoryEvent, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(sender));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}
