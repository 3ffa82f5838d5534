//! Who is calling, once authenticated, and the one place a call is allowed or refused:
//! every refusal, and every allowed call that changes something, is written to the
//! `stepwise::audit` log target (who, what, which resource, allowed or denied).

use base64::Engine;

use super::policy::{Action, Grant, Role};

/// The log target of audit records (`RUST_LOG=stepwise::audit=info` keeps only them).
pub const AUDIT_TARGET: &str = "stepwise::audit";

/// Writes the audit record of a call refused before any key was accepted (no key, an
/// unknown, revoked or wrongly signed one).
pub fn audit_refused(operation: &str, key: Option<&str>, error: &super::AuthError) {
    tracing::info!(
        target: AUDIT_TARGET,
        key = key.unwrap_or("-"),
        operation,
        allowed = false,
        reason = error.aws_code(),
        "audit"
    );
}

/// An authenticated caller: the key it presented and what that key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key id (`-` when the server checks no identity).
    pub key: String,
    /// What it may do.
    pub grant: Grant,
    /// Whether the server checks identities (audit records are written only then).
    pub checked: bool,
}

/// A call the caller's key does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key {key} ({role}) may not {family}{on}", on = resource.as_deref().map(|r| format!(" '{r}'")).unwrap_or_default())]
pub struct Denied {
    /// The key id.
    pub key: String,
    /// Its role.
    pub role: &'static str,
    /// The action's family.
    pub family: &'static str,
    /// The name it was on.
    pub resource: Option<String>,
}

impl Caller {
    /// Anyone, on a server that checks no identity (auth off).
    pub fn unchecked() -> Caller {
        Caller {
            key: "-".into(),
            grant: Grant {
                role: Role::Admin,
                patterns: Vec::new(),
            },
            checked: false,
        }
    }

    /// Allows `action` (`operation`: the API call, for the audit record) or says why not.
    pub fn allow(&self, operation: &str, action: Action<'_>) -> Result<(), Denied> {
        let allowed = self.grant.allows(action);
        if self.checked && (action.changes() || !allowed) {
            tracing::info!(
                target: AUDIT_TARGET,
                key = %self.key,
                role = self.grant.role.as_str(),
                operation,
                resource = action.resource().unwrap_or(""),
                allowed,
                "audit"
            );
        }
        if allowed {
            return Ok(());
        }
        Err(Denied {
            key: self.key.clone(),
            role: self.grant.role.as_str(),
            family: action.family(),
            resource: action.resource().map(str::to_string),
        })
    }

    /// Whether a listing shows this state machine or activity to the caller.
    pub fn may_see(&self, name: &str) -> bool {
        self.grant.may_see(name)
    }

    /// The caller as a header value, for a call forwarded to the node that can decide
    /// it (base64 of a JSON array: the key, the role, then the patterns).
    pub fn to_header(&self) -> String {
        let mut parts = vec![self.key.clone(), self.grant.role.as_str().to_string()];
        parts.extend(self.grant.patterns.iter().map(|p| p.to_string()));
        let json = serde_json::to_vec(&parts).expect("strings serialize");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads `to_header`'s value (`None` if it is not one).
    pub fn from_header(value: &str) -> Option<Caller> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?;
        let parts: Vec<String> = serde_json::from_slice(&json).ok()?;
        let (key, rest) = parts.split_first()?;
        let (role, patterns) = rest.split_first()?;
        Some(Caller {
            key: key.clone(),
            grant: Grant {
                role: Role::parse(role)?,
                patterns: patterns
                    .iter()
                    .map(|p| super::Pattern::new(p).ok())
                    .collect::<Option<_>>()?,
            },
            checked: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Pattern;

    #[test]
    fn a_refusal_names_the_key_the_role_and_what_it_may_not_do() {
        let caller = Caller {
            key: "SWKW".into(),
            grant: Grant {
                role: Role::Worker,
                patterns: vec![Pattern::new("tests-*").unwrap()],
            },
            checked: true,
        };
        assert!(caller.allow("PollTask", Action::Work("tests-1")).is_ok());
        let denied = caller
            .allow("PollTask", Action::Work("billing"))
            .unwrap_err();
        assert_eq!(
            denied.to_string(),
            "the key SWKW (worker) may not work on queue 'billing'"
        );
        let denied = caller.allow("CreateKey", Action::ManageKeys).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "the key SWKW (worker) may not manage keys"
        );
        assert!(
            Caller::unchecked()
                .allow("CreateKey", Action::ManageKeys)
                .is_ok()
        );
    }

    #[test]
    fn a_caller_travels_in_a_header_unchanged() {
        let caller = Caller {
            key: "SWKW".into(),
            grant: Grant {
                role: Role::Worker,
                patterns: vec![
                    Pattern::new("tests-*").unwrap(),
                    Pattern::new("été").unwrap(),
                ],
            },
            checked: true,
        };
        let header = caller.to_header();
        assert!(header.bytes().all(|b| b.is_ascii_graphic()), "{header}");
        assert_eq!(Caller::from_header(&header), Some(caller));
        assert_eq!(Caller::from_header("not base64 json"), None);
    }
}
