//! Key material: ids and secrets made for new keys, the form a caller presents them in
//! (`KEY_ID:SECRET`, after `Bearer ` on gRPC), and checking a presented secret against
//! what the store keeps.

use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::store::KeySecret;

/// The id a node of a cluster presents with the cluster's shared secret.
pub const NODE_KEY_ID: &str = "stepwise-node";

/// Characters of a key id after `SWK`: base32's upper-case alphabet, as AWS's access key
/// ids use upper case and digits.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Characters of a secret: letters and digits, safe in a header, a shell and a file.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new key id: `SWK` and 17 random characters (85 bits: ids are public, but two
/// keys must never share one), 20 in all like an AWS access key id.
pub fn new_key_id() -> String {
    format!("SWK{}", random_text(ID_ALPHABET, 17))
}

/// A new secret: 40 random letters and digits (238 bits).
pub fn new_secret() -> String {
    random_text(SECRET_ALPHABET, 40)
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// The stored form of a bearer key's secret.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A key as a caller presents it.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The key id.
    pub id: &'a str,
    /// The secret (never logged).
    pub secret: &'a str,
}

/// Reads `KEY_ID:SECRET`; `None` when it has no colon or an empty side.
pub fn presented(text: &str) -> Option<Presented<'_>> {
    let (id, secret) = text.trim().split_once(':')?;
    (!id.is_empty() && !secret.is_empty()).then_some(Presented { id, secret })
}

/// Reads an `authorization` header's value: `Bearer KEY_ID:SECRET`.
pub fn bearer(header: &str) -> Option<Presented<'_>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    presented(rest)
}

/// Whether a presented secret is the stored one, in time that does not depend on where
/// they differ.
pub fn secret_matches(stored: &KeySecret, presented: &str) -> bool {
    match stored {
        KeySecret::Sha256 { hash } => same(hash.as_bytes(), sha256_hex(presented).as_bytes()),
        KeySecret::Signing { secret } => same(secret.as_bytes(), presented.as_bytes()),
    }
}

/// Constant-time equality (lengths are not secret).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_and_secrets_have_their_shape_and_differ() {
        let (a, b) = (new_key_id(), new_key_id());
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("SWK") && a.bytes().all(|c| ID_ALPHABET.contains(&c) || c == b'K'));
        assert_ne!(a, b);
        let secret = new_secret();
        assert_eq!(secret.len(), 40);
        assert!(secret.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn presented_keys_are_read_from_the_header() {
        assert_eq!(
            bearer("Bearer SWKA:s3cret"),
            Some(Presented {
                id: "SWKA",
                secret: "s3cret"
            })
        );
        assert_eq!(bearer("bearer  AKID:a/b+c"), presented("AKID:a/b+c"));
        assert_eq!(bearer("Basic SWKA:s3cret"), None);
        assert_eq!(bearer("Bearer SWKA"), None);
        assert_eq!(bearer("Bearer :s"), None);
        assert_eq!(bearer("Bearer SWKA:"), None);
    }

    #[test]
    fn secrets_are_checked_against_their_hash_or_themselves() {
        let hashed = KeySecret::Sha256 {
            hash: sha256_hex("right"),
        };
        assert!(secret_matches(&hashed, "right"));
        assert!(!secret_matches(&hashed, "wrong"));
        // The well-known SHA-256 of "abc".
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let signing = KeySecret::Signing {
            secret: "right".into(),
        };
        assert!(secret_matches(&signing, "right"));
        assert!(!secret_matches(&signing, "righ"));
    }
}
