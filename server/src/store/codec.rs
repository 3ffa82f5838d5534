//! How records are written as bytes and read back, the same in every store: JSON, read
//! with a depth check first so a damaged record is reported, never followed into.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{RevisionRecord, StoreError};
use crate::asl::json::measure_text;
use crate::engine::Event;

/// A revision as stored: the definition with its time; stores written before revisions
/// carried a time hold the definition alone, as a JSON string.
#[derive(Serialize, serde::Deserialize)]
#[serde(untagged)]
pub(super) enum StoredRevision {
    Dated { definition: String, stored_ms: i64 },
    Undated(String),
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

/// Deeper than any record the server writes (payloads stop at `MAX_NESTING` levels; a
/// state's template can wrap one by at most the definition's own depth, and a record
/// adds a few levels around it): a record nested further is damaged, and is refused
/// before a recursive reader walks into it.
const MAX_RECORD_NESTING: usize = 512;

/// Reads a record back. serde_json's default recursion limit (128) is lifted: it would
/// refuse records the encoder wrote without complaint, such as an event holding a
/// payload at the nesting limit inside a few levels of its own; the depth is checked
/// first instead, with no recursion.
pub(super) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let damaged = |reason: String| StoreError::Decode {
        key: String::from_utf8_lossy(key).replace('\0', "|"),
        reason,
    };
    let depth = measure_text(bytes).depth;
    if depth > MAX_RECORD_NESTING {
        return Err(damaged(format!(
            "it nests {depth} levels deep, more than any record the server writes"
        )));
    }
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    reader.disable_recursion_limit();
    let value = T::deserialize(&mut reader).map_err(|e| damaged(e.to_string()))?;
    reader.end().map_err(|e| damaged(e.to_string()))?;
    Ok(value)
}

/// The events under one event key: a step's events are one JSON array; stores written
/// before that hold one event (an object) per key. Both read back in id order.
pub(super) fn step_events(key: &[u8], value: &[u8]) -> Result<Vec<Event>, StoreError> {
    if value.first() == Some(&b'[') {
        decode(key, value)
    } else {
        decode(key, value).map(|event| vec![event])
    }
}

impl From<StoredRevision> for RevisionRecord {
    fn from(stored: StoredRevision) -> RevisionRecord {
        match stored {
            StoredRevision::Dated {
                definition,
                stored_ms,
            } => RevisionRecord {
                definition,
                stored_ms: Some(stored_ms),
            },
            StoredRevision::Undated(definition) => RevisionRecord {
                definition,
                stored_ms: None,
            },
        }
    }
}
