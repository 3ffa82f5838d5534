//! `stepwise.v1.Tasks`: activities and the worker protocol (poll, success, failure,
//! heartbeat).

use std::time::Duration;

use stepwise_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::activity_name;
use super::auth::{acting_caller, allow};
use super::status::to_status;
use super::{convert, from_peer, on_behalf};
use crate::auth::Action;
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
        let name = &request.get_ref().name;
        allow(&request, "CreateActivity", Action::ManageActivity(name))?;
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
        let name = activity_name(&self.runtime, &request.get_ref().activity)?;
        allow(&request, "DescribeActivity", Action::ManageActivity(&name))?;
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
        let caller = allow(&request, "ListActivities", Action::ReadListing)?;
        let request = request.into_inner();
        let mut records = self.runtime.list_activities().await.map_err(to_status)?;
        records.retain(|record| caller.may_see(&record.name));
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
        let name = activity_name(&self.runtime, &request.get_ref().activity)?;
        allow(&request, "DeleteActivity", Action::ManageActivity(&name))?;
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
        for queue in &request.get_ref().queues {
            let queue = activity_name(&self.runtime, queue)?;
            allow(&request, "PollTask", Action::Work(&queue))?;
        }
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
        let caller = acting_caller(&request)?;
        let from_peer = from_peer(&request);
        let request = request.into_inner();
        let sent = (self.runtime).send_success(&request.token, &request.output, &caller);
        on_behalf(from_peer, sent).await.map_err(to_status)?;
        Ok(Response::new(pb::SendTaskSuccessResponse {}))
    }

    async fn send_task_failure(
        &self,
        request: Request<pb::SendTaskFailureRequest>,
    ) -> Result<Response<pb::SendTaskFailureResponse>, Status> {
        let caller = acting_caller(&request)?;
        let from_peer = from_peer(&request);
        let request = request.into_inner();
        let sent =
            (self.runtime).send_failure(&request.token, &request.error, &request.cause, &caller);
        on_behalf(from_peer, sent).await.map_err(to_status)?;
        Ok(Response::new(pb::SendTaskFailureResponse {}))
    }

    async fn send_task_heartbeat(
        &self,
        request: Request<pb::SendTaskHeartbeatRequest>,
    ) -> Result<Response<pb::SendTaskHeartbeatResponse>, Status> {
        let caller = acting_caller(&request)?;
        let from_peer = from_peer(&request);
        let token = request.into_inner().token;
        let beat = self.runtime.heartbeat(&token, &caller);
        on_behalf(from_peer, beat).await.map_err(to_status)?;
        Ok(Response::new(pb::SendTaskHeartbeatResponse {}))
    }
}
