//! Binary values in JSON: base64url without padding, for every binary field of
//! the protocol.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Encode bytes as base64url without padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding.
pub fn b64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

/// A variable-length byte string, base64url in JSON.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({})", b64_encode(&self.0))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        b64_decode(&s).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// A fixed-length byte array, base64url in JSON; a wrong length is a decode error.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fixed<const N: usize>(pub [u8; N]);

/// 32 bytes: hashes, serials, ids, Ed25519 public keys.
pub type B32 = Fixed<32>;
/// 64 bytes: Ed25519 signatures.
pub type B64 = Fixed<64>;

impl<const N: usize> Fixed<N> {
    /// Wraps an array.
    pub const fn from_array(a: [u8; N]) -> Self {
        Self(a)
    }

    /// Base64url text of the value.
    pub fn to_b64(&self) -> String {
        b64_encode(&self.0)
    }

    /// Parses base64url text of exactly `N` bytes.
    pub fn from_b64(s: &str) -> Option<Self> {
        let v = b64_decode(s).ok()?;
        <[u8; N]>::try_from(v.as_slice()).ok().map(Self)
    }
}

impl<const N: usize> Default for Fixed<N> {
    fn default() -> Self {
        Self([0u8; N])
    }
}

impl<const N: usize> std::fmt::Debug for Fixed<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_b64())
    }
}

impl<const N: usize> std::fmt::Display for Fixed<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_b64())
    }
}

impl<const N: usize> Serialize for Fixed<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b64())
    }
}

impl<'de, const N: usize> Deserialize<'de> for Fixed<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_b64(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("expected {N} bytes in base64url")))
    }
}

/// Schemas: base64url strings, of a fixed length where the bytes have one.
#[cfg(feature = "schema")]
mod schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    impl JsonSchema for super::Bytes {
        fn schema_name() -> Cow<'static, str> {
            "Bytes".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "contentEncoding": "base64url",
                "pattern": "^[A-Za-z0-9_-]*$",
                "description": "bytes, base64url without padding"
            })
        }
    }

    impl<const N: usize> JsonSchema for super::Fixed<N> {
        fn schema_name() -> Cow<'static, str> {
            format!("Bytes{N}").into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            let len = (N * 4).div_ceil(3);
            json_schema!({
                "type": "string",
                "contentEncoding": "base64url",
                "pattern": "^[A-Za-z0-9_-]*$",
                "minLength": len,
                "maxLength": len,
                "description": format!("{N} bytes, base64url without padding")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_refuses_wrong_length_and_bad_alphabet() {
        assert!(serde_json::from_str::<B32>("\"AAAA\"").is_err());
        assert!(serde_json::from_str::<B32>("\"!!!!\"").is_err());
        let v = B32::default();
        let json = serde_json::to_string(&v).expect("serialize");
        assert_eq!(serde_json::from_str::<B32>(&json).expect("parse"), v);
    }

    #[test]
    fn bytes_use_url_safe_alphabet_without_padding() {
        let json = serde_json::to_string(&Bytes(vec![0xfb, 0xff])).expect("serialize");
        assert_eq!(json, "\"-_8\"");
    }
}
