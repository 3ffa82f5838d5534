//! API keys as the store keeps them. The store only holds them: what a role may do is
//! `auth::policy`'s, and checking a presented secret is `auth::keys`'.

use serde::{Deserialize, Serialize};

/// One API key: who it is, what it may do, how its secret is checked, and whether it
/// has been revoked (revoked keys stay, so listings and audit records can name them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The public part (`SWK...`), shown in listings and audit records.
    pub id: String,
    /// The role's name (`auth::Role::as_str`).
    pub role: String,
    /// Name patterns limiting the role (machines, or a worker's queues).
    pub patterns: Vec<String>,
    /// How a presented secret is checked.
    pub secret: KeySecret,
    /// What the key is for, as its creator said.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// When it was created.
    pub created_ms: i64,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<i64>,
}

/// A key's secret as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeySecret {
    /// A bearer key: only the SHA-256 of its secret (hex), enough to check a presented
    /// one (the secret is 238 random bits: no slow hash is needed against guessing).
    Sha256 {
        /// Lowercase hex.
        hash: String,
    },
    /// A signing key (AWS Signature V4): checking a signature needs the secret itself,
    /// so it is kept, readable by the server alone, and never shown again.
    Signing {
        /// The secret access key.
        secret: String,
    },
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySecret::Sha256 { .. } => f.write_str("Sha256(<hidden>)"),
            KeySecret::Signing { .. } => f.write_str("Signing(<hidden>)"),
        }
    }
}
