//! Signing in to the console once the server requires keys: the page asks for a key once
//! and the server keeps it in a cookie the page's scripts cannot read (`HttpOnly`) and
//! browsers send only with requests from this site (`SameSite=Strict`); every console
//! call, and every AWS API call the page makes, is then authenticated with it, so the
//! console shows only what the key may see and does only what it may do. A cookie is
//! accepted on the AWS API only with the console's own header and from the same origin:
//! another site can neither send the header nor the cookie.
//!
//! - `GET /console/api/session`: whether keys are required, and who is signed in.
//! - `POST /console/api/session` `{"key": "KEY_ID:SECRET"}`: signs in (the key checked).
//! - `DELETE /console/api/session`: signs out.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::{Console, json_response, same_origin_json};
use crate::auth::keys::presented;
use crate::auth::{AuthError, Caller};
use crate::aws::AwsError;
use crate::runtime::Runtime;

/// The cookie that carries the key.
const COOKIE: &str = "stepwise_key";

/// The header the console's own scripts send with AWS API calls.
pub const CONSOLE_HEADER: &str = "x-stepwise-console";

/// How long a sign-in lasts, in seconds (12 hours).
const MAX_AGE: u32 = 12 * 60 * 60;

/// The longest key the sign-in takes.
const MAX_KEY_CHARS: usize = 512;

/// The key in the request's cookie, if any.
fn cookie_key(headers: &HeaderMap) -> Option<String> {
    let prefix = format!("{COOKIE}=");
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| {
            pair.trim()
                .strip_prefix(prefix.as_str())
                .map(str::to_string)
        })?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A `Set-Cookie` value: the key (`Some`), or its removal.
fn set_cookie(key: Option<&str>, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text = match key {
        Some(key) => {
            let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
            format!(
                "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE}{secure}"
            )
        }
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).expect("base64 and fixed text make a valid header")
}

/// The caller a request's cookie authenticates (anyone, when no key is required).
fn cookie_caller(runtime: &Runtime, headers: &HeaderMap) -> Result<Caller, AwsError> {
    if !runtime.auth_required()? {
        return Ok(Caller::unchecked());
    }
    let key = cookie_key(headers).ok_or(AuthError::Missing)?;
    Ok(runtime.authenticate(Some(presented(&key).ok_or(AuthError::Malformed)?))?)
}

/// The caller of an AWS API request the console page made with its cookie (no
/// `Authorization` header): only with the console's header, from the page's own origin.
pub(crate) fn aws_cookie_caller(
    runtime: &Runtime,
    headers: &HeaderMap,
) -> Option<Result<Caller, AwsError>> {
    let from_the_page = !headers.contains_key(header::AUTHORIZATION)
        && headers.contains_key(CONSOLE_HEADER)
        && cookie_key(headers).is_some();
    if !from_the_page {
        return None;
    }
    if let Err(refused) = same_origin(headers) {
        return Some(Err(refused));
    }
    Some(cookie_caller(runtime, headers))
}

/// Refuses a request whose `Origin` is another site's.
pub(super) fn same_origin(headers: &HeaderMap) -> Result<(), AwsError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = (origin.to_str().ok())
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    if origin_host.is_some() && origin_host == host {
        return Ok(());
    }
    Err(AwsError::with_status(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        format!(
            "a request from the page at {} is not the console's own",
            origin.to_str().unwrap_or("an unreadable origin")
        ),
    ))
}

/// Authenticates every console data call with the cookie, and hands its caller on.
pub(super) async fn authenticate(
    State(runtime): State<Runtime>,
    mut request: Request,
    next: Next,
) -> Response {
    match cookie_caller(&runtime, request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refused) => refused.into_response(),
    }
}

/// `GET /console/api/session`.
pub(super) async fn show(
    State(runtime): State<Runtime>,
    headers: HeaderMap,
) -> Result<Response, AwsError> {
    let required = runtime.auth_required()?;
    let signed_in = match required {
        false => Value::Null,
        true => match cookie_caller(&runtime, &headers) {
            Ok(caller) => json!({"keyId": caller.key, "role": caller.grant.role.as_str()}),
            Err(_) => Value::Null,
        },
    };
    Ok(json_response(
        json!({"required": required, "signedIn": signed_in}),
    ))
}

/// `POST /console/api/session`: checks the key and keeps it in the cookie.
pub(super) async fn sign_in(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, AwsError> {
    same_origin_json(&headers)?;
    let body = crate::aws::body::read(&headers, body).await?;
    let key = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("key").and_then(Value::as_str).map(str::to_string))
        .filter(|key| key.chars().count() <= MAX_KEY_CHARS)
        .ok_or_else(|| {
            AwsError::with_status(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "the body must be {\"key\": \"KEY_ID:SECRET\"}",
            )
        })?;
    let presented = presented(&key).ok_or(AuthError::Malformed)?;
    let caller = console.runtime.authenticate(Some(presented))?;
    if !caller.checked {
        // Nothing to sign in to: keep no key.
        return Ok(json_response(json!({"required": false, "signedIn": null})));
    }
    let mut response = json_response(json!({
        "required": true,
        "signedIn": {"keyId": caller.key, "role": caller.grant.role.as_str()},
    }));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(Some(&key), console.tls));
    Ok(response)
}

/// `DELETE /console/api/session`: forgets the key.
pub(super) async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Response, AwsError> {
    same_origin(&headers)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(None, console.tls));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_keeps_the_key_from_scripts_and_other_sites() {
        let set = set_cookie(Some("AKID:a/b+c="), true);
        let text = set.to_str().unwrap();
        assert!(
            text.contains("HttpOnly")
                && text.contains("SameSite=Strict")
                && text.contains("Secure")
        );
        assert!(!text.contains("a/b+c"), "the key is encoded: {text}");
        let value = text.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("other=1; {value}").parse().unwrap());
        assert_eq!(cookie_key(&headers).as_deref(), Some("AKID:a/b+c="));
        assert!(!set_cookie(None, false).to_str().unwrap().contains("Secure"));
    }
}
