//! The mint's certification (NetCash): it hands each key set it publishes
//! to its certifier, checks the answer as a wallet would, and serves it
//! with `/keys`. A set the certifier has not attested is served bare, and
//! wallets that pin the certifier refuse it until the next attempt succeeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecash_core::certificate::{Certification, KeysAnswer, key_set_hash, verify_certified};
use ecash_core::client::CertifierClient;
use ecash_core::{B32, ErrorCode, PublicKey, SignedKeySet};
use ecash_http::ReqwestTransport;
use tokio::sync::Notify;

use crate::bank::Bank;
use crate::keys::MintKeys;

/// Where the certifier is and how to check it.
#[derive(Debug, Clone)]
pub struct CertifierLink {
    /// Its base URL.
    pub url: String,
    /// Its pinned public key.
    pub key: PublicKey,
    /// This mint's public URL, which its certificate must name.
    pub mint_url: String,
    /// How often to hand the set in again.
    pub every: Duration,
}

/// The `/keys` answer with the certification of the current set, if any.
#[derive(Default)]
pub struct Certified {
    /// The hash of the set certified, the whole answer as JSON, and the papers.
    current: Mutex<Option<(B32, Arc<String>, Certification)>>,
    /// Woken on rotation: the new set goes to the certifier at once.
    pub rotated: Notify,
}

impl Certified {
    /// The answer to serve for `keys`' current set: with its certification
    /// if the certifier attested this very set, else the bare set.
    pub fn answer(&self, keys: &MintKeys) -> Arc<String> {
        let state = keys.current();
        let hash = key_set_hash(&state.signed.body);
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match current.as_ref() {
            Some((h, json, _)) if *h == hash => json.clone(),
            _ => Arc::new(state.signed_json.clone()),
        }
    }

    /// The papers last installed (this mint's certificate and the newest
    /// revocation list), while they are served.
    pub fn papers(&self) -> Option<Certification> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().map(|(_, _, c)| c.clone())
    }

    /// Serves the bare key set from now on.
    pub fn clear(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Checks `c` as a wallet would, for `set` (the set handed in), and if
    /// it passes serves it with that set while the set is current.
    pub fn install(
        &self,
        set: SignedKeySet,
        c: Certification,
        link: &CertifierLink,
        now: u64,
    ) -> Result<(), String> {
        let hash = key_set_hash(&set.body);
        let answer = KeysAnswer {
            key_set: set,
            certification: Some(c.clone()),
        };
        verify_certified(&answer, &link.mint_url, &link.key, None, now)
            .map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&answer).map_err(|e| e.to_string())?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((hash, Arc::new(json), c));
        Ok(())
    }
}

/// Hands the key set to the certifier now, at every rotation and every
/// `link.every`, forever; says what fails, and once when it works again.
pub async fn keep_certified(bank: Arc<Bank>, link: CertifierLink) {
    let (keys, certified, clock) = (bank.keys(), bank.certified(), bank.clock());
    let net = match ReqwestTransport::with_timeout(Duration::from_secs(10)) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: this mint stays uncertified");
            return;
        }
    };
    let client = CertifierClient::new(&link.url, net);
    let mut failing = false;
    loop {
        let set = keys.current().signed.clone();
        let outcome = match client.attest(&set).await {
            Ok(c) => certified.install(set, c, &link, clock.now()),
            Err(e) => {
                // Revoked or expired: the papers it holds are no longer true.
                if e.refusal()
                    .is_some_and(|r| r.code == ErrorCode::NotCertified)
                {
                    certified.clear();
                }
                Err(e.to_string())
            }
        };
        match outcome {
            Ok(()) if failing => {
                tracing::info!(certifier = %link.url, "certified again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(
                        certifier = %link.url,
                        error = %e,
                        "not certified: wallets that pin the certifier refuse this mint's keys \
                         until it is"
                    );
                }
                failing = true;
            }
        }
        // Retry soon while failing; otherwise at the next rotation or refresh.
        let wait = if failing {
            link.every.min(Duration::from_secs(2))
        } else {
            link.every
        };
        tokio::select! {
            _ = certified.rotated.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
