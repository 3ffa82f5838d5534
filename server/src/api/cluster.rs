//! `stepwise.v1.Cluster`: what the nodes of a cluster ask each other (a task for a worker
//! that polls another node, what a node serves).

use stepwise_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::auth::allow;
use super::convert;
use super::status::to_status;
use crate::auth::Action;
use crate::runtime::Runtime;

/// Serves `stepwise.v1.Cluster`.
#[derive(Clone)]
pub struct ClusterService {
    runtime: Runtime,
}

impl ClusterService {
    /// A service over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        ClusterService { runtime }
    }
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn take_task(
        &self,
        request: Request<pb::PollTaskRequest>,
    ) -> Result<Response<pb::PollTaskResponse>, Status> {
        allow(&request, "TakeTask", Action::Cluster)?;
        let request = request.into_inner();
        let poll_id = (!request.poll_id.is_empty()).then_some(request.poll_id.as_str());
        let taken = self
            .runtime
            .take_task(&request.queues, &request.worker_name, poll_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::poll_response(taken)))
    }

    async fn node_status(
        &self,
        request: Request<pb::NodeStatusRequest>,
    ) -> Result<Response<pb::NodeStatusResponse>, Status> {
        allow(&request, "NodeStatus", Action::Cluster)?;
        let (node_id, partitions, running) = self.runtime.node_status();
        Ok(Response::new(pb::NodeStatusResponse {
            node_id,
            partitions: partitions.into_iter().map(u32::from).collect(),
            running_executions: running as u64,
        }))
    }
}
