//! AWS Signature Version 4, checked on the AWS-compatible API once keys are required:
//! the canonical request (method, path, query, the signed headers, the body's SHA-256),
//! the string to sign under the credential's scope, and the signing key derived from the
//! secret, date, region and service, as the IAM User Guide's "Create a signed AWS API
//! request" describes. A request must be signed within five minutes of the server's clock
//! either way, the window that guide gives against replays.

use axum::http::{HeaderMap, Method, Uri};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::auth::AuthError;
use crate::auth::keys::same;

/// The only algorithm AWS signs requests with (SigV4A is for multi-region endpoints).
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's time may be from the server's.
const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// The `X-Amz-Date` format.
const AMZ_DATE: &str = "%Y%m%dT%H%M%SZ";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The scope's date (`YYYYMMDD`).
    pub date: &'a str,
    /// The scope's region.
    pub region: &'a str,
    /// The scope's service.
    pub service: &'a str,
    /// The signed headers, lower case, in the order given.
    pub signed_headers: Vec<&'a str>,
    /// The signature, hex.
    pub signature: &'a str,
}

fn incomplete(why: &str) -> AuthError {
    AuthError::Incomplete(why.to_string())
}

/// Reads an `Authorization` header's value.
pub fn authorization(header: &str) -> Result<Authorization<'_>, AuthError> {
    let rest = header
        .strip_prefix(ALGORITHM)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| {
            incomplete("the Authorization header does not start with AWS4-HMAC-SHA256")
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| incomplete("an Authorization element is not KEY=VALUE"))?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let credential =
        credential.ok_or_else(|| incomplete("the Authorization header has no Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete(
            "the Credential is not ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request",
        ));
    };
    let signed_headers: Vec<&str> = signed
        .ok_or_else(|| incomplete("the Authorization header has no SignedHeaders"))?
        .split(';')
        .collect();
    if !signed_headers.contains(&"host") {
        return Err(incomplete("the signed headers must include host"));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature: signature
            .ok_or_else(|| incomplete("the Authorization header has no Signature"))?,
    })
}

/// A request as it was signed.
pub struct Signed<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its URI (path and query).
    pub uri: &'a Uri,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body.
    pub body: &'a [u8],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn uri_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Decodes `%XX` escapes (and `+` as itself: SigV4 clients encode spaces as `%20`).
fn uri_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The query's parameters, each name and value encoded once, sorted.
fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&uri_decode(name)),
                uri_encode(&uri_decode(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header's values as signed: each trimmed, inner runs of spaces made one, joined by
/// commas.
fn canonical_value(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(name)
        .iter()
        .map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The canonical request of `request` under `auth`'s signed headers.
pub fn canonical_request(request: &Signed<'_>, auth: &Authorization<'_>) -> String {
    let headers: String = (auth.signed_headers.iter())
        .map(|name| format!("{name}:{}\n", canonical_value(request.headers, name)))
        .collect();
    format!(
        "{}\n{}\n{}\n{headers}\n{}\n{}",
        request.method.as_str(),
        request.uri.path(),
        canonical_query(request.uri.query()),
        auth.signed_headers.join(";"),
        sha256_hex(request.body)
    )
}

/// The signature of `request` with `secret`, signed at `amz_date`.
pub fn signature(
    request: &Signed<'_>,
    auth: &Authorization<'_>,
    amz_date: &str,
    secret: &str,
) -> String {
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request(request, auth).as_bytes())
    );
    let key = [auth.date, auth.region, auth.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
            hmac(&key, part)
        });
    hex(&hmac(&key, &string_to_sign))
}

/// The time an `X-Amz-Date` value names (`20261204T120000Z`).
fn amz_timestamp(text: &str) -> Option<jiff::Timestamp> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !digits(0..8) || !digits(9..15) {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    rfc3339.parse().ok()
}

/// Checks a request's signature at `now`: its access key id, once `secret_of` gives
/// that key's secret and the signature matches.
pub fn verify<T>(
    request: &Signed<'_>,
    now: jiff::Timestamp,
    secret_of: impl FnOnce(&str) -> Result<(String, T), AuthError>,
) -> Result<T, AuthError> {
    let header = request
        .headers
        .get("authorization")
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| incomplete("the Authorization header is not ASCII"))?;
    let auth = authorization(header)?;
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| incomplete("the request has no X-Amz-Date header"))?;
    let signed_at = amz_timestamp(amz_date)
        .ok_or_else(|| incomplete("X-Amz-Date is not YYYYMMDD'T'HHMMSS'Z'"))?;
    if !amz_date.starts_with(auth.date) {
        return Err(incomplete(
            "the Credential's date is not the date of X-Amz-Date",
        ));
    }
    let skew = now.as_second() - signed_at.as_second();
    let format = |t: jiff::Timestamp| t.strftime(AMZ_DATE).to_string();
    let window = jiff::SignedDuration::from_secs(MAX_SKEW_SECONDS);
    if skew > MAX_SKEW_SECONDS {
        return Err(AuthError::Expired(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format(now - window),
            format(now)
        )));
    }
    if skew < -MAX_SKEW_SECONDS {
        return Err(AuthError::Expired(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format(now + window),
            format(now)
        )));
    }
    let (secret, who) = secret_of(auth.access_key_id)?;
    let expected = signature(request, &auth, amz_date, &secret);
    if !same(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(AuthError::WrongSecret(auth.access_key_id.to_string()));
    }
    Ok(who)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn at(text: &str) -> jiff::Timestamp {
        amz_timestamp(text).unwrap()
    }

    /// A request signed by this module, as an SDK would send it.
    fn signed(body: &str, amz_date: &str, secret: &str) -> (Method, Uri, HeaderMap) {
        let (method, uri) = (Method::POST, Uri::from_static("/"));
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:7838".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-amz-json-1.0".parse().unwrap(),
        );
        headers.insert("x-amz-date", amz_date.parse().unwrap());
        headers.insert(
            "x-amz-target",
            "AWSStepFunctions.ListStateMachines".parse().unwrap(),
        );
        let unsigned = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/{}/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0",
            &amz_date[..8]
        );
        let auth = authorization(&unsigned).unwrap();
        let request = Signed {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: body.as_bytes(),
        };
        let signature = signature(&request, &auth, amz_date, secret);
        let header = unsigned.replace("Signature=0", &format!("Signature={signature}"));
        headers.insert("authorization", header.parse().unwrap());
        (method, uri, headers)
    }

    fn check(
        (method, uri, headers): &(Method, Uri, HeaderMap),
        body: &str,
        now: &str,
    ) -> Result<&'static str, AuthError> {
        let request = Signed {
            method,
            uri,
            headers,
            body: body.as_bytes(),
        };
        verify(&request, at(now), |id| match id {
            "AKID" => Ok((SECRET.to_string(), "the admin")),
            other => Err(AuthError::Unknown(other.to_string())),
        })
    }

    #[test]
    fn a_signed_request_passes_and_any_change_to_it_fails() {
        let request = signed("{}", "20261204T120000Z", SECRET);
        assert_eq!(check(&request, "{}", "20261204T120100Z"), Ok("the admin"));
        assert_eq!(
            check(&request, "{\"a\":1}", "20261204T120100Z"),
            Err(AuthError::WrongSecret("AKID".into())),
            "another body"
        );
        let mut other_target = request.clone();
        other_target.2.insert(
            "x-amz-target",
            "AWSStepFunctions.DeleteStateMachine".parse().unwrap(),
        );
        assert!(check(&other_target, "{}", "20261204T120100Z").is_err());
        let wrong_secret = signed("{}", "20261204T120000Z", "not-the-secret");
        assert_eq!(
            check(&wrong_secret, "{}", "20261204T120000Z"),
            Err(AuthError::WrongSecret("AKID".into()))
        );
    }

    #[test]
    fn a_request_from_a_skewed_clock_is_refused_either_way() {
        let request = signed("{}", "20261204T120000Z", SECRET);
        assert!(check(&request, "{}", "20261204T120500Z").is_ok());
        let Err(AuthError::Expired(late)) = check(&request, "{}", "20261204T120501Z") else {
            panic!("accepted late");
        };
        assert_eq!(
            late,
            "Signature expired: 20261204T120000Z is now earlier than 20261204T120001Z (20261204T120501Z - 5 min.)"
        );
        let Err(AuthError::Expired(early)) = check(&request, "{}", "20261204T115459Z") else {
            panic!("accepted early");
        };
        assert!(early.starts_with("Signature not yet current"), "{early}");
    }

    #[test]
    fn malformed_authorization_headers_say_what_is_missing() {
        for (header, expected) in [
            ("Bearer x", "does not start with AWS4-HMAC-SHA256"),
            (
                "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/states, SignedHeaders=host, Signature=00",
                "ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/states/aws4_request, SignedHeaders=x-amz-date, Signature=00",
                "must include host",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/states/aws4_request, SignedHeaders=host",
                "no Signature",
            ),
        ] {
            let Err(AuthError::Incomplete(why)) = authorization(header) else {
                panic!("{header} accepted");
            };
            assert!(why.contains(expected), "{header}: {why}");
        }
    }

    #[test]
    fn amz_dates_are_read_exactly() {
        assert_eq!(
            amz_timestamp("20261204T120001Z").unwrap().as_second(),
            1_796_385_601
        );
        for bad in [
            "20261204T120001",
            "2026-12-04T12:00:01Z",
            "20261304T120001Z",
            "2026120xT120001Z",
        ] {
            assert_eq!(amz_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn queries_and_header_values_are_made_canonical() {
        assert_eq!(
            canonical_query(Some("b=2&a=x%20y&a=1&c")),
            "a=1&a=x%20y&b=2&c="
        );
        assert_eq!(canonical_query(None), "");
        let mut headers = HeaderMap::new();
        headers.append("x-multi", "  one   two ".parse().unwrap());
        headers.append("x-multi", "three".parse().unwrap());
        assert_eq!(canonical_value(&headers, "x-multi"), "one two,three");
    }
}
