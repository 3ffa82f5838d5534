//! Encoding intrinsics: Base64Encode, Base64Decode and Hash.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{MAX_ENCODED_CHARS, expect_string};
use crate::asl::error::StatesError;

fn check_length(f: &str, text: &str) -> Result<(), StatesError> {
    let chars = text.chars().count();
    if chars > MAX_ENCODED_CHARS {
        return Err(StatesError::intrinsic(format!(
            "{f}: the input has {chars} characters; at most {MAX_ENCODED_CHARS} are allowed"
        )));
    }
    Ok(())
}

/// MIME Base64 (standard alphabet, padded) of a string's UTF-8 bytes.
pub(super) fn base64_encode(data: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.Base64Encode";
    let text = expect_string(F, 1, data)?;
    check_length(F, text)?;
    Ok(Value::String(STANDARD.encode(text.as_bytes())))
}

/// Decodes Base64 into a UTF-8 string.
pub(super) fn base64_decode(data: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.Base64Decode";
    let text = expect_string(F, 1, data)?;
    check_length(F, text)?;
    let bytes = STANDARD
        .decode(text.as_bytes())
        .map_err(|e| StatesError::intrinsic(format!("{F}: the input is not valid Base64 ({e})")))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| StatesError::intrinsic(format!("{F}: the decoded bytes are not UTF-8 text")))
}

/// The lowercase hex digest of the data with MD5, SHA-1, SHA-256, SHA-384 or SHA-512.
///
/// A string is hashed as its UTF-8 bytes; any other JSON value as its compact JSON text
/// (AWS asks for "an object string").
pub(super) fn hash(data: &Value, algorithm: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.Hash";
    let text = match data {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    check_length(F, &text)?;
    let algorithm = expect_string(F, 2, algorithm)?;
    digest(algorithm, text.as_bytes())
        .map(Value::String)
        .ok_or_else(|| {
            StatesError::intrinsic(format!(
                "{F}: '{algorithm}' is not a supported algorithm (MD5, SHA-1, SHA-256, SHA-384, SHA-512)"
            ))
        })
}

/// The lowercase hex digest of `bytes` with MD5, SHA-1, SHA-256, SHA-384 or SHA-512
/// (also JSONata's `$hash`); None for any other algorithm name.
pub(crate) fn digest(algorithm: &str, bytes: &[u8]) -> Option<String> {
    let digest: Vec<u8> = match algorithm {
        "MD5" => Md5::digest(bytes).to_vec(),
        "SHA-1" => Sha1::digest(bytes).to_vec(),
        "SHA-256" => Sha256::digest(bytes).to_vec(),
        "SHA-384" => Sha384::digest(bytes).to_vec(),
        "SHA-512" => Sha512::digest(bytes).to_vec(),
        _ => return None,
    };
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use crate::asl::intrinsics::tests::eval;
    use serde_json::json;

    #[test]
    fn base64_encode_example() {
        let input = json!({"input": "Data to encode"});
        assert_eq!(
            eval("States.Base64Encode($.input)", input).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
    }

    #[test]
    fn base64_decode_example() {
        // The AWS page shows "Decoded data" as the result, but its own input
        // "RGF0YSB0byBlbmNvZGU=" is the encoding of "Data to encode".
        let input = json!({"base64": "RGF0YSB0byBlbmNvZGU="});
        assert_eq!(
            eval("States.Base64Decode($.base64)", input).unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            eval("States.Base64Decode('RGVjb2RlZCBkYXRh')", json!({})).unwrap(),
            json!("Decoded data")
        );
    }

    #[test]
    fn base64_rules() {
        assert!(
            eval("States.Base64Decode('not base64!')", json!({}))
                .unwrap_err()
                .cause
                .contains("not valid Base64")
        );
        let long = json!({"s": "x".repeat(10_001)});
        assert!(
            eval("States.Base64Encode($.s)", long)
                .unwrap_err()
                .cause
                .contains("10001 characters")
        );
        assert!(eval("States.Base64Encode(5)", json!({})).is_err());
    }

    #[test]
    fn hash_example_and_algorithms() {
        // The AWS page prints this SHA-1 with a digit missing ("...d7485e8cae074b7");
        // this is the digest `sha1sum` gives for "input data".
        let input = json!({"Data": "input data", "Algorithm": "SHA-1"});
        assert_eq!(
            eval("States.Hash($.Data, $.Algorithm)", input).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        let abc = json!({"d": "abc"});
        assert_eq!(
            eval("States.Hash($.d, 'MD5')", abc.clone()).unwrap(),
            json!("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            eval("States.Hash($.d, 'SHA-256')", abc.clone()).unwrap(),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            eval("States.Hash($.d, 'SHA-384')", abc.clone())
                .unwrap()
                .as_str()
                .unwrap()
                .len(),
            96
        );
        assert_eq!(
            eval("States.Hash($.d, 'SHA-512')", abc.clone())
                .unwrap()
                .as_str()
                .unwrap()
                .len(),
            128
        );
        assert!(
            eval("States.Hash($.d, 'SHA-3')", abc)
                .unwrap_err()
                .cause
                .contains("not a supported algorithm")
        );
    }
}
