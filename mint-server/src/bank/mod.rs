//! Bank logic: every flow of the mint, over [`Storage`] and [`MintKeys`],
//! on a [`Clock`] passed in. Synchronous on purpose: HTTP handlers run it
//! on blocking threads, and tests and the fuzzer call it directly.
//!
//! Every method checks everything it can before it touches storage or a
//! private key, so a refused request changes nothing and costs little.
//! Serials are never logged. Refusals are [`BankError`]s; only the HTTP
//! edge turns them into wire errors.
//!
//! - accounts, statements, the faucet, proofs and restore: here;
//! - [`coins`]: the key, range, signature and spent checks, and signing;
//! - [`withdraw`]: withdrawals and exchanges;
//! - [`deposit`]: deposits, booked once;
//! - [`spent_list`]: the public per-key spent lists;
//! - [`clearing`]: coins of other mints, their accounts here, settlements;
//! - `offline`: offline (CAFE) coins: collateral, withdrawal, batch deposit;
//! - [`metrics`]: counters of costly work.

pub mod clearing;
mod coins;
mod deposit;
mod error;
pub mod metrics;
mod offline;
mod recoup;
mod spent_list;
mod withdraw;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecash_core::certificate::MerchantCertificate;
use ecash_core::messages::*;
use ecash_core::{Amount, B32, Bytes, Clock, Currency, Fixed, PublicKey, Signature, Signed};

pub use error::BankError;
pub use metrics::Metrics;

use crate::certification::Certified;
use crate::in_flight::InFlight;
use crate::keys::MintKeys;
use crate::storage::clearing::ClearingBooks;
use crate::storage::offline::OfflineBooks;
use crate::storage::{CoinKey, Storage, StorageError, StoredAnswer, Totals};

/// Result of a bank operation.
pub type BankResult<T> = Result<T, BankError>;

/// How far a signed account query's timestamp may be from the bank's clock.
pub const QUERY_MAX_SKEW_SECS: u64 = 300;

/// Longest account label.
pub const MAX_LABEL_LEN: usize = 64;

/// Bank settings that are not keys or storage.
#[derive(Debug, Clone)]
pub struct BankSettings {
    /// This bank's id.
    pub bank_id: String,
    /// Its currency.
    pub currency: Currency,
    /// Whether the demo faucet is on.
    pub demo_faucet: bool,
    /// Largest faucet credit.
    pub faucet_max: u64,
    /// Most coins per request.
    pub max_coins: usize,
    /// Threads of the signing pool (0: one per core).
    pub signing_threads: usize,
    /// How long one built spent list is served before it is built again.
    pub spent_list_max_age: Duration,
    /// How long a merchant certificate is valid, seconds (`None`: the bank
    /// certifies no merchant).
    pub merchant_certificate_secs: Option<u64>,
    /// The certifier this mint pins (other mints' certificates must be by it).
    pub certifier_key: Option<PublicKey>,
}

/// The mint.
pub struct Bank {
    storage: Arc<dyn Storage>,
    keys: Arc<MintKeys>,
    settings: BankSettings,
    clock: Arc<dyn Clock>,
    /// RSA signing runs here, apart from the HTTP workers and the blocking pool.
    signing_pool: rayon::ThreadPool,
    metrics: Metrics,
    /// Spent lists by key id; one build serves every client until it is stale.
    spent_lists: Mutex<HashMap<B32, spent_list::CachedList>>,
    /// Accounts a withdrawal is being signed for.
    busy_accounts: InFlight<String>,
    /// Coins an exchange or deposit is spending.
    busy_coins: InFlight<B32>,
    /// Request ids of withdrawals and exchanges being signed.
    busy_requests: InFlight<B32>,
    /// The certifier's papers for the key set (NetCash).
    certified: Arc<Certified>,
    /// The books of clearing, when these books keep them.
    clearing: Option<Arc<dyn ClearingBooks>>,
    /// The mints this one clears with.
    peers: clearing::Peers,
    /// The books of offline coins, when this bank issues them.
    offline: Option<Arc<dyn OfflineBooks>>,
}

/// Rotation failed: the keys, or the books of them.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Making, loading or retiring keys failed.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// Adding or expiring keys in the books failed.
    #[error("the books of the keys: {0}")]
    Books(#[from] StorageError),
}

impl Bank {
    /// A bank over `storage` and `keys`, telling time by `clock`.
    pub fn new(
        storage: Arc<dyn Storage>,
        keys: Arc<MintKeys>,
        settings: BankSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let signing_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(settings.signing_threads)
            .thread_name(|i| format!("blind-signer-{i}"))
            .build()
            .map_err(|e| format!("starting the signing pool: {e}"))?;
        let bank = Self {
            storage,
            keys,
            settings,
            clock,
            signing_pool,
            metrics: Metrics::default(),
            spent_lists: Mutex::new(HashMap::new()),
            busy_accounts: InFlight::default(),
            busy_coins: InFlight::default(),
            busy_requests: InFlight::default(),
            certified: Arc::new(Certified::default()),
            clearing: None,
            peers: clearing::Peers::default(),
            offline: None,
        };
        bank.book_keys()
            .map_err(|e| format!("adding the keys to the books: {e}"))?;
        // A key revoked stays revoked across restarts, from the first request.
        bank.rotate_keys()
            .map_err(|e| format!("publishing the key revocations: {e}"))?;
        Ok(bank)
    }

    /// The bank, clearing with other mints on `books` (the same database
    /// as its storage).
    pub fn with_clearing(mut self, books: Arc<dyn ClearingBooks>) -> Self {
        self.clearing = Some(books);
        self
    }

    /// Counters of costly work.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Settings.
    pub fn settings(&self) -> &BankSettings {
        &self.settings
    }

    /// The keys.
    pub fn keys(&self) -> &MintKeys {
        &self.keys
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Storage (for health checks and shutdown).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The signed key set, as JSON.
    pub fn key_set_json(&self) -> String {
        self.keys.current().signed_json.clone()
    }

    /// The answer of `GET /keys`: the key set, with the certifier's papers
    /// when it attested this very set.
    pub fn keys_answer(&self) -> Arc<String> {
        self.certified.answer(&self.keys)
    }

    /// The certification served with the key set.
    pub fn certified(&self) -> &Arc<Certified> {
        &self.certified
    }

    /// Rotates the denomination keys for the clock's now, adds new keys to
    /// the books and expires the keys whose window closed; whether the key
    /// set changed.
    pub fn rotate_keys(&self) -> Result<bool, RotateError> {
        let now = self.clock.now();
        // Revocations reach the set in force (and every node) at each tick.
        self.keys.set_revocations(self.storage.key_revocations()?);
        let changed = self.keys.rotate(now)?;
        self.book_keys()?;
        if changed {
            self.certified.rotated.notify_one();
        }
        // A tick late: another node's clock may be that far behind, and
        // still take a coin of the key just before its window ends.
        let skew = crate::keys::rotation_tick(self.keys.current().signed.body.period_secs);
        for e in self.storage.expire_keys(now.saturating_sub(skew), now)? {
            tracing::info!(
                key_id = %e.key_id,
                coins = e.coins,
                amount = e.amount,
                "key expired: its coins never deposited are booked as expired, its spent coins dropped"
            );
        }
        Ok(changed)
    }

    /// Tells the books of every key in force (before any coin of it can be spent).
    fn book_keys(&self) -> Result<(), StorageError> {
        let state = self.keys.current();
        let keys: Vec<CoinKey> = state
            .active
            .values()
            .map(|k| CoinKey {
                key_id: k.info.key_id,
                value: k.info.value.value,
                deposit_until: k.info.deposit_until,
            })
            .collect();
        self.storage.add_keys(&keys)
    }

    fn check_amount(&self, a: &Amount) -> BankResult<()> {
        if a.currency != self.settings.currency {
            return Err(BankError::WrongCurrency {
                got: a.currency.to_string(),
                ours: self.settings.currency.to_string(),
            });
        }
        Ok(())
    }

    fn check_count(&self, n: usize, what: &'static str) -> BankResult<()> {
        if n == 0 {
            return Err(BankError::Empty(what));
        }
        if n > self.settings.max_coins {
            return Err(BankError::TooMany {
                n,
                what,
                max: self.settings.max_coins,
            });
        }
        Ok(())
    }

    fn account_key(&self, id: &str) -> BankResult<PublicKey> {
        let acct = self
            .storage
            .account(id)?
            .ok_or_else(|| BankError::UnknownAccount(id.to_owned()))?;
        Ok(PublicKey(Fixed(acct.public_key)))
    }

    /// `POST /accounts`: registers the key that signed the request. Registering
    /// the same key again answers the same id.
    pub fn register(&self, req: &Signed<RegisterAccount>) -> BankResult<AccountCreated> {
        req.verify(&req.body.public_key).map_err(|_| {
            BankError::BadSignature("registration is not signed by the key it registers")
        })?;
        if req.body.label.chars().count() > MAX_LABEL_LEN {
            return Err(BankError::LabelTooLong(MAX_LABEL_LEN));
        }
        let id = account_id(&req.body.public_key);
        match self.storage.create_account(
            &id,
            &req.body.public_key.0.0,
            &req.body.label,
            self.clock.now(),
        ) {
            Ok(()) | Err(StorageError::AccountExists) => Ok(AccountCreated { account_id: id }),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /accounts/{id}/public-key`: an account's public key (to check receipts).
    pub fn public_key(&self, id: &str) -> BankResult<PublicKey> {
        self.account_key(id)
    }

    /// `GET /accounts/{id}`: balance and ledger, for the holder only.
    pub fn statement(
        &self,
        id: &str,
        timestamp: u64,
        sig: &Signature,
    ) -> BankResult<AccountStatement> {
        let key = self.account_key(id)?;
        let q = AccountQuery {
            account_id: id.to_owned(),
            timestamp,
        };
        key.verify(&q, sig)
            .map_err(|_| BankError::BadSignature("account query signature does not verify"))?;
        if self.clock.now().abs_diff(timestamp) > QUERY_MAX_SKEW_SECS {
            return Err(BankError::StaleQuery);
        }
        self.statement_unchecked(id)
    }

    fn statement_unchecked(&self, id: &str) -> BankResult<AccountStatement> {
        let acct = self
            .storage
            .account(id)?
            .ok_or_else(|| BankError::UnknownAccount(id.to_owned()))?;
        Ok(AccountStatement {
            account_id: id.to_owned(),
            balance: Amount::new(self.settings.currency.clone(), acct.balance),
            ledger: self.storage.ledger(id)?,
        })
    }

    /// `POST /accounts/{id}/certificate`: certifies the account's key under
    /// the name asked for (the operator vets names before turning this on).
    pub fn certify_merchant(
        &self,
        id: &str,
        req: &Signed<MerchantCertRequest>,
    ) -> BankResult<Signed<MerchantCertificate>> {
        let valid = self
            .settings
            .merchant_certificate_secs
            .ok_or(BankError::NoMerchantCertificates)?;
        if req.body.account_id != id {
            return Err(BankError::BadSignature(
                "the request is for another account",
            ));
        }
        let key = self.account_key(id)?;
        req.verify(&key).map_err(|_| {
            BankError::BadSignature("certificate request signature does not verify")
        })?;
        let now = self.clock.now();
        if now.abs_diff(req.body.timestamp) > QUERY_MAX_SKEW_SECS {
            return Err(BankError::StaleQuery);
        }
        let name = req.body.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_LABEL_LEN
            || name.chars().any(char::is_control)
        {
            return Err(BankError::BadMerchantName(MAX_LABEL_LEN));
        }
        let cert = MerchantCertificate {
            merchant_id: id.to_owned(),
            name: name.to_owned(),
            public_key: key,
            bank_id: self.settings.bank_id.clone(),
            // Clocks of shops and payers differ.
            not_before: now.saturating_sub(QUERY_MAX_SKEW_SECS),
            not_after: now.saturating_add(valid),
        };
        Ok(Signed::sign(cert, &self.keys.master))
    }

    /// `POST /accounts/{id}/faucet`: demo credit, only when enabled.
    pub fn faucet(&self, id: &str, req: &FaucetRequest) -> BankResult<AccountStatement> {
        if !self.settings.demo_faucet {
            return Err(BankError::FaucetDisabled);
        }
        self.check_amount(&req.amount)?;
        if req.amount.value == 0 || req.amount.value > self.settings.faucet_max {
            return Err(BankError::FaucetAmount(self.settings.faucet_max));
        }
        self.storage
            .faucet_credit(id, req.amount.value, self.clock.now())?;
        self.statement_unchecked(id)
    }

    /// `POST /coins/state`: which coins are spent.
    pub fn coin_state(&self, req: &CoinStateRequest) -> BankResult<CoinStateResponse> {
        self.check_count(req.coins.len(), "coins")?;
        // A key past its window: the books may have dropped its coins, and
        // "not spent" would be a lie; its coins are worth nothing anyway.
        let (state, now) = (self.keys.current(), self.clock.now());
        if let Some(c) = req.coins.iter().find(|c| {
            !state
                .active
                .get(&c.key_id)
                .is_some_and(|k| k.info.can_deposit(now))
        }) {
            return Err(
                if state.active.contains_key(&c.key_id) || state.expired.contains_key(&c.key_id) {
                    BankError::KeyExpired {
                        key: c.key_id,
                        why: "has expired",
                    }
                } else {
                    BankError::UnknownKey(c.key_id)
                },
            );
        }
        let coins: Vec<_> = req.coins.iter().map(|c| (c.serial, c.key_id)).collect();
        Ok(CoinStateResponse {
            spent: self.storage.spent(&coins)?,
        })
    }

    /// `POST /proofs`: the payer's `payer_code` → bank-signed proof of payment.
    pub fn proof(&self, req: &ProofRequest) -> BankResult<Signed<PaymentProof>> {
        let record = self
            .storage
            .deposit(&req.payment_id)?
            .ok_or(BankError::NoSuchPayment)?;
        if ecash_core::messages::key_hash(&req.payer_code.0) != record.payer_code_hash {
            return Err(BankError::BadPayerCode);
        }
        let payment_info: PaymentInfo = parse_stored(&record.payment_info_json)?;
        let proof = Signed::sign(
            PaymentProof {
                payment_id: req.payment_id,
                payment_info,
                deposited_at: record.deposited_at,
                bank_id: self.settings.bank_id.clone(),
            },
            &self.keys.master,
        );
        self.storage
            .record_proof(&req.payment_id, &to_json(&proof)?, self.clock.now())?;
        Ok(proof)
    }

    /// `POST /restore`: stored blind signatures for re-derived blinded coins.
    pub fn restore(&self, req: &RestoreRequest) -> BankResult<RestoreResponse> {
        use ecash_core::canonical::Canonical;
        self.check_count(req.blinded.len(), "blinded coins")?;
        let hashes: Vec<B32> = req
            .blinded
            .iter()
            .map(|b| Fixed(b.canonical_hash()))
            .collect();
        let sigs = self.storage.blind_signatures(&hashes)?;
        Ok(RestoreResponse {
            blind_signatures: sigs.into_iter().map(|s| s.map(Bytes)).collect(),
        })
    }

    /// Totals of the books.
    pub fn totals(&self) -> BankResult<Totals> {
        Ok(self.storage.totals()?)
    }
}

/// A stored answer replayed for a request with the same id: the same
/// request hash, or the id was reused for another request.
fn replayed<T: serde::de::DeserializeOwned>(a: StoredAnswer, request_hash: &B32) -> BankResult<T> {
    if &a.request_hash != request_hash {
        return Err(BankError::RequestIdReused);
    }
    parse_stored(&a.response_json)
}

fn to_json<T: serde::Serialize>(v: &T) -> BankResult<String> {
    serde_json::to_string(v).map_err(|_| BankError::Internal("could not encode the answer"))
}

fn parse_stored<T: serde::de::DeserializeOwned>(json: &str) -> BankResult<T> {
    serde_json::from_str(json).map_err(|_| {
        tracing::error!("stored answer does not parse");
        BankError::Internal("a stored answer is corrupt")
    })
}
