//! Authentication and authorization, the parts every way in shares: the roles and what
//! each may do (`policy`), the name patterns that limit a key (`pattern`), key material
//! (`keys`), the bootstrap admin credential (`credentials`) and the authenticated caller
//! with the one check every call goes through (`caller`).

pub mod caller;
pub mod credentials;
pub mod keys;
pub mod pattern;
pub mod policy;

pub use caller::{AUDIT_TARGET, Caller, Denied};
pub use credentials::{Credential, CredentialsError};
pub use pattern::{Pattern, PatternError};
pub use policy::{Action, Grant, Role};

/// Why a caller could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials.
    #[error(
        "this server requires a key: send the header 'authorization: Bearer KEY_ID:SECRET' (the CLI and workers take --key or STEPWISE_KEY)"
    )]
    Missing,
    /// The header is not `Bearer KEY_ID:SECRET`.
    #[error("the authorization header is not 'Bearer KEY_ID:SECRET'")]
    Malformed,
    /// No such key.
    #[error("the key {0} is not known to this server")]
    Unknown(String),
    /// The key was revoked.
    #[error("the key {0} has been revoked")]
    Revoked(String),
    /// The secret is not the key's.
    #[error("the secret presented for the key {0} is wrong")]
    WrongSecret(String),
    /// The keys could not be read.
    #[error("the keys cannot be read: {0}")]
    Store(String),
}

impl AuthError {
    /// The code AWS answers such a request with (`UnrecognizedClientException` for an
    /// unknown key, as AWS's JSON APIs do).
    pub fn aws_code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::Malformed => "IncompleteSignatureException",
            AuthError::Unknown(_) | AuthError::Revoked(_) => "UnrecognizedClientException",
            AuthError::WrongSecret(_) => "InvalidSignatureException",
            AuthError::Store(_) => "ServiceUnavailable",
        }
    }
}
