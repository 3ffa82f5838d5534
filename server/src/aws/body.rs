//! Reading a request body on the HTTP listener: at most [`MAX_REQUEST_BYTES`], within
//! [`BODY_TIMEOUT`], with AWS-shaped errors (`__type` and `message`) that the SDKs parse.
//!
//! A body declared larger than the limit is refused before it is buffered: its bytes are
//! read and thrown away (up to [`MAX_DISCARD_BYTES`]) so that a client that sends its
//! whole request before reading the answer, as boto3 does, sees the error rather than a
//! broken pipe; past that, the connection is closed at once.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use tokio_stream::StreamExt;

use super::AwsError;

/// The largest request body: a definition at its 1 MiB limit, escaped inside the JSON
/// request, with room to spare. Every other member is far smaller.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// How much of an oversized body is read and discarded so the client sees the error.
pub const MAX_DISCARD_BYTES: usize = 32 * 1024 * 1024;

/// How long a client may take to send its body: a trickling client is cut off.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The body, or the AWS-shaped error to answer with.
pub async fn read(headers: &HeaderMap, body: Body) -> Result<Bytes, AwsError> {
    read_limited(headers, body, MAX_REQUEST_BYTES).await
}

async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, AwsError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = |size: String| {
        AwsError::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ValidationException",
            format!("the request body is {size} bytes; at most {limit} are accepted"),
        )
    };
    if let Some(declared) = declared
        && declared > limit as u64
    {
        if declared > MAX_DISCARD_BYTES as u64 {
            return Err(too_large(declared.to_string()).closing());
        }
        let _ = tokio::time::timeout(BODY_TIMEOUT, discard(body)).await;
        return Err(too_large(declared.to_string()));
    }
    let mut stream = body.into_data_stream();
    let mut collected = Vec::new();
    let reading = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                AwsError::new(
                    "SerializationException",
                    format!("the request body could not be read: {e}"),
                )
            })?;
            if collected.len() + chunk.len() > limit {
                // Chunked, so its size was not declared: count what arrives.
                let mut seen = collected.len() + chunk.len();
                while seen <= MAX_DISCARD_BYTES {
                    match stream.next().await {
                        Some(Ok(more)) => seen += more.len(),
                        _ => return Err(too_large(format!("at least {seen}"))),
                    }
                }
                return Err(too_large(format!("more than {MAX_DISCARD_BYTES}")).closing());
            }
            collected.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(collected))
    };
    match tokio::time::timeout(BODY_TIMEOUT, reading).await {
        Ok(result) => result,
        Err(_) => Err(AwsError::with_status(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!("the request body did not arrive within {BODY_TIMEOUT:?}"),
        )
        .closing()),
    }
}

/// Reads and drops the rest of a body, at most [`MAX_DISCARD_BYTES`].
async fn discard(body: Body) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > MAX_DISCARD_BYTES {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    fn length(n: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, n.to_string().parse().unwrap());
        headers
    }

    async fn answer(error: AwsError) -> (StatusCode, String, bool) {
        let response = error.into_response();
        let status = response.status();
        let closing = response.headers().get(header::CONNECTION).is_some();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned(), closing)
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let body = read_limited(&length(5), Body::from("hello"), 10)
            .await
            .unwrap();
        assert_eq!(&body[..], b"hello");
    }

    #[tokio::test]
    async fn an_oversized_body_gets_an_aws_error_with_its_size() {
        let err = read_limited(&length(11), Body::from("x".repeat(11)), 10)
            .await
            .unwrap_err();
        let (status, body, closing) = answer(err).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains(r#""__type":"ValidationException""#), "{body}");
        assert!(body.contains("11 bytes; at most 10"), "{body}");
        assert!(
            !closing,
            "a body small enough to discard keeps the connection"
        );
        // Undeclared (chunked): counted as it arrives.
        let stream =
            tokio_stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from("xxxx"))));
        let err = read_limited(&HeaderMap::new(), Body::from_stream(stream), 10)
            .await
            .unwrap_err();
        let (status, body, _) = answer(err).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("at least 16 bytes"), "{body}");
    }

    #[tokio::test]
    async fn a_huge_declared_body_is_refused_without_reading_it() {
        let never = Body::from_stream(tokio_stream::pending::<Result<Bytes, std::io::Error>>());
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            read_limited(&length(MAX_DISCARD_BYTES + 1), never, 10),
        )
        .await
        .expect("answered at once")
        .unwrap_err();
        let (status, _, closing) = answer(err).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(closing, "the rest is not read: the connection closes");
    }
}
