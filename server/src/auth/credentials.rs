//! The admin credential a fresh server is started with (`--admin-credentials FILE`), in
//! the AWS shared credentials-file format: its `[default]` section's
//! `aws_access_key_id` and `aws_secret_access_key`, so the same file serves the AWS
//! CLI and SDKs.

use std::fmt;

/// An access key id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id (shown in logs and audit records).
    pub access_key_id: String,
    /// The secret (never logged or shown).
    pub secret_access_key: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<hidden>")
            .finish()
    }
}

/// Why a credentials file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A line that is neither a section, a `key = value` nor a comment.
    #[error("line {line}: expected '[section]' or 'key = value'")]
    Malformed {
        /// 1-based.
        line: usize,
    },
    /// No `[default]` section.
    #[error("no [default] section")]
    NoDefault,
    /// The section lacks a key, or gives it no value.
    #[error("the [default] section has no {0}")]
    Missing(&'static str),
    /// A value with spaces or control characters inside.
    #[error("line {line}: {key} contains whitespace or control characters")]
    Invalid {
        /// 1-based.
        line: usize,
        /// Which key.
        key: &'static str,
    },
}

const ID_KEY: &str = "aws_access_key_id";
const SECRET_KEY: &str = "aws_secret_access_key";

/// Reads the `[default]` credential out of a credentials file's text.
pub fn parse(text: &str) -> Result<Credential, CredentialsError> {
    let mut section: Option<String> = None;
    let mut seen_default = false;
    let (mut id, mut secret) = (None, None);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let name = name.trim().to_string();
            seen_default |= name == "default";
            section = Some(name);
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(CredentialsError::Malformed { line });
        };
        if section.as_deref() != Some("default") {
            continue;
        }
        let (key, value) = (key.trim(), value.trim());
        let slot = match key {
            ID_KEY => (&mut id, ID_KEY),
            SECRET_KEY => (&mut secret, SECRET_KEY),
            _ => continue,
        };
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CredentialsError::Invalid { line, key: slot.1 });
        }
        *slot.0 = Some(value.to_string()).filter(|v| !v.is_empty());
    }
    if !seen_default {
        return Err(CredentialsError::NoDefault);
    }
    Ok(Credential {
        access_key_id: id.ok_or(CredentialsError::Missing(ID_KEY))?,
        secret_access_key: secret.ok_or(CredentialsError::Missing(SECRET_KEY))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_section_is_read_as_the_aws_cli_writes_it() {
        let text = "# made by hand\n[profile other]\naws_access_key_id = NOTTHISONE\n\n[default]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\nregion = us-east-1\n";
        let credential = parse(text).unwrap();
        assert_eq!(credential.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            credential.secret_access_key,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        );
        assert!(
            !format!("{credential:?}").contains("wJalr"),
            "the secret is never shown"
        );
    }

    #[test]
    fn what_is_wrong_is_named() {
        assert_eq!(
            parse("[other]\naws_access_key_id = A\n"),
            Err(CredentialsError::NoDefault)
        );
        assert_eq!(
            parse("[default]\naws_access_key_id = A\n"),
            Err(CredentialsError::Missing(SECRET_KEY))
        );
        assert_eq!(
            parse("[default]\naws_access_key_id =\naws_secret_access_key = s\n"),
            Err(CredentialsError::Missing(ID_KEY))
        );
        assert_eq!(
            parse("[default]\njust some words\n"),
            Err(CredentialsError::Malformed { line: 2 })
        );
        assert_eq!(
            parse("[default]\naws_access_key_id = A\naws_secret_access_key = two words\n"),
            Err(CredentialsError::Invalid {
                line: 3,
                key: SECRET_KEY
            })
        );
    }
}
