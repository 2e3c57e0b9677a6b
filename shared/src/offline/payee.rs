//! The payee's side of an offline payment (`OFFLINE.md` section 4): it
//! issues single-use requests, and accepts a spend with no network once
//! the spend answers an open request of its own, under an offline key of
//! the bank's signed set in its window, with the arithmetic right, and for
//! a coin it has not received before. The state is plain data: a merchant
//! or a wallet keeps it in its own store.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{NONCE_LEN, OfflineError, PaymentRequest, Spend};
use crate::bytes::{B32, Fixed};
use crate::keyset::VerifiedKeySet;

/// Why a payee refused a spend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// The request is not one this payee issued and has open (used, or never made).
    #[error("the spend answers no open request of this payee (used already, or never issued)")]
    UnknownRequest,
    /// The request is older than the acceptance window.
    #[error("the payment request expired")]
    Expired,
    /// The key is not an offline key of the bank's set.
    #[error("key {0} is not an offline key of this bank")]
    UnknownKey(B32),
    /// The key is revoked, or its deposit window closes before the payee
    /// could deposit (within its request window).
    #[error("key {0} takes no deposits now, or not for long enough")]
    KeyClosed(B32),
    /// The coin was received before.
    #[error("this coin was received before")]
    AlreadyReceived,
    /// The spend's arithmetic is wrong.
    #[error(transparent)]
    Invalid(#[from] OfflineError),
}

/// A spend accepted: the coin and its value, to deposit later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The coin's id.
    pub coin_id: B32,
    /// Its value, minor units (from its key).
    pub value: u64,
}

/// A payee's open requests and the coins it received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payee {
    /// The account it deposits under.
    pub payee_id: String,
    /// How long a request stays open, seconds.
    pub window_secs: u64,
    /// Open requests: nonce to issue time.
    open: BTreeMap<Fixed<NONCE_LEN>, u64>,
    /// Coins received, by id.
    received: BTreeSet<B32>,
}

impl Payee {
    /// A payee depositing under `payee_id`, its requests open `window_secs`.
    pub fn new(payee_id: impl Into<String>, window_secs: u64) -> Self {
        Self {
            payee_id: payee_id.into(),
            window_secs,
            open: BTreeMap::new(),
            received: BTreeSet::new(),
        }
    }

    /// A fresh request, at the payee's clock `now`.
    pub fn request(&mut self, now: u64) -> Result<PaymentRequest, OfflineError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| crate::blind_rsa::BlindRsaError::Rng)?;
        self.open
            .retain(|_, at| at.saturating_add(self.window_secs) >= now);
        self.open.insert(Fixed(nonce), now);
        Ok(PaymentRequest {
            payee_id: self.payee_id.clone(),
            nonce: Fixed(nonce),
            issued_at: now,
        })
    }

    /// Checks `spend` with no network and, if it holds, closes its request
    /// and records its coin. Nothing changes when it is refused.
    pub fn accept(
        &mut self,
        spend: &Spend,
        keys: &VerifiedKeySet,
        now: u64,
    ) -> Result<Accepted, AcceptError> {
        let r = &spend.request;
        let issued = match self.open.get(&r.nonce) {
            Some(at) if r.payee_id == self.payee_id && *at == r.issued_at => *at,
            _ => return Err(AcceptError::UnknownRequest),
        };
        if issued.saturating_add(self.window_secs) < now {
            return Err(AcceptError::Expired);
        }
        let (accepted, v) = check_spend(spend, keys, now, self.window_secs)?;
        if self.received.contains(&v.coin_id) {
            return Err(AcceptError::AlreadyReceived);
        }
        self.open.remove(&r.nonce);
        self.received.insert(v.coin_id);
        Ok(accepted)
    }
}

/// The checks of a spend that need no state of the payee's: an offline key
/// of the bank's signed set, not revoked, whose deposit window outlasts
/// `window_secs` from `now` (the payee must be able to deposit it), and the
/// arithmetic. The request and the coins received are the caller's.
pub fn check_spend(
    spend: &Spend,
    keys: &VerifiedKeySet,
    now: u64,
    window_secs: u64,
) -> Result<(Accepted, super::VerifiedSpend), AcceptError> {
    let k = keys
        .offline_key(&spend.key_id)
        .ok_or(AcceptError::UnknownKey(spend.key_id))?;
    // A coin taken now must still be depositable when the payee is back
    // online: its key's window must outlast the request's.
    let closes_in_time = now.saturating_add(window_secs) > k.info.deposit_until;
    if !k.info.can_deposit(now) || closes_in_time || keys.set.is_revoked(&spend.key_id) {
        return Err(AcceptError::KeyClosed(spend.key_id));
    }
    let v = spend.verify(&k.key)?;
    Ok((
        Accepted {
            coin_id: v.coin_id,
            value: k.info.value.value,
        },
        v,
    ))
}
