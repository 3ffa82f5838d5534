//! Authentication and authorization (issue 20), the parts every way in shares: the
//! roles and what each may do (`policy`), the name patterns that limit a key
//! (`pattern`), and the bootstrap admin credential (`credentials`). Not yet enforced:
//! keys, their storage and the checks at the API edges come next (see the issue).

pub mod credentials;
pub mod pattern;
pub mod policy;

pub use credentials::{Credential, CredentialsError};
pub use pattern::{Pattern, PatternError};
pub use policy::{Action, Grant, Role};
