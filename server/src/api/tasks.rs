//! `stepwise.v1.Tasks`: activities and the worker protocol (poll, success, failure,
//! heartbeat).

use std::time::Duration;

use stepwise_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::status::to_status;
use super::{convert, from_peer, on_behalf};
use crate::runtime::{MAX_POLL_SECONDS, Runtime};

/// Serves `stepwise.v1.Tasks`.
#[derive(Clone)]
pub struct TasksService {
    runtime: Runtime,
}

impl TasksService {
    /// A service over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        TasksService { runtime }
    }
}

#[tonic::async_trait]
impl pb::tasks_server::Tasks for TasksService {
    async fn create_activity(
        &self,
        request: Request<pb::CreateActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let record = self
            .runtime
            .create_activity(&request.into_inner().name)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::activity(record)))
    }

    async fn describe_activity(
        &self,
        request: Request<pb::DescribeActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let record = self
            .runtime
            .describe_activity(&request.into_inner().activity)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::activity(record)))
    }

    async fn list_activities(
        &self,
        request: Request<pb::ListActivitiesRequest>,
    ) -> Result<Response<pb::ListActivitiesResponse>, Status> {
        let request = request.into_inner();
        let records = self.runtime.list_activities().await.map_err(to_status)?;
        let (page, next_token) = convert::page(records, request.max_results, &request.next_token)?;
        Ok(Response::new(pb::ListActivitiesResponse {
            activities: page.into_iter().map(convert::activity).collect(),
            next_token,
        }))
    }

    async fn delete_activity(
        &self,
        request: Request<pb::DeleteActivityRequest>,
    ) -> Result<Response<pb::DeleteActivityResponse>, Status> {
        self.runtime
            .delete_activity(&request.into_inner().activity)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteActivityResponse {}))
    }

    async fn poll_task(
        &self,
        request: Request<pb::PollTaskRequest>,
    ) -> Result<Response<pb::PollTaskResponse>, Status> {
        let request = request.into_inner();
        let wait = match request.wait_seconds {
            0 => MAX_POLL_SECONDS,
            n => u64::from(n).min(MAX_POLL_SECONDS),
        };
        let polled = self
            .runtime
            .poll(
                &request.queues,
                &request.worker_name,
                Duration::from_secs(wait),
                (!request.poll_id.is_empty()).then_some(request.poll_id.as_str()),
            )
            .await
            .map_err(to_status)?;
        let response = convert::poll_response(polled);
        Ok(Response::new(response))
    }

    async fn send_task_success(
        &self,
        request: Request<pb::SendTaskSuccessRequest>,
    ) -> Result<Response<pb::SendTaskSuccessResponse>, Status> {
        let from_peer = from_peer(&request);
        let request = request.into_inner();
        let sent = self.runtime.send_success(&request.token, &request.output);
        on_behalf(from_peer, sent).await.map_err(to_status)?;
        Ok(Response::new(pb::SendTaskSuccessResponse {}))
    }

    async fn send_task_failure(
        &self,
        request: Request<pb::SendTaskFailureRequest>,
    ) -> Result<Response<pb::SendTaskFailureResponse>, Status> {
        let from_peer = from_peer(&request);
        let request = request.into_inner();
        let sent = (self.runtime).send_failure(&request.token, &request.error, &request.cause);
        on_behalf(from_peer, sent).await.map_err(to_status)?;
        Ok(Response::new(pb::SendTaskFailureResponse {}))
    }

    async fn send_task_heartbeat(
        &self,
        request: Request<pb::SendTaskHeartbeatRequest>,
    ) -> Result<Response<pb::SendTaskHeartbeatResponse>, Status> {
        let from_peer = from_peer(&request);
        let token = request.into_inner().token;
        let beat = self.runtime.heartbeat(&token);
        on_behalf(from_peer, beat).await.map_err(to_status)?;
        Ok(Response::new(pb::SendTaskHeartbeatResponse {}))
    }
}
