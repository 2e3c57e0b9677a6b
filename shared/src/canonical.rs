//! The one canonical encoding of everything that is hashed or signed.
//!
//! JSON is the wire format, but JSON has many spellings of one value, so
//! signatures and hashes are never over JSON. They are over this encoding:
//!
//! - a message starts with its domain tag: the bytes `ecash/v1/`, then the
//!   type's tag, as a length-prefixed string (so no two message types can
//!   produce the same bytes);
//! - then each field in declaration order, with no names:
//!   - `u8`/`u32`/`u64`: fixed width, big-endian; `bool`: one byte 0 or 1;
//!   - byte strings and UTF-8 strings: `u32` length, then the bytes;
//!   - fixed arrays (hashes, serials): the bytes, no length;
//!   - lists: `u32` count, then each item;
//!   - options: `0x00`, or `0x01` then the value;
//!   - nested structs: their fields inline, without a domain tag.
//!
//! Golden-bytes tests in this crate pin the output so it cannot drift.

use sha2::{Digest, Sha256};

/// Prefix of every domain tag.
pub const DOMAIN_PREFIX: &str = "ecash/v1/";

/// Writes the canonical encoding.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// Starts a message with the domain tag `ecash/v1/<domain>`.
    pub fn new(domain: &str) -> Self {
        let mut e = Self {
            buf: Vec::with_capacity(256),
        };
        let tag = format!("{DOMAIN_PREFIX}{domain}");
        e.str(&tag);
        e
    }

    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a big-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a boolean as one byte.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    /// Appends a length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        // Protocol messages are capped far below 4 GiB by the servers' body limits.
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.buf.extend_from_slice(v);
        self
    }

    /// Appends fixed-length bytes without a length prefix.
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// Appends a length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// Appends a list: its count, then each item's fields.
    pub fn list<T: Canonical>(&mut self, items: &[T]) -> &mut Self {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for item in items {
            item.encode_fields(self);
        }
        self
    }

    /// Appends an option: 0, or 1 and the value.
    pub fn option<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
                self
            }
        }
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// A type with a canonical encoding.
pub trait Canonical {
    /// Domain tag of the type when it is encoded as a whole message.
    const DOMAIN: &'static str;

    /// Writes the fields, in declaration order, without the domain tag.
    fn encode_fields(&self, e: &mut Encoder);

    /// The canonical bytes: domain tag, then fields.
    fn canonical_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(Self::DOMAIN);
        self.encode_fields(&mut e);
        e.finish()
    }

    /// SHA-256 of the canonical bytes.
    fn canonical_hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

/// SHA-256 of arbitrary bytes, for hashes the protocol names (`H(description)`, ...).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample {
        a: u64,
        b: Vec<u8>,
        c: Option<u32>,
    }
    impl Canonical for Sample {
        const DOMAIN: &'static str = "sample";
        fn encode_fields(&self, e: &mut Encoder) {
            e.u64(self.a)
                .bytes(&self.b)
                .option(self.c.as_ref(), |e, v| {
                    e.u32(*v);
                });
        }
    }

    #[test]
    fn golden_bytes_of_the_encoder() {
        let s = Sample {
            a: 258,
            b: vec![0xaa, 0xbb],
            c: Some(7),
        };
        let want = concat!(
            "0000000f",
            "65636173682f76312f73616d706c65", // "ecash/v1/sample"
            "0000000000000102",               // a
            "00000002aabb",                   // b
            "0100000007"                      // c
        );
        assert_eq!(hex::encode(s.canonical_bytes()), want);
        let none = Sample {
            a: 0,
            b: vec![],
            c: None,
        };
        assert!(hex::encode(none.canonical_bytes()).ends_with("00000000000000000000000000"));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        // Without length prefixes, ("ab","c") and ("a","bc") would collide.
        let mut e1 = Encoder::new("t");
        e1.str("ab").str("c");
        let mut e2 = Encoder::new("t");
        e2.str("a").str("bc");
        assert_ne!(e1.finish(), e2.finish());
    }
}
