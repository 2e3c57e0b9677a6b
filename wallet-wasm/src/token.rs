//! Transfer tokens: coins handed from one wallet to another as text.
//!
//! `ecash1` followed by base64url of JSON `{bank_url, bank_id, coins}`. The
//! receiver exchanges the coins at once, so the sender cannot spend them again.

use ecash_core::Coin;
use ecash_core::bytes::{b64_decode, b64_encode};
use serde::{Deserialize, Serialize};

use crate::error::WalletError;

/// Prefix of every token (versioned).
pub const PREFIX: &str = "ecash1";
/// Largest token accepted, in characters (about 1,000 coins).
const MAX_LEN: usize = 512 * 1024;

/// What a token carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBody {
    /// Where to exchange the coins.
    pub bank_url: String,
    /// The bank's id (`bank_id` of its key set).
    pub bank_id: String,
    /// The coins.
    pub coins: Vec<Coin>,
}

/// A link that opens the wallet at `wallet_url` to receive `token`: the token
/// rides in the fragment, which no server ever sees or logs.
pub fn link(wallet_url: &str, token: &str) -> Result<String, WalletError> {
    Ok(crate::links::with_fragment(wallet_url, "token", token)?)
}

/// Encodes a token.
pub fn encode(body: &TokenBody) -> Result<String, WalletError> {
    let json = serde_json::to_vec(body).map_err(|e| WalletError::Token(e.to_string()))?;
    Ok(format!("{PREFIX}{}", b64_encode(&json)))
}

/// Decodes a token; surrounding whitespace is ignored. Its bank address must
/// pass the link rule ([`crate::links::web_url`]).
pub fn decode(token: &str) -> Result<TokenBody, WalletError> {
    let t = token.trim();
    if t.len() > MAX_LEN {
        return Err(WalletError::Token("token too long".into()));
    }
    let b64 = t
        .strip_prefix(PREFIX)
        .ok_or_else(|| WalletError::Token(format!("a token starts with {PREFIX}")))?;
    let json = b64_decode(b64).map_err(|_| WalletError::Token("token is not base64url".into()))?;
    let body: TokenBody = serde_json::from_slice(&json)
        .map_err(|e| WalletError::Token(format!("token content: {e}")))?;
    if body.coins.is_empty() {
        return Err(WalletError::Token("token carries no coins".into()));
    }
    // The bank's address is outside input: never shown or used unchecked.
    crate::links::web_url(&body.bank_url)
        .map_err(|e| WalletError::Token(format!("its bank address: {e}")))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecash_core::{Bytes, Fixed};

    #[test]
    fn round_trip_and_refusals() {
        let body = TokenBody {
            bank_url: "http://127.0.0.1:1".into(),
            bank_id: "b".into(),
            coins: vec![Coin {
                key_id: Fixed([1; 32]),
                serial: Fixed([2; 32]),
                msg_prefix: Fixed([3; 32]),
                signature: Bytes(vec![4; 256]),
            }],
        };
        let t = encode(&body).expect("encode");
        assert_eq!(decode(&format!("  {t}\n")).expect("decode"), body);
        for bad in [
            "",
            "ecash1",
            "ecash1!!!",
            "cashuAbc",
            &t[..t.len() - 5],
            &t.replace(PREFIX, "ecash2"),
            &encode(&TokenBody {
                bank_url: "javascript:alert(1)".into(),
                ..body.clone()
            })
            .expect("encode"),
        ] {
            assert!(matches!(decode(bad), Err(WalletError::Token(_))), "{bad}");
        }
        let empty = encode(&TokenBody {
            coins: vec![],
            ..body
        })
        .expect("encode");
        assert!(decode(&empty).is_err());
    }
}
