//! The key a client presents on every call (`authorization: Bearer KEY_ID:SECRET`), for
//! the CLI, the worker SDK and anything else built on the generated clients.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry the key, if any.
pub type KeyedChannel = InterceptedService<Channel, PresentKey>;

/// Adds the key to each request (nothing, without one).
#[derive(Clone, Default)]
pub struct PresentKey {
    header: Option<MetadataValue<Ascii>>,
}

impl std::fmt::Debug for PresentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.header {
            Some(_) => "PresentKey(<hidden>)",
            None => "PresentKey(none)",
        })
    }
}

/// A key that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key must be KEY_ID:SECRET in printable ASCII, as `stepwise key create` prints it")]
pub struct InvalidKey;

impl PresentKey {
    /// Presents `key` (`KEY_ID:SECRET`), or nothing.
    pub fn new(key: Option<&str>) -> Result<PresentKey, InvalidKey> {
        let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Ok(PresentKey::default());
        };
        let well_formed = key
            .split_once(':')
            .is_some_and(|(id, secret)| !id.is_empty() && !secret.is_empty())
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(InvalidKey);
        }
        let header = format!("Bearer {key}").parse().map_err(|_| InvalidKey)?;
        Ok(PresentKey {
            header: Some(header),
        })
    }

    /// `channel`, with the key on each call.
    pub fn on(self, channel: Channel) -> KeyedChannel {
        InterceptedService::new(channel, self)
    }
}

impl Interceptor for PresentKey {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_before_they_are_sent() {
        assert!(PresentKey::new(None).unwrap().header.is_none());
        assert!(PresentKey::new(Some("  ")).unwrap().header.is_none());
        let key = PresentKey::new(Some("SWKABC:s3cret")).unwrap();
        assert_eq!(key.header.unwrap(), "Bearer SWKABC:s3cret");
        for bad in ["no-colon", ":secret", "id:", "id:sec ret", "id:sécret"] {
            assert_eq!(PresentKey::new(Some(bad)).unwrap_err(), InvalidKey, "{bad}");
        }
        assert!(!format!("{:?}", PresentKey::new(Some("a:b")).unwrap()).contains(":b"));
    }
}
