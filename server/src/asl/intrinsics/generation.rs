//! Identifier generation: States.UUID.

use serde_json::Value;

use crate::asl::eval::Env;

/// A version 4 UUID drawn from the environment's random source.
pub(super) fn uuid(env: &mut Env) -> Value {
    let (a, b) = (env.random.next_u64(), env.random.next_u64());
    Value::String(uuid_from_words(a, b))
}

/// A version 4 UUID made of two random words (also JSONata's `$uuid`).
pub(crate) fn uuid_from_words(a: u64, b: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use crate::asl::intrinsics::tests::eval;
    use serde_json::json;

    #[test]
    fn uuid_is_version_4() {
        let value = eval("States.UUID()", json!({})).unwrap();
        let text = value.as_str().unwrap();
        let parsed = uuid::Uuid::parse_str(text).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(text.len(), 36);
    }
}
