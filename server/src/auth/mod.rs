//! Authentication and authorization, the parts every way in shares: the roles and what
//! each may do (`policy`), the name patterns that limit a key (`pattern`), key material
//! (`keys`), the bootstrap admin credential (`credentials`) and the authenticated caller
//! with the one check every call goes through (`caller`).

pub mod caller;
pub mod credentials;
pub mod keys;
pub mod pattern;
pub mod policy;

pub use caller::{AUDIT_TARGET, Caller, Denied, audit_refused};
pub use credentials::{Credential, CredentialsError};
pub use pattern::{Pattern, PatternError};
pub use policy::{Action, Grant, Role};

/// Why a caller could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials.
    #[error(
        "this server requires a key and the request carried none: on gRPC the header 'authorization: Bearer KEY_ID:SECRET' (the CLI and workers take --key or STEPWISE_KEY), on the AWS API a Signature V4 signature, in the console a sign-in"
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
    /// A Signature V4 header that lacks something, named.
    #[error("{0}")]
    Incomplete(String),
    /// A Signature V4 request signed too long ago, or ahead of the server's clock.
    #[error("{0}")]
    Expired(String),
    /// A bearer key used to sign: its secret is not kept, so no signature can be checked.
    #[error(
        "the key {0} is a bearer key, which cannot sign AWS requests: make one with `stepwise key create --aws`"
    )]
    NotSigning(String),
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
            AuthError::Malformed | AuthError::Incomplete(_) => "IncompleteSignatureException",
            AuthError::Unknown(_) | AuthError::Revoked(_) | AuthError::NotSigning(_) => {
                "UnrecognizedClientException"
            }
            AuthError::WrongSecret(_) | AuthError::Expired(_) => "InvalidSignatureException",
            AuthError::Store(_) => "ServiceUnavailable",
        }
    }
}
