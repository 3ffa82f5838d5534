//! Who calls: every gRPC request is authenticated before its handler runs (an
//! interceptor puts the `Caller` in the request's extensions), and each handler allows
//! or refuses its call through `Caller::allow` with the call's action and resource.

use tonic::{Request, Status};

use super::status::{denied, unauthenticated};
use crate::auth::keys::{NODE_KEY_ID, bearer};
use crate::auth::{Action, AuthError, Caller, audit_refused};
use crate::runtime::Runtime;

/// The called method's name (`StartExecution`), put in a request's extensions before it
/// reaches the interceptor, which sees no URI.
#[derive(Debug, Clone)]
pub struct RpcMethod(String);

impl RpcMethod {
    /// The method of a gRPC path (`/stepwise.v1.Executions/StartExecution`).
    pub fn of(path: &str) -> RpcMethod {
        RpcMethod(path.rsplit('/').next().unwrap_or(path).to_string())
    }
}

/// Authenticates each request on its way in (`XServer::with_interceptor`).
pub fn interceptor(
    runtime: Runtime,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let header = request.metadata().get("authorization");
        let presented = match header {
            None => None,
            Some(value) => {
                let text = value
                    .to_str()
                    .map_err(|_| unauthenticated(AuthError::Malformed))?;
                match bearer(text) {
                    Some(presented) => Some(presented),
                    // A key is required only if the server checks them; a stray header on
                    // a server that does not is no reason to refuse.
                    None if runtime.auth_required().map_err(unauthenticated)? => {
                        return Err(unauthenticated(AuthError::Malformed));
                    }
                    None => None,
                }
            }
        };
        let key = presented.as_ref().map(|p| p.id.to_string());
        let caller = runtime.authenticate(presented).map_err(|error| {
            let operation =
                (request.extensions().get::<RpcMethod>()).map_or("-", |method| method.0.as_str());
            audit_refused(operation, key.as_deref(), &error);
            unauthenticated(error)
        })?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The request's caller, allowed `action` (`operation`: the call, for the audit record).
pub fn allow<T>(
    request: &Request<T>,
    operation: &str,
    action: Action<'_>,
) -> Result<Caller, Status> {
    let caller = caller(request)?;
    caller.allow(operation, action).map_err(denied)?;
    Ok(caller)
}

/// The request's caller. A request the interceptor did not see is refused: a service
/// added without it must fail closed.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("InternalFailure: the call was not authenticated"))
}

/// The caller a call acts for: the one a node forwarded it for (only a node may say),
/// otherwise the request's own.
pub fn acting_caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?;
    let forwarded_for = request.metadata().get(crate::runtime::CALLER_HEADER);
    match forwarded_for {
        Some(value) if is_node(&caller) && caller.checked => value
            .to_str()
            .ok()
            .and_then(Caller::from_header)
            .ok_or_else(|| {
                Status::invalid_argument("ValidationException: a malformed stepwise-caller header")
            }),
        _ => Ok(caller),
    }
}

/// Whether the caller is another node of the cluster (forwarded calls are accepted only
/// from them).
pub fn is_node(caller: &Caller) -> bool {
    !caller.checked || caller.key == NODE_KEY_ID
}
