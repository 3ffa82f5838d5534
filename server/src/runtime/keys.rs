//! API keys: created, listed and revoked through the store, and the authentication of
//! every call against them. Keys are read from the store into memory and read again at
//! most once a second, when a call needs them: on one server a key works, or stops
//! working, at once; in a cluster a key made or revoked on another node does within a
//! second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::durable::{Durable, ResourceWrites};
use super::{RuntimeError, now_ms};
use crate::auth::keys::{
    NODE_KEY_ID, Presented, new_key_id, new_secret, same, secret_matches, sha256_hex,
};
use crate::auth::{AuthError, Caller, Credential, Grant, Pattern, Role};
use crate::store::{Batch, KeyRecord, KeySecret, Write};

/// How old the keys in memory may be before a call reads them again.
const REFRESH: Duration = Duration::from_secs(1);

/// The longest description a key may have.
const MAX_DESCRIPTION_CHARS: usize = 256;

/// The most patterns one key may have.
const MAX_PATTERNS: usize = 50;

/// A new key's secret, shown once.
pub struct NewKey {
    /// The stored record (without the secret, for a bearer key).
    pub record: KeyRecord,
    /// The secret.
    pub secret: String,
}

/// The keys of the store, and the credentials given at start-up.
pub(super) struct Keys {
    durable: Durable,
    writes: ResourceWrites,
    /// `--admin-credentials`.
    admin: Option<Credential>,
    /// The secret the nodes of a cluster present to each other.
    cluster_secret: Option<String>,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    by_id: HashMap<String, KeyRecord>,
    read_at: Option<Instant>,
}

impl Keys {
    pub fn new(
        durable: Durable,
        writes: ResourceWrites,
        admin: Option<Credential>,
        cluster_secret: Option<String>,
    ) -> Keys {
        Keys {
            durable,
            writes,
            admin,
            cluster_secret,
            cache: Mutex::default(),
        }
    }

    /// Whether calls must present a key: an admin credential was given, or keys exist
    /// (revoked ones too: revoking every key must not open the server).
    pub fn required(&self) -> Result<bool, AuthError> {
        if self.admin.is_some() {
            return Ok(true);
        }
        self.with_cache(|cache| !cache.by_id.is_empty())
    }

    /// The caller that presented `presented` (`None`: nothing presented).
    pub fn authenticate(&self, presented: Option<Presented<'_>>) -> Result<Caller, AuthError> {
        if !self.required()? {
            return Ok(Caller::unchecked());
        }
        let presented = presented.ok_or(AuthError::Missing)?;
        if let Some(admin) = self.admin.as_ref()
            && presented.id == admin.access_key_id
        {
            return same(
                admin.secret_access_key.as_bytes(),
                presented.secret.as_bytes(),
            )
            .then(|| admin_caller(&admin.access_key_id))
            .ok_or_else(|| AuthError::WrongSecret(presented.id.to_string()));
        }
        if presented.id == NODE_KEY_ID
            && let Some(secret) = self.cluster_secret.as_ref()
        {
            return same(secret.as_bytes(), presented.secret.as_bytes())
                .then(|| admin_caller(NODE_KEY_ID))
                .ok_or_else(|| AuthError::WrongSecret(presented.id.to_string()));
        }
        let record = self.stored(presented.id)?;
        if record.revoked_ms.is_some() {
            return Err(AuthError::Revoked(record.id));
        }
        if !secret_matches(&record.secret, presented.secret) {
            return Err(AuthError::WrongSecret(record.id));
        }
        caller_of(&record)
    }

    /// The secret and caller of a key that signs AWS requests: the admin credential, or
    /// a stored key made for Signature V4.
    pub fn signing_secret(&self, id: &str) -> Result<(String, Caller), AuthError> {
        if let Some(admin) = self.admin.as_ref()
            && id == admin.access_key_id
        {
            return Ok((admin.secret_access_key.clone(), admin_caller(id)));
        }
        let record = self.stored(id)?;
        if record.revoked_ms.is_some() {
            return Err(AuthError::Revoked(record.id));
        }
        match &record.secret {
            KeySecret::Signing { secret } => Ok((secret.clone(), caller_of(&record)?)),
            KeySecret::Sha256 { .. } => Err(AuthError::NotSigning(record.id)),
        }
    }

    /// A stored key by id (from memory, read again when older than `REFRESH`).
    fn stored(&self, id: &str) -> Result<KeyRecord, AuthError> {
        if let Some(record) = self.with_cache(|cache| cache.by_id.get(id).cloned())? {
            return Ok(record);
        }
        Err(AuthError::Unknown(id.to_string()))
    }

    /// Runs `read` on the keys in memory, read again first when they are older than
    /// `REFRESH`.
    fn with_cache<T>(&self, read: impl FnOnce(&Cache) -> T) -> Result<T, AuthError> {
        let mut cache = self.cache.lock().expect("keys lock");
        if cache.read_at.is_none_or(|at| at.elapsed() >= REFRESH) {
            let scanned = self
                .durable
                .store
                .keys()
                .map_err(|e| AuthError::Store(e.to_string()))?;
            let records = self.durable.damaged.readable(scanned, "key");
            cache.by_id = records.into_iter().map(|r| (r.id.clone(), r)).collect();
            cache.read_at = Some(Instant::now());
        }
        Ok(read(&cache))
    }

    /// Remembers a key just written, so this node knows it at once.
    fn remember(&self, record: KeyRecord) {
        let mut cache = self.cache.lock().expect("keys lock");
        cache.by_id.insert(record.id.clone(), record);
    }

    /// Makes a key: a bearer key (only its secret's hash kept) or, `signing`, one for
    /// AWS Signature V4 (the secret kept, as checking a signature needs it).
    pub async fn create(
        &self,
        role: Role,
        patterns: &[String],
        description: &str,
        signing: bool,
    ) -> Result<NewKey, RuntimeError> {
        let patterns = checked_patterns(role, patterns)?;
        let chars = description.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(RuntimeError::InvalidArgument(format!(
                "a key's description may have at most {MAX_DESCRIPTION_CHARS} characters, not {chars}"
            )));
        }
        let secret = new_secret();
        let record = KeyRecord {
            id: new_key_id(),
            role: role.as_str().to_string(),
            patterns,
            secret: if signing {
                KeySecret::Signing {
                    secret: secret.clone(),
                }
            } else {
                KeySecret::Sha256 {
                    hash: sha256_hex(&secret),
                }
            },
            description: description.to_string(),
            created_ms: now_ms(),
            revoked_ms: None,
        };
        let _serial = self.writes.lock().await;
        let mut batch = Batch::default();
        batch.push(Write::PutKey(record.clone()));
        self.durable.commit(batch).await?;
        self.remember(record.clone());
        tracing::info!(key = %record.id, role = %record.role, "created a key");
        Ok(NewKey { record, secret })
    }

    /// Every key, revoked ones included, by id.
    pub fn list(&self) -> Result<Vec<KeyRecord>, RuntimeError> {
        let scanned = self.durable.store.keys()?;
        Ok(self.durable.damaged.readable(scanned, "key"))
    }

    /// Revokes a key: it authenticates nothing from now on (on other nodes of a cluster
    /// within a second). Revoking a revoked key changes nothing.
    pub async fn revoke(&self, id: &str) -> Result<KeyRecord, RuntimeError> {
        let _serial = self.writes.lock().await;
        let scanned = self.durable.store.keys()?;
        let record = scanned
            .records
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| RuntimeError::ResourceNotFound(format!("no key has the id '{id}'")))?;
        if record.revoked_ms.is_some() {
            return Ok(record);
        }
        let record = KeyRecord {
            revoked_ms: Some(now_ms()),
            ..record
        };
        let mut batch = Batch::default();
        batch.push(Write::PutKey(record.clone()));
        self.durable.commit(batch).await?;
        self.remember(record.clone());
        tracing::info!(key = %record.id, "revoked a key");
        Ok(record)
    }
}

/// The patterns a role takes: none for an admin, at least one queue for a worker.
fn checked_patterns(role: Role, patterns: &[String]) -> Result<Vec<String>, RuntimeError> {
    let invalid = |message: String| Err(RuntimeError::InvalidArgument(message));
    match role {
        Role::Admin if !patterns.is_empty() => {
            return invalid("an admin key may do everything: it takes no name patterns".into());
        }
        Role::Worker if patterns.is_empty() => {
            return invalid(
                "a worker key needs the queues it may work on (name patterns, such as 'tests-*')"
                    .into(),
            );
        }
        _ => {}
    }
    if patterns.len() > MAX_PATTERNS {
        return invalid(format!(
            "a key may have at most {MAX_PATTERNS} name patterns, not {}",
            patterns.len()
        ));
    }
    for pattern in patterns {
        Pattern::new(pattern).map_err(|e| RuntimeError::InvalidArgument(e.to_string()))?;
    }
    Ok(patterns.to_vec())
}

/// The admin credential's (or a node's) caller.
fn admin_caller(key: &str) -> Caller {
    Caller {
        key: key.to_string(),
        grant: Grant {
            role: Role::Admin,
            patterns: Vec::new(),
        },
        checked: true,
    }
}

/// The caller a stored key authenticates.
fn caller_of(record: &KeyRecord) -> Result<Caller, AuthError> {
    // A record this version cannot read grants nothing (an unknown role from a newer
    // version, say): refused like an unknown key, and logged.
    let unreadable = |why: String| {
        tracing::warn!(key = %record.id, why, "a stored key cannot be used");
        AuthError::Unknown(record.id.clone())
    };
    let role = Role::parse(&record.role)
        .ok_or_else(|| unreadable(format!("unknown role '{}'", record.role)))?;
    let patterns = (record.patterns.iter())
        .map(|p| Pattern::new(p).map_err(|e| unreadable(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(Caller {
        key: record.id.clone(),
        grant: Grant { role, patterns },
        checked: true,
    })
}

impl super::Runtime {
    /// Whether calls must present a key.
    pub fn auth_required(&self) -> Result<bool, AuthError> {
        self.inner.keys.required()
    }

    /// The caller that presented `presented` (a stand-in admin when no key is required).
    pub fn authenticate(&self, presented: Option<Presented<'_>>) -> Result<Caller, AuthError> {
        self.inner.keys.authenticate(presented)
    }

    /// The secret and caller of a key that signs AWS requests (Signature V4).
    pub fn signing_secret(&self, id: &str) -> Result<(String, Caller), AuthError> {
        self.inner.keys.signing_secret(id)
    }

    /// CreateKey: the new key and its secret, shown this once.
    pub async fn create_key(
        &self,
        role: Role,
        patterns: &[String],
        description: &str,
        signing: bool,
    ) -> Result<NewKey, RuntimeError> {
        (self.inner.keys)
            .create(role, patterns, description, signing)
            .await
    }

    /// ListKeys: every key, revoked ones included (never a secret).
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, RuntimeError> {
        self.inner.keys.list()
    }

    /// RevokeKey.
    pub async fn revoke_key(&self, id: &str) -> Result<KeyRecord, RuntimeError> {
        self.inner.keys.revoke(id).await
    }
}
