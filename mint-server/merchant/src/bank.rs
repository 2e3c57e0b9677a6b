//! The merchant's link to its bank: HTTP only, through the typed client,
//! and trust only in the master key the merchant was configured with (no
//! trust on first use). The key set is checked against it; so is every ack.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ecash_core::certificate::{MerchantCertificate, verify_merchant};
use ecash_core::client::{BankClient, CallError};
use ecash_core::messages::{Deposit, DepositAck, MerchantCertRequest, RegisterAccount, account_id};
use ecash_core::{Amount, B32, Clock, ErrorCode, Keypair, PublicKey, Signed, VerifiedKeySet};
use ecash_http::ReqwestTransport;

/// The bank refused the merchant, or could not be trusted.
#[derive(Debug, thiserror::Error)]
pub enum BankLinkError {
    /// The bank did not answer in time.
    #[error("the bank at {url} did not answer within {secs} s: {last}")]
    Unreachable {
        /// Its URL.
        url: String,
        /// How long the merchant waited.
        secs: u64,
        /// The last failure.
        last: String,
    },
    /// The bank's key set is not signed by the pinned master key.
    #[error("the bank's key set does not verify against the configured master key: {0}")]
    KeySet(#[from] ecash_core::keyset::KeySetError),
    /// The bank refused to register the merchant's account.
    #[error("registering the merchant's account: {0}")]
    Register(CallError),
    /// The bank's key set changed its bank id or currency.
    #[error("the bank's key set changed its {0}")]
    Changed(&'static str),
    /// A call failed.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// An offline batch deposit that did not settle.
#[derive(Debug, thiserror::Error)]
pub enum OfflineDepositError {
    /// The bank refused or did not answer.
    #[error(transparent)]
    Call(CallError),
    /// The receipt is not the pinned key's receipt of this batch.
    #[error("the bank's offline receipt does not verify or is not this batch's")]
    BadReceipt,
}

/// The bank, as the merchant reaches and trusts it.
pub struct BankLink {
    client: BankClient<ReqwestTransport>,
    master: PublicKey,
    keys: RwLock<(Arc<VerifiedKeySet>, u64)>,
    /// The bank's certified address and the banks it clears with (NetCash),
    /// as last fetched: what payreqs tell payers holding other banks' coins.
    clearing: RwLock<Clearing>,
    /// The bank's certificate over the shop's key, if the bank certifies merchants.
    certificate: RwLock<Option<Signed<MerchantCertificate>>>,
    /// When the bank last said it certifies no merchant (asked again
    /// [`KEYS_MAX_AGE`] later, not at every order).
    declined_at: std::sync::atomic::AtomicU64,
    clock: Arc<dyn Clock>,
}

/// What payment requests say of the bank for payers holding other banks' coins.
#[derive(Debug, Clone, Default)]
pub struct Clearing {
    /// The bank's certified public address, if it is certified.
    pub bank_url: Option<String>,
    /// The banks whose coins it takes, besides its own.
    pub accepted: Vec<String>,
}

/// How long a fetched key set is used before it is fetched again, seconds.
const KEYS_MAX_AGE: u64 = 600;

impl BankLink {
    /// Connects to the bank at `url`, waiting up to `wait` for it to answer
    /// (it may be starting too), and checks its key set against `master`.
    pub async fn connect(
        url: &str,
        master: PublicKey,
        timeout: Duration,
        wait: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BankLinkError> {
        let net = ReqwestTransport::with_timeout(timeout).map_err(|e| CallError::Unreachable {
            url: url.to_owned(),
            reason: e.0,
        })?;
        let client = BankClient::new(url, net);
        let started = std::time::Instant::now();
        let mut said = std::time::Instant::now();
        let answer = loop {
            match client.keys().await {
                Ok(s) => break s,
                Err(e) if e.is_transient() && started.elapsed() < wait => {
                    if said.elapsed() >= Duration::from_secs(5) {
                        tracing::info!(bank = %url, error = %e, "waiting for the bank");
                        said = std::time::Instant::now();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    return Err(BankLinkError::Unreachable {
                        url: url.to_owned(),
                        secs: wait.as_secs(),
                        last: e.to_string(),
                    });
                }
            }
        };
        let keys = VerifiedKeySet::verify(&answer.key_set, &master)?;
        let now = clock.now();
        let clearing = clearing_of(&client, &answer).await;
        Ok(Self {
            client,
            master,
            keys: RwLock::new((Arc::new(keys), now)),
            clearing: RwLock::new(clearing),
            certificate: RwLock::new(None),
            declined_at: std::sync::atomic::AtomicU64::new(0),
            clock,
        })
    }

    /// The bank's verified key set (fetched again when old; a failure to
    /// fetch keeps the one in hand).
    pub async fn keys(&self) -> Arc<VerifiedKeySet> {
        let (_, at) = self.current();
        if at.saturating_add(KEYS_MAX_AGE) < self.clock.now()
            && let Err(e) = self.refresh().await
        {
            tracing::warn!(error = %e, "key set not refreshed");
        }
        self.current().0
    }

    fn current(&self) -> (Arc<VerifiedKeySet>, u64) {
        match self.keys.read() {
            Ok(g) => (g.0.clone(), g.1),
            Err(p) => {
                let g = p.into_inner();
                (g.0.clone(), g.1)
            }
        }
    }

    /// Fetches the key set again, checked against the pinned key; the bank
    /// id and currency may not change under a running shop.
    pub async fn refresh(&self) -> Result<(), BankLinkError> {
        let answer = self.client.keys().await?;
        let fresh = VerifiedKeySet::verify(&answer.key_set, &self.master)?;
        let (old, _) = self.current();
        if fresh.set.bank_id != old.set.bank_id {
            return Err(BankLinkError::Changed("bank id"));
        }
        if fresh.set.currency != old.set.currency {
            return Err(BankLinkError::Changed("currency"));
        }
        let now = self.clock.now();
        match self.keys.write() {
            Ok(mut g) => *g = (Arc::new(fresh), now),
            Err(p) => *p.into_inner() = (Arc::new(fresh), now),
        }
        let clearing = clearing_of(&self.client, &answer).await;
        match self.clearing.write() {
            Ok(mut g) => *g = clearing,
            Err(p) => *p.into_inner() = clearing,
        }
        Ok(())
    }

    /// The bank's certified address and the banks it clears with, as last fetched.
    pub fn clearing(&self) -> Clearing {
        match self.clearing.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Registers `key` as the merchant's account (the same key again is
    /// the same account); returns its id.
    pub async fn register(&self, key: &Keypair, label: &str) -> Result<String, BankLinkError> {
        let req = Signed::sign(
            RegisterAccount {
                public_key: key.public(),
                label: label.to_owned(),
                timestamp: self.clock.now(),
            },
            key,
        );
        let created = self
            .client
            .register(&req)
            .await
            .map_err(BankLinkError::Register)?;
        if created.account_id != account_id(&key.public()) {
            return Err(BankLinkError::Register(CallError::BadAnswer {
                url: self.client.base().to_owned(),
                reason: "the account id is not the hash of the merchant's key".into(),
            }));
        }
        Ok(created.account_id)
    }

    /// The bank's certificate over `key` (account `id`) under `name`: the one
    /// in hand while more than a quarter of its validity is left, else a new
    /// one (kept if it checks out against the pinned key). `None` if the
    /// bank certifies no merchant; a failure keeps the one in hand while valid.
    pub async fn certificate(
        &self,
        key: &Keypair,
        id: &str,
        name: &str,
    ) -> Option<Signed<MerchantCertificate>> {
        let now = self.clock.now();
        let held = match self.certificate.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        if let Some(c) = &held {
            let quarter = (c.body.not_after.saturating_sub(c.body.not_before)) / 4;
            if now.saturating_add(quarter) < c.body.not_after {
                return held;
            }
        }
        let declined = self.declined_at.load(std::sync::atomic::Ordering::Relaxed);
        if held.is_none() && declined != 0 && now < declined.saturating_add(KEYS_MAX_AGE) {
            return None;
        }
        let req = Signed::sign(
            MerchantCertRequest {
                account_id: id.to_owned(),
                name: name.to_owned(),
                timestamp: now,
            },
            key,
        );
        let bank_id = self.current().0.set.bank_id.clone();
        match self.client.certify_merchant(&req).await {
            Ok(c)
                if verify_merchant(&c, &bank_id, &self.master, id, now).is_ok()
                    && c.body.public_key == key.public() =>
            {
                match self.certificate.write() {
                    Ok(mut g) => *g = Some(c.clone()),
                    Err(p) => *p.into_inner() = Some(c.clone()),
                }
                Some(c)
            }
            Ok(_) => {
                tracing::warn!("the bank's merchant certificate does not check out; not used");
                held.filter(|c| now <= c.body.not_after)
            }
            Err(e) => {
                if e.refusal().is_some_and(|r| r.code == ErrorCode::NotFound) {
                    self.declined_at
                        .store(now.max(1), std::sync::atomic::Ordering::Relaxed);
                } else {
                    tracing::warn!(error = %e, "no merchant certificate from the bank");
                }
                held.filter(|c| now <= c.body.not_after)
            }
        }
    }

    /// `POST /deposit`.
    pub async fn deposit(&self, d: &Signed<Deposit>) -> Result<Signed<DepositAck>, CallError> {
        self.client.deposit(d).await
    }

    /// `POST /offline/deposit`, and the receipt checked: the pinned master
    /// key's, for this very batch and payee, one line per spend in order.
    pub async fn offline_deposit(
        &self,
        req: &Signed<ecash_core::offline::messages::OfflineDepositRequest>,
    ) -> Result<ecash_core::offline::messages::OfflineDepositReceipt, OfflineDepositError> {
        let receipt = self
            .client
            .0
            .call::<ecash_core::api::OfflineDeposit>(&(), req)
            .await
            .map_err(OfflineDepositError::Call)?;
        let holds = receipt.verify(&self.master).is_ok() && receipt.body.answers(&req.body);
        if !holds {
            return Err(OfflineDepositError::BadReceipt);
        }
        Ok(receipt.body)
    }

    /// Whether `ack` is the bank's (the pinned master key's) ack of this
    /// payment, of this amount, to this merchant, at this bank.
    pub fn ack_holds(
        &self,
        ack: &Signed<DepositAck>,
        payment_id: &B32,
        amount: &Amount,
        merchant: &str,
        bank_id: &str,
    ) -> bool {
        ack.verify(&self.master).is_ok()
            && ack.body.result == "accepted"
            && &ack.body.payment_id == payment_id
            && &ack.body.amount == amount
            && ack.body.merchant_acc_id == merchant
            && ack.body.bank_id == bank_id
    }
}

/// What the bank's `/keys` answer and `/peers` say of its clearing; a bank
/// that does not answer `/peers` takes its own coins only.
async fn clearing_of(
    client: &BankClient<ReqwestTransport>,
    answer: &ecash_core::certificate::KeysAnswer,
) -> Clearing {
    let bank_url = answer
        .certification
        .as_ref()
        .map(|c| c.certificate.body.cs_addr.clone());
    let accepted = match client.peers().await {
        Ok(list) => list.peers.into_iter().map(|p| p.bank_id).collect(),
        Err(_) => Vec::new(),
    };
    Clearing { bank_url, accepted }
}
