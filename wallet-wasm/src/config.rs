//! How a wallet is told whom to trust: a certifier's key (and URL), or a
//! bank's master key, as JS arguments or as the `wallet-config.json` a web
//! wallet's own origin serves beside its code (as trustworthy as the code).

use ecash_core::{B32, PublicKey};
use serde::Deserialize;

use crate::error::WalletError;
use crate::records::CertifierPin;
use crate::wallet::Trust;

/// `wallet-config.json`: the certifier a new wallet pins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// The certifier's public key, base64url.
    #[serde(default)]
    pub certifier_key: Option<String>,
    /// Where to ask it for fresh revocation lists.
    #[serde(default)]
    pub certifier_url: Option<String>,
}

impl WalletConfig {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, WalletError> {
        serde_json::from_str(text)
            .map_err(|e| WalletError::Input(format!("wallet-config.json: {e}")))
    }

    /// The trust it configures (first use if it names no certifier).
    pub fn trust(&self) -> Result<Trust, WalletError> {
        trust_of(None, self.certifier_key.clone(), self.certifier_url.clone())
    }
}

/// A certifier (key and URL, checked by the link rule) if a key is given,
/// else `master` if given, else first use. Both a master key and a
/// certifier are refused: one of them would silently not count.
pub fn trust_of(
    master: Option<PublicKey>,
    certifier_key: Option<String>,
    certifier_url: Option<String>,
) -> Result<Trust, WalletError> {
    let Some(key) = certifier_key.filter(|s| !s.trim().is_empty()) else {
        return Ok(master.into());
    };
    if master.is_some() {
        return Err(WalletError::Input(
            "pin either a master key or a certifier, not both".into(),
        ));
    }
    let key = B32::from_b64(key.trim())
        .map(PublicKey)
        .filter(PublicKey::is_valid)
        .ok_or_else(|| WalletError::Input("the certifier key must be 32 bytes base64url".into()))?;
    // Without it a revoked bank relaying an old revocation list could not be caught.
    let url = certifier_url
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| WalletError::Input("a pinned certifier needs its URL".into()))?;
    crate::links::web_url(&url)?;
    Ok(Trust::Certifier(CertifierPin { key, url }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_names_a_certifier_or_nothing() {
        let k = ecash_core::Keypair::from_secret_bytes(&[7; 32]).public();
        let text = format!(
            r#"{{"certifier_key": "{}", "certifier_url": "http://127.0.0.1:8070/"}}"#,
            k.0.to_b64()
        );
        assert_eq!(
            WalletConfig::parse(&text).and_then(|c| c.trust()).ok(),
            Some(Trust::Certifier(CertifierPin {
                key: k,
                url: "http://127.0.0.1:8070".into()
            }))
        );
        assert_eq!(
            WalletConfig::parse("{}").and_then(|c| c.trust()).ok(),
            Some(Trust::FirstUse)
        );
        for bad in [
            r#"{"certifier_key": "short"}"#,
            r#"{"certifier_key": "AAAA", "extra": 1}"#,
            "not json",
        ] {
            assert!(
                WalletConfig::parse(bad).and_then(|c| c.trust()).is_err(),
                "{bad}"
            );
        }
        let text = format!(
            r#"{{"certifier_key": "{}", "certifier_url": "javascript:alert(1)"}}"#,
            k.0.to_b64()
        );
        assert!(WalletConfig::parse(&text).and_then(|c| c.trust()).is_err());
        // A master key pinned by the caller stands when no certifier is named;
        // both at once, or a certifier without its URL, are refused.
        assert_eq!(trust_of(Some(k), None, None).ok(), Some(Trust::Master(k)));
        let b64 = k.0.to_b64();
        assert!(
            trust_of(
                Some(k),
                Some(b64.clone()),
                Some("http://127.0.0.1:1".into())
            )
            .is_err()
        );
        assert!(trust_of(None, Some(b64), None).is_err());
    }
}
