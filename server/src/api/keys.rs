//! `stepwise.v1.Keys`: API keys, created, listed and revoked by admin keys.

use stepwise_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::auth::allow;
use super::status::to_status;
use crate::auth::{Action, Role};
use crate::runtime::{Runtime, RuntimeError};
use crate::store::{KeyRecord, KeySecret};

/// Serves `stepwise.v1.Keys`.
#[derive(Clone)]
pub struct KeysService {
    runtime: Runtime,
}

impl KeysService {
    /// A service over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        KeysService { runtime }
    }
}

/// A key as the API shows it: never its secret or hash.
fn key(record: KeyRecord) -> pb::Key {
    pb::Key {
        key_id: record.id,
        role: record.role,
        patterns: record.patterns,
        description: record.description,
        signing: matches!(record.secret, KeySecret::Signing { .. }),
        created_ms: record.created_ms,
        revoked_ms: record.revoked_ms,
    }
}

#[tonic::async_trait]
impl pb::keys_server::Keys for KeysService {
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        allow(&request, "CreateKey", Action::ManageKeys)?;
        let request = request.into_inner();
        let role = Role::parse(&request.role).ok_or_else(|| {
            to_status(RuntimeError::InvalidArgument(format!(
                "role '{}' is not one of admin, operator, worker, reader",
                request.role
            )))
        })?;
        let created = self
            .runtime
            .create_key(
                role,
                &request.patterns,
                &request.description,
                request.signing,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::CreateKeyResponse {
            key: Some(key(created.record)),
            secret: created.secret,
        }))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        allow(&request, "ListKeys", Action::ManageKeys)?;
        let keys = self.runtime.list_keys().map_err(to_status)?;
        Ok(Response::new(pb::ListKeysResponse {
            keys: keys.into_iter().map(key).collect(),
        }))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::Key>, Status> {
        allow(&request, "RevokeKey", Action::ManageKeys)?;
        let record = self
            .runtime
            .revoke_key(&request.into_inner().key_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(key(record)))
    }
}
