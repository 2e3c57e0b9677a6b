//! Bank logic: every flow of the mint, over [`Storage`] and [`MintKeys`].
//! Synchronous on purpose: HTTP handlers run it on blocking threads, and
//! tests and the demo shop can call it directly.
//!
//! Every method checks everything it can before it touches storage, so a
//! refused request changes nothing. Serials are never logged.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecash_core::canonical::{Canonical, sha256};
use ecash_core::messages::*;
use ecash_core::spent::SpentList;
use ecash_core::{
    Amount, ApiError, B32, BlindedCoin, Bytes, Coin, Currency, ErrorCode, Fixed, PublicKey,
    Signature, Signed,
};
use ecash_core::{blind_rsa, envelope};

use crate::in_flight::InFlight;
use crate::keys::{DenomKey, KeyState, MintKeys};
use crate::storage::*;

/// Result of a bank operation; the error is the wire error.
pub type BankResult<T> = Result<T, ApiError>;

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
}

/// From this many coins on, signatures are verified in parallel (see `check_coins`).
const PARALLEL_VERIFY_MIN: usize = 2;

/// Counts of the bank's costly work, for operators (`/metrics` when enabled)
/// and for tests that prove a refused request did none of it.
#[derive(Debug, Default)]
pub struct Metrics {
    /// RSA private-key operations of blind signing.
    pub blind_signatures: AtomicU64,
    /// RSA private-key operations unwrapping payment envelopes.
    pub envelope_unwraps: AtomicU64,
    /// Coin signatures checked (public-key operations).
    pub coin_checks: AtomicU64,
    /// Spent lists built.
    pub spent_lists_built: AtomicU64,
}

impl Metrics {
    /// The counters in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, v) in [
            (
                "mint_blind_signatures_total",
                "RSA private-key operations of blind signing",
                &self.blind_signatures,
            ),
            (
                "mint_envelope_unwraps_total",
                "RSA private-key operations unwrapping payment envelopes",
                &self.envelope_unwraps,
            ),
            (
                "mint_coin_checks_total",
                "coin signatures checked",
                &self.coin_checks,
            ),
            (
                "mint_spent_lists_built_total",
                "spent lists built",
                &self.spent_lists_built,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// A deposit after [`Bank::open_deposit`].
pub enum Opened {
    /// The payment was deposited before: its ack.
    Deposited(Signed<DepositAck>),
    /// Checked and opened, ready to commit.
    Ready(Box<NewDeposit>),
}

/// A built spent list, kept until it is older than the configured age.
struct CachedList {
    built: std::time::Instant,
    json: Arc<String>,
}

/// The mint.
pub struct Bank {
    storage: Arc<dyn Storage>,
    keys: Arc<MintKeys>,
    settings: BankSettings,
    /// RSA signing runs here, apart from the HTTP workers and the blocking pool.
    signing_pool: rayon::ThreadPool,
    metrics: Metrics,
    /// Spent lists by key id; one build serves every client until it is stale.
    spent_lists: Mutex<HashMap<B32, CachedList>>,
    /// Accounts a withdrawal is being signed for.
    busy_accounts: InFlight<String>,
    /// Coins an exchange or deposit is spending.
    busy_coins: InFlight<B32>,
    /// Request ids of withdrawals and exchanges being signed.
    busy_requests: InFlight<B32>,
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn err(code: ErrorCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(code, msg)
}

fn in_progress(what: &str) -> ApiError {
    err(
        ErrorCode::InProgress,
        format!("another request is working on {what} right now; retry shortly"),
    )
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::AccountExists => err(ErrorCode::AccountExists, "account exists"),
            StorageError::UnknownAccount(id) => {
                err(ErrorCode::UnknownAccount, format!("no account {id}"))
            }
            StorageError::InsufficientFunds { balance, needed } => err(
                ErrorCode::InsufficientFunds,
                format!("insufficient funds: balance {balance}, needed {needed}"),
            ),
            StorageError::Spent(serials) => {
                let mut e = err(
                    ErrorCode::CoinSpent,
                    format!("{} coin(s) already spent", serials.len()),
                );
                e.spent = serials;
                e
            }
            StorageError::RequestIdReused => err(
                ErrorCode::RequestIdReused,
                "request id was used for a different request",
            ),
            StorageError::Overflow => err(ErrorCode::InvalidField, "amount too large"),
            StorageError::Db(msg) => {
                tracing::error!(%msg, "storage failure");
                err(ErrorCode::Internal, "storage failure; nothing was changed")
            }
        }
    }
}

/// A coin checked against the keys: its key and value.
struct CheckedCoin<'a> {
    coin: &'a Coin,
    value: u64,
}

impl Bank {
    /// A bank over `storage` and `keys`.
    pub fn new(
        storage: Arc<dyn Storage>,
        keys: Arc<MintKeys>,
        settings: BankSettings,
    ) -> Result<Self, String> {
        let signing_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(settings.signing_threads)
            .thread_name(|i| format!("blind-signer-{i}"))
            .build()
            .map_err(|e| format!("starting the signing pool: {e}"))?;
        Ok(Self {
            storage,
            keys,
            settings,
            signing_pool,
            metrics: Metrics::default(),
            spent_lists: Mutex::new(HashMap::new()),
            busy_accounts: InFlight::default(),
            busy_coins: InFlight::default(),
            busy_requests: InFlight::default(),
        })
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

    /// Storage (for health checks and shutdown).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The signed key set, as JSON.
    pub fn key_set_json(&self) -> String {
        self.keys.current().signed_json.clone()
    }

    fn check_amount(&self, a: &Amount) -> BankResult<()> {
        if a.currency != self.settings.currency {
            return Err(err(
                ErrorCode::InvalidField,
                format!(
                    "currency {} is not this bank's {}",
                    a.currency, self.settings.currency
                ),
            ));
        }
        Ok(())
    }

    fn check_count(&self, n: usize, what: &str) -> BankResult<()> {
        if n == 0 {
            return Err(err(
                ErrorCode::InvalidField,
                format!("no {what} in request"),
            ));
        }
        if n > self.settings.max_coins {
            return Err(err(
                ErrorCode::TooManyCoins,
                format!(
                    "{n} {what}; at most {} per request",
                    self.settings.max_coins
                ),
            ));
        }
        Ok(())
    }

    fn account_key(&self, id: &str) -> BankResult<PublicKey> {
        let acct = self
            .storage
            .account(id)?
            .ok_or_else(|| err(ErrorCode::UnknownAccount, format!("no account {id}")))?;
        Ok(PublicKey(Fixed(acct.public_key)))
    }

    /// `POST /accounts`: registers the key that signed the request. Registering
    /// the same key again answers the same id.
    pub fn register(&self, req: &Signed<RegisterAccount>) -> BankResult<AccountCreated> {
        req.verify(&req.body.public_key).map_err(|_| {
            err(
                ErrorCode::BadSignature,
                "registration is not signed by the key it registers",
            )
        })?;
        if req.body.label.chars().count() > MAX_LABEL_LEN {
            return Err(err(
                ErrorCode::InvalidField,
                format!("label longer than {MAX_LABEL_LEN} characters"),
            ));
        }
        let id = account_id(&req.body.public_key);
        match self.storage.create_account(
            &id,
            &req.body.public_key.0.0,
            &req.body.label,
            unix_now(),
        ) {
            Ok(()) => Ok(AccountCreated { account_id: id }),
            Err(StorageError::AccountExists) => Ok(AccountCreated { account_id: id }),
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
        key.verify(&q, sig).map_err(|_| {
            err(
                ErrorCode::BadSignature,
                "account query signature does not verify",
            )
        })?;
        if unix_now().abs_diff(timestamp) > QUERY_MAX_SKEW_SECS {
            return Err(err(
                ErrorCode::StaleRequest,
                "query timestamp too far from the bank's clock",
            ));
        }
        self.statement_unchecked(id)
    }

    fn statement_unchecked(&self, id: &str) -> BankResult<AccountStatement> {
        let acct = self
            .storage
            .account(id)?
            .ok_or_else(|| err(ErrorCode::UnknownAccount, format!("no account {id}")))?;
        Ok(AccountStatement {
            account_id: id.to_owned(),
            balance: Amount::new(self.settings.currency.clone(), acct.balance),
            ledger: self.storage.ledger(id)?,
        })
    }

    /// `POST /accounts/{id}/faucet`: demo credit, only when enabled.
    pub fn faucet(&self, id: &str, req: &FaucetRequest) -> BankResult<AccountStatement> {
        if !self.settings.demo_faucet {
            return Err(err(
                ErrorCode::FaucetDisabled,
                "the demo faucet is off on this bank",
            ));
        }
        self.check_amount(&req.amount)?;
        if req.amount.value == 0 || req.amount.value > self.settings.faucet_max {
            return Err(err(
                ErrorCode::InvalidField,
                format!("faucet amount must be 1..={}", self.settings.faucet_max),
            ));
        }
        self.storage
            .faucet_credit(id, req.amount.value, unix_now())?;
        self.statement_unchecked(id)
    }

    /// The key that may sign new coins now, or why not.
    fn withdraw_key<'a>(
        &self,
        state: &'a KeyState,
        key_id: &B32,
        now: u64,
    ) -> BankResult<&'a Arc<DenomKey>> {
        match state.active.get(key_id) {
            Some(k) if k.info.can_withdraw(now) => Ok(k),
            Some(_) => Err(err(
                ErrorCode::KeyExpired,
                format!("key {key_id} does not sign new coins now"),
            )),
            None if state.expired.contains_key(key_id) => Err(err(
                ErrorCode::KeyExpired,
                format!("key {key_id} has expired"),
            )),
            None => Err(err(ErrorCode::UnknownKey, format!("unknown key {key_id}"))),
        }
    }

    /// The withdrawable key of every blinded coin, after the checks its
    /// signing would make (length, `0 < m < n`): a request refused for any
    /// of them costs the bank no private-key operation.
    fn signable<'a>(
        &self,
        state: &'a KeyState,
        coins: &[BlindedCoin],
        now: u64,
    ) -> BankResult<Vec<&'a Arc<DenomKey>>> {
        coins
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let k = self.withdraw_key(state, &c.key_id, now)?;
                blind_rsa::check_blinded_msg(&k.public, &c.blinded_msg.0).map_err(|e| {
                    err(
                        ErrorCode::InvalidField,
                        format!("blinded coin {} refused: {e}", i + 1),
                    )
                })?;
                Ok(k)
            })
            .collect()
    }

    /// Signs every blinded coin with the keys [`Bank::signable`] checked, in order.
    fn sign_all(
        &self,
        coins: &[BlindedCoin],
        keys: Vec<&Arc<DenomKey>>,
    ) -> BankResult<Vec<(B32, Vec<u8>)>> {
        // RSA signing dominates a withdrawal: spread it over all cores on the
        // bank's own signing pool, apart from the HTTP workers and the blocking pool.
        use rayon::prelude::*;
        self.signing_pool.install(|| {
            coins
                .par_iter()
                .zip(keys)
                .map(|(c, k)| {
                    self.metrics
                        .blind_signatures
                        .fetch_add(1, Ordering::Relaxed);
                    let sig = k.signer.blind_sign(&c.blinded_msg.0).map_err(|e| match e {
                        blind_rsa::BlindRsaError::SigningFailed => {
                            tracing::error!("blind signing failed its own check");
                            err(ErrorCode::Internal, "signing failed; nothing was changed")
                        }
                        other => err(
                            ErrorCode::InvalidField,
                            format!("blinded message refused: {other}"),
                        ),
                    })?;
                    Ok((Fixed(c.canonical_hash()), sig))
                })
                .collect()
        })
    }

    /// The value of blinded coins signed with `keys`.
    fn blinded_total(keys: &[&Arc<DenomKey>]) -> BankResult<u64> {
        keys.iter().try_fold(0u64, |acc, k| {
            acc.checked_add(k.info.value.value)
                .ok_or_else(|| err(ErrorCode::InvalidField, "total overflows"))
        })
    }

    /// `POST /withdraw`: verify, debit once, sign every blinded coin.
    pub fn withdraw(&self, req: &Signed<WithdrawRequest>) -> BankResult<BlindSignatures> {
        let body = &req.body;
        self.check_count(body.coins.len(), "coins")?;
        let key = self.account_key(&body.account_id)?;
        req.verify(&key).map_err(|_| {
            err(
                ErrorCode::BadSignature,
                "withdraw request signature does not verify",
            )
        })?;
        let request_hash = Fixed(body.canonical_hash());
        if let Some(a) = self.storage.withdrawal(&body.request_id)? {
            return replayed(a, &request_hash);
        }
        self.check_amount(&body.amount)?;
        let now = unix_now();
        let state = self.keys.current();
        let keys = self.signable(&state, &body.coins, now)?;
        // One withdrawal of an account signs at a time: a second one sees the
        // first's debit in the balance check below, before any signing. And
        // one request id: its second sender gets the first's answer, later.
        let _held = self
            .busy_accounts
            .take(std::slice::from_ref(&body.account_id))
            .ok_or_else(|| in_progress("this account"))?;
        let _request = self
            .busy_requests
            .take(&[body.request_id])
            .ok_or_else(|| in_progress("this request id"))?;
        // Its first sender may have finished while this one waited.
        if let Some(a) = self.storage.withdrawal(&body.request_id)? {
            return replayed(a, &request_hash);
        }
        let total = Self::blinded_total(&keys)?;
        if total != body.amount.value {
            return Err(err(
                ErrorCode::AmountMismatch,
                format!(
                    "coins add up to {total}, request says {}",
                    body.amount.value
                ),
            ));
        }
        // Cheap early refusal before the costly signing; storage re-checks atomically.
        let balance = self
            .storage
            .account(&body.account_id)?
            .map(|a| a.balance)
            .unwrap_or(0);
        if balance < total {
            return Err(StorageError::InsufficientFunds {
                balance,
                needed: total,
            }
            .into());
        }
        let signatures = self.sign_all(&body.coins, keys)?;
        let response = blind_signatures_answer(body.request_id, &signatures);
        let stored = self.storage.commit_withdrawal(&NewWithdrawal {
            request_id: body.request_id,
            request_hash,
            account_id: body.account_id.clone(),
            amount: total,
            signatures,
            response_json: to_json(&response)?,
            now,
        })?;
        parse_stored(&stored.response_json)
    }

    /// Checks coins for deposit or exchange: known key inside its deposit
    /// window, valid signature, no serial twice. Returns each coin's value.
    fn check_coins<'a>(
        &self,
        state: &KeyState,
        coins: &'a [Coin],
        now: u64,
    ) -> BankResult<Vec<CheckedCoin<'a>>> {
        let mut seen = HashSet::new();
        if let Some(c) = coins.iter().find(|c| !seen.insert(c.serial)) {
            return Err(err(
                ErrorCode::DuplicateCoin,
                format!("a coin of key {} appears twice", c.key_id),
            ));
        }
        let check = |coin: &'a Coin| -> BankResult<CheckedCoin<'a>> {
            let k = match state.active.get(&coin.key_id) {
                Some(k) if k.info.can_deposit(now) => k,
                Some(_) => {
                    return Err(err(ErrorCode::KeyExpired, "coin of a key not yet valid"));
                }
                None if state.expired.contains_key(&coin.key_id) => {
                    return Err(err(
                        ErrorCode::KeyExpired,
                        format!("coin of expired key {}", coin.key_id),
                    ));
                }
                None => {
                    return Err(err(
                        ErrorCode::UnknownKey,
                        format!("coin of unknown key {}", coin.key_id),
                    ));
                }
            };
            self.metrics.coin_checks.fetch_add(1, Ordering::Relaxed);
            k.signer
                .verify_coin(coin)
                .map_err(|_| err(ErrorCode::InvalidCoin, "coin signature does not verify"))?;
            Ok(CheckedCoin {
                coin,
                value: k.info.value.value,
            })
        };
        // Coins are checked on the signing pool's cores. Even for an 8-coin
        // payment this beats checking them on the request's thread
        // (mint-bench: ~16.5k vs ~13.7k deposited coins/s on 2 cores).
        if coins.len() < PARALLEL_VERIFY_MIN {
            return coins.iter().map(check).collect();
        }
        use rayon::prelude::*;
        self.signing_pool
            .install(|| coins.par_iter().map(check).collect())
    }

    /// `POST /deposit`: open the payment, check binding, merchant and coins,
    /// then record all serials and credit the merchant in one transaction.
    pub fn deposit(&self, req: &Signed<Deposit>) -> BankResult<Signed<DepositAck>> {
        match self.open_deposit(req)? {
            Opened::Deposited(ack) => Ok(ack),
            Opened::Ready(d) => self.commit_opened(&d),
        }
    }

    /// The first half of a deposit: every check, the envelope opened, the
    /// ack signed; nothing recorded. A shop calls this before it claims the
    /// order for the payment, so a payment that cannot be deposited never
    /// holds an order; [`Bank::commit_opened`] finishes it.
    pub fn open_deposit(&self, req: &Signed<Deposit>) -> BankResult<Opened> {
        let body = &req.body;
        let info = &body.payment.payment_info;
        let key = self.account_key(&body.merchant_acc_id)?;
        req.verify(&key)
            .map_err(|_| err(ErrorCode::BadSignature, "deposit signature does not verify"))?;
        if body.merchant_acc_id != info.merchant_acc_id
            || info.merchant_bank_id != self.settings.bank_id
        {
            return Err(err(
                ErrorCode::WrongMerchant,
                "the payment is made out to another merchant",
            ));
        }
        let payment_id = body.payment.payment_id();
        if let Some(r) = self.storage.deposit(&payment_id)? {
            return Ok(Opened::Deposited(parse_stored(&r.ack_json)?));
        }
        if info.bank_id != self.settings.bank_id {
            return Err(err(ErrorCode::InvalidField, "payment is for another bank"));
        }
        self.check_amount(&info.amount)?;
        self.check_count(info.ncoins as usize, "coins")?;
        let info_hash = info.canonical_hash();
        let sealed = &body.payment.sealed_coins;
        // Cheap refusal first: one byte form per envelope, and no RSA work for a wrong one.
        envelope::check_wrapped_len(&sealed.wrapped_key.0, self.keys.envelope_len())
            .map_err(|e| err(ErrorCode::EnvelopeInvalid, e.to_string()))?;
        self.metrics
            .envelope_unwraps
            .fetch_add(1, Ordering::Relaxed);
        let plain = self
            .keys
            .envelope
            .unwrap_key(&sealed.wrapped_key.0)
            .and_then(|aes| envelope::open_with_key(&aes, sealed, &info_hash))
            .map_err(|e| err(ErrorCode::EnvelopeInvalid, e.to_string()))?;
        let bundle: CoinBundle = serde_json::from_slice(&plain).map_err(|_| {
            err(
                ErrorCode::EnvelopeInvalid,
                "envelope does not hold a coin bundle",
            )
        })?;
        if bundle.payment_info_hash.0 != info_hash {
            return Err(err(
                ErrorCode::EnvelopeInvalid,
                "coins are bound to another payment_info",
            ));
        }
        if bundle.coins.len() != info.ncoins as usize {
            return Err(err(
                ErrorCode::AmountMismatch,
                "ncoins does not match the coins sealed",
            ));
        }
        let now = unix_now();
        let state = self.keys.current();
        let checked = self.check_coins(&state, &bundle.coins, now)?;
        let total = checked.iter().try_fold(0u64, |a, c| a.checked_add(c.value));
        if total != Some(info.amount.value) {
            return Err(err(
                ErrorCode::AmountMismatch,
                "coins do not add up to the payment amount",
            ));
        }
        // Spent coins are refused here already, so a payment of spent coins
        // never holds a shop's order; the commit checks again atomically.
        let serials: Vec<B32> = checked.iter().map(|c| c.coin.serial).collect();
        self.refuse_spent(&serials)?;
        let ack = Signed::sign(
            DepositAck {
                result: "accepted".into(),
                payment_id,
                amount: info.amount.clone(),
                merchant_acc_id: body.merchant_acc_id.clone(),
                bank_id: self.settings.bank_id.clone(),
                deposited_at: now,
            },
            &self.keys.master,
        );
        Ok(Opened::Ready(Box::new(NewDeposit {
            payment_id,
            merchant_acc_id: body.merchant_acc_id.clone(),
            amount: info.amount.value,
            spent: checked
                .iter()
                .map(|c| (c.coin.serial, c.coin.key_id))
                .collect(),
            payer_code_hash: info.payer_code_hash,
            payment_info_json: to_json(info)?,
            ack_json: to_json(&ack)?,
            now,
        })))
    }

    /// The second half of a deposit: records the serials and credits the
    /// merchant, once; a coin spent meanwhile refuses it whole.
    pub fn commit_opened(&self, d: &NewDeposit) -> BankResult<Signed<DepositAck>> {
        let serials: Vec<B32> = d.spent.iter().map(|(s, _)| *s).collect();
        let _held = self
            .busy_coins
            .take(&serials)
            .ok_or_else(|| in_progress("these coins"))?;
        let record = self.storage.commit_deposit(d)?;
        parse_stored(&record.ack_json)
    }

    /// Refuses with `coin_spent` (naming them) if any of these coins is spent.
    fn refuse_spent(&self, serials: &[B32]) -> BankResult<()> {
        let spent: Vec<B32> = self
            .storage
            .spent(serials)?
            .into_iter()
            .zip(serials)
            .filter_map(|(is_spent, s)| is_spent.then_some(*s))
            .collect();
        if spent.is_empty() {
            Ok(())
        } else {
            Err(StorageError::Spent(spent).into())
        }
    }

    /// The bank's ack of this payment, if it was deposited.
    pub fn deposited(&self, payment_id: &B32) -> BankResult<Option<Signed<DepositAck>>> {
        self.storage
            .deposit(payment_id)?
            .map(|r| parse_stored(&r.ack_json))
            .transpose()
    }

    /// `POST /exchange`: coins in, new blind signatures of the same total out.
    pub fn exchange(&self, req: &ExchangeRequest) -> BankResult<BlindSignatures> {
        self.check_count(req.coins.len(), "coins")?;
        self.check_count(req.outputs.len(), "outputs")?;
        let request_hash = Fixed(req.canonical_hash());
        if let Some(a) = self.storage.exchange(&req.request_id)? {
            return replayed(a, &request_hash);
        }
        let now = unix_now();
        let state = self.keys.current();
        let keys = self.signable(&state, &req.outputs, now)?;
        let total_out = Self::blinded_total(&keys)?;
        let checked = self.check_coins(&state, &req.coins, now)?;
        let total_in = checked.iter().try_fold(0u64, |a, c| a.checked_add(c.value));
        if total_in != Some(total_out) {
            return Err(err(
                ErrorCode::AmountMismatch,
                "outputs must add up to exactly the coins given",
            ));
        }
        // Spent coins are refused before any signing, so a spent coin cannot
        // buy private-key work; the commit below checks again atomically.
        // Coins another request is spending wait for it.
        let serials: Vec<B32> = checked.iter().map(|c| c.coin.serial).collect();
        let _held = self
            .busy_coins
            .take(&serials)
            .ok_or_else(|| in_progress("these coins"))?;
        let _request = self
            .busy_requests
            .take(&[req.request_id])
            .ok_or_else(|| in_progress("this request id"))?;
        // Its first sender may have finished while this one waited: the
        // coins are spent by that very request, so answer as it was.
        if let Some(a) = self.storage.exchange(&req.request_id)? {
            return replayed(a, &request_hash);
        }
        self.refuse_spent(&serials)?;
        let signatures = self.sign_all(&req.outputs, keys)?;
        let response = blind_signatures_answer(req.request_id, &signatures);
        let stored = self.storage.commit_exchange(&NewExchange {
            request_id: req.request_id,
            request_hash,
            spent: checked
                .iter()
                .map(|c| (c.coin.serial, c.coin.key_id))
                .collect(),
            signatures,
            response_json: to_json(&response)?,
            now,
        })?;
        parse_stored(&stored.response_json)
    }

    /// `POST /coins/state`: which serials are spent.
    pub fn coin_state(&self, req: &CoinStateRequest) -> BankResult<CoinStateResponse> {
        self.check_count(req.serials.len(), "serials")?;
        Ok(CoinStateResponse {
            spent: self.storage.spent(&req.serials)?,
        })
    }

    /// `GET /keys/{key_id}/spent`: the signed list of every serial spent
    /// under a key, the same for every client. Built at most once per
    /// `spent_list_max_age`, so asking for it is cheap and reveals nothing.
    pub fn spent_list(&self, key_id: &B32) -> BankResult<Arc<String>> {
        let state = self.keys.current();
        if !state.active.contains_key(key_id) {
            return Err(if state.expired.contains_key(key_id) {
                err(
                    ErrorCode::KeyExpired,
                    format!("key {key_id} has expired; its coins are worth nothing"),
                )
            } else {
                err(ErrorCode::UnknownKey, format!("unknown key {key_id}"))
            });
        }
        let fresh = |lists: &HashMap<B32, CachedList>| {
            lists
                .get(key_id)
                .filter(|c| c.built.elapsed() < self.settings.spent_list_max_age)
                .map(|c| c.json.clone())
        };
        let lists = self
            .spent_lists
            .lock()
            .map_err(|_| err(ErrorCode::Internal, "spent list cache poisoned"))?;
        if let Some(json) = fresh(&lists) {
            return Ok(json);
        }
        // Built under the lock: many clients asking at once cause one build.
        let mut lists = lists;
        let serials = self.storage.spent_serials(key_id)?;
        let list = SpentList::build(*key_id, &serials, unix_now(), &self.keys.master);
        self.metrics
            .spent_lists_built
            .fetch_add(1, Ordering::Relaxed);
        let json = Arc::new(to_json(&list)?);
        lists.retain(|k, _| state.active.contains_key(k));
        lists.insert(
            *key_id,
            CachedList {
                built: std::time::Instant::now(),
                json: json.clone(),
            },
        );
        Ok(json)
    }

    /// `POST /proofs`: the payer's `payer_code` → bank-signed proof of payment.
    pub fn proof(&self, req: &ProofRequest) -> BankResult<Signed<PaymentProof>> {
        let record = self
            .storage
            .deposit(&req.payment_id)?
            .ok_or_else(|| err(ErrorCode::NotFound, "no deposited payment with this id"))?;
        if Fixed(sha256(&req.payer_code.0)) != record.payer_code_hash {
            return Err(err(
                ErrorCode::BadPayerCode,
                "payer code does not match this payment",
            ));
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
            .record_proof(&req.payment_id, &to_json(&proof)?, unix_now())?;
        Ok(proof)
    }

    /// `POST /restore`: stored blind signatures for re-derived blinded coins.
    pub fn restore(&self, req: &RestoreRequest) -> BankResult<RestoreResponse> {
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

/// The answer to a withdraw or exchange: its blind signatures in request order.
fn blind_signatures_answer(request_id: B32, signatures: &[(B32, Vec<u8>)]) -> BlindSignatures {
    BlindSignatures {
        request_id,
        blind_signatures: signatures.iter().map(|(_, s)| Bytes(s.clone())).collect(),
    }
}

fn replayed<T: serde::de::DeserializeOwned>(a: StoredAnswer, request_hash: &B32) -> BankResult<T> {
    if &a.request_hash != request_hash {
        return Err(StorageError::RequestIdReused.into());
    }
    parse_stored(&a.response_json)
}

fn to_json<T: serde::Serialize>(v: &T) -> BankResult<String> {
    serde_json::to_string(v).map_err(|_| err(ErrorCode::Internal, "could not encode answer"))
}

fn parse_stored<T: serde::de::DeserializeOwned>(json: &str) -> BankResult<T> {
    serde_json::from_str(json).map_err(|_| {
        tracing::error!("stored answer does not parse");
        err(ErrorCode::Internal, "stored answer is corrupt")
    })
}
