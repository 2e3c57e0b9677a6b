//! Clearing between mints (NetCash), the network side: each `--peer` is
//! fetched and checked against the pinned certifier and this mint opens
//! its account there; a merchant's payment in a peer's coins is deposited
//! at the peer (the bank's side is [`crate::bank::clearing`]); clearings
//! and settlements left unanswered, by a peer down or a crash, are sent
//! again until they are answered; what peers owe is settled periodically.

use std::sync::Arc;
use std::time::Duration;

use ecash_core::certificate::verify_certified;
use ecash_core::client::{BankClient, CallError};
use ecash_core::messages::{BlindSignatures, DepositAck, ExchangeRequest};
use ecash_core::{ErrorCode, PublicKey, Signed};
use ecash_http::ReqwestTransport;
use tokio::task::JoinHandle;

use crate::bank::clearing::{DepositStep, ExchangeStep, Finished, PeerMint};
use crate::bank::{Bank, BankError, BankResult};
use crate::storage::clearing::{ClearingRecord, SettlementRecord};

/// How long a peer may take to answer one request.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// How often unanswered clearings and settlements are sent again.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The peers to clear with and how.
#[derive(Clone)]
pub struct ClearingLink {
    /// Each peer's base URL.
    pub peers: Vec<String>,
    /// The pinned certifier's key (no clearing without one).
    pub certifier: Option<PublicKey>,
    /// How often peers are checked again.
    pub refresh: Duration,
    /// How often what peers owe is settled.
    pub settle_every: Duration,
    net: ReqwestTransport,
}

impl ClearingLink {
    /// The link, with its own HTTP client.
    pub fn new(
        peers: Vec<String>,
        certifier: Option<PublicKey>,
        refresh: Duration,
        settle_every: Duration,
    ) -> Result<Self, String> {
        let net = ReqwestTransport::with_timeout(PEER_TIMEOUT).map_err(|e| e.to_string())?;
        Ok(Self {
            peers,
            certifier,
            refresh,
            settle_every,
            net,
        })
    }

    fn client(&self, url: &str) -> BankClient<ReqwestTransport> {
        BankClient::new(url, self.net.clone())
    }
}

/// Runs `f` on the bank on a blocking thread.
async fn on_bank<T: Send + 'static>(
    bank: &Arc<Bank>,
    f: impl FnOnce(&Bank) -> BankResult<T> + Send + 'static,
) -> BankResult<T> {
    let bank = bank.clone();
    tokio::task::spawn_blocking(move || f(&bank))
        .await
        .map_err(|_| BankError::Internal("a worker thread failed"))?
}

/// `POST /deposit`, whatever mint issued the coins: the merchant's ack.
pub async fn deposit(
    bank: Arc<Bank>,
    link: &ClearingLink,
    req: Signed<ecash_core::messages::Deposit>,
) -> BankResult<Signed<DepositAck>> {
    match on_bank(&bank, move |b| b.deposit_step(&req)).await? {
        DepositStep::Done(ack) => Ok(ack),
        DepositStep::Clear(rec) => match forward(&bank, link, rec).await? {
            Finished::Deposit(ack) => Ok(ack),
            Finished::Exchange(_) => Err(BankError::RequestIdReused),
        },
    }
}

/// `POST /exchange`, whatever certified mint issued the coins: the new
/// blind signatures.
pub async fn exchange(
    bank: Arc<Bank>,
    link: &ClearingLink,
    req: ExchangeRequest,
) -> BankResult<BlindSignatures> {
    match on_bank(&bank, move |b| b.exchange_step(&req)).await? {
        ExchangeStep::Done(sigs) => Ok(sigs),
        ExchangeStep::Clear(rec) => match forward(&bank, link, rec).await? {
            Finished::Exchange(sigs) => Ok(sigs),
            Finished::Deposit(_) => Err(BankError::RequestIdReused),
        },
    }
}

/// Deposits a journaled clearing at its peer and books the answer: with
/// the peer's ack the merchant is credited; a refusal for good drops it;
/// anything else leaves it journaled, to be sent again.
async fn forward(
    bank: &Arc<Bank>,
    link: &ClearingLink,
    rec: ClearingRecord,
) -> BankResult<Finished> {
    let peer = bank
        .peers()
        .get(&rec.peer_bank_id)
        .ok_or_else(|| BankError::PeerUnavailable(rec.peer_bank_id.clone()))?;
    let deposit: Signed<ecash_core::messages::Deposit> = serde_json::from_str(&rec.forward_json)
        .map_err(|_| BankError::Internal("a journaled clearing is corrupt"))?;
    match link.client(&peer.url).deposit(&deposit).await {
        Ok(ack) => on_bank(bank, move |b| b.finish_clearing(&rec, &ack)).await,
        Err(e) if refused_for_good(&e) => {
            let error = e.refusal().cloned();
            on_bank(bank, move |b| b.refuse_clearing(&rec)).await?;
            let error = error.ok_or(BankError::Internal("a refusal without an error"))?;
            tracing::info!(peer = %peer.url, code = error.code.as_str(), "a peer refused a clearing for good; dropped");
            Err(peer_refusal(peer.bank_id(), &error))
        }
        Err(e) => {
            tracing::warn!(peer = %peer.url, error = %e, "a peer did not take a clearing deposit; it stays journaled");
            Err(BankError::PeerUnavailable(peer.bank_id().to_owned()))
        }
    }
}

/// A peer's refusal as this mint's own: what it says of the coins (spent,
/// invalid, expired) passes with this mint's words; anything else is a
/// refusal of the clearing itself, not the caller's to act on.
fn peer_refusal(bank: &str, error: &ecash_core::ApiError) -> BankError {
    let (code, message) = match error.code {
        ErrorCode::CoinSpent => (ErrorCode::CoinSpent, "some coins are spent there"),
        ErrorCode::InvalidCoin | ErrorCode::DuplicateCoin => {
            (ErrorCode::InvalidCoin, "a coin does not verify there")
        }
        ErrorCode::UnknownKey | ErrorCode::KeyExpired => (
            ErrorCode::KeyExpired,
            "a coin's key is not in its deposit window there",
        ),
        _ => (
            ErrorCode::InvalidField,
            "it does not take these coins from this mint",
        ),
    };
    BankError::PeerRefused {
        bank: bank.to_owned(),
        code,
        message: format!("{message} ({})", error.code.as_str()),
        spent: if code == ErrorCode::CoinSpent {
            error.spent.clone()
        } else {
            Vec::new()
        },
    }
}

/// Whether a peer's answer refuses the deposit for good. This mint's own
/// account or signature refused is this mint's fault, not the coins': it
/// is sent again once the account is open.
fn refused_for_good(e: &CallError) -> bool {
    !e.is_transient()
        && e.refusal().is_some_and(|r| {
            !matches!(
                r.code,
                ErrorCode::UnknownAccount | ErrorCode::BadSignature | ErrorCode::NotFound
            )
        })
}

/// Starts the peer refresh, retry and settlement loops (none on a mint
/// that does not clear).
pub fn start(bank: Arc<Bank>, link: ClearingLink) -> Vec<JoinHandle<()>> {
    if link.certifier.is_none() || bank.clearing_totals().ok().flatten().is_none() {
        return Vec::new();
    }
    vec![
        tokio::spawn(keep_peers(bank.clone(), link.clone())),
        tokio::spawn(keep_clearing(bank, link)),
    ]
}

/// Fetches and checks each peer now and every `refresh`, opening this
/// mint's account there once it holds papers of its own.
async fn keep_peers(bank: Arc<Bank>, link: ClearingLink) {
    let Some(certifier) = link.certifier else {
        return;
    };
    let mut registered = vec![false; link.peers.len()];
    let mut failing = vec![false; link.peers.len()];
    loop {
        for (i, url) in link.peers.iter().enumerate() {
            let outcome = check_peer(&bank, &link, url, &certifier, &mut registered[i]).await;
            if outcome.is_err() {
                // No new clearing with a peer whose papers did not check out.
                bank.peers().suspend(url);
            }
            match outcome {
                Ok(()) if failing[i] => {
                    tracing::info!(peer = %url, "clearing with the peer again");
                    failing[i] = false;
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing[i] {
                        tracing::warn!(peer = %url, error = %e, "cannot clear with the peer now");
                    }
                    failing[i] = true;
                }
            }
        }
        let wait = if failing.iter().any(|f| *f) || registered.iter().any(|r| !r) {
            link.refresh.min(RETRY_EVERY)
        } else {
            link.refresh
        };
        tokio::time::sleep(wait).await;
    }
}

/// One round for one peer: its certified key set, then this mint's account.
async fn check_peer(
    bank: &Arc<Bank>,
    link: &ClearingLink,
    url: &str,
    certifier: &PublicKey,
    registered: &mut bool,
) -> Result<(), String> {
    let client = link.client(url);
    let answer = client.keys().await.map_err(|e| e.to_string())?;
    // Against the newest revocation list this mint holds too: a revoked
    // peer relays an old one.
    let known = bank.certified().papers().map(|p| p.revocations);
    let checked = verify_certified(&answer, url, certifier, known.as_ref(), bank.clock().now())
        .map_err(|e| e.to_string())?;
    if checked.revocations_stale {
        return Err("the newest revocation list at hand is past its update".into());
    }
    if checked.keys.set.bank_id == bank.settings().bank_id {
        return Err("the peer names itself with this mint's bank id".into());
    }
    let own = bank.keys().current();
    if checked
        .keys
        .keys
        .keys()
        .any(|k| own.active.contains_key(k) || own.expired.contains_key(k))
    {
        return Err("the peer lists a denomination key of this mint".into());
    }
    if checked.keys.set.currency != bank.settings().currency {
        return Err("the peer's currency is not this mint's".into());
    }
    if checked.certificate.master_public_key == bank.keys().master.public() {
        return Err("the peer is this mint".into());
    }
    bank.peers().install(PeerMint {
        url: url.to_owned(),
        certificate: checked.certificate,
        keys: checked.keys,
    })?;
    if !*registered {
        let req = bank
            .peer_registration()
            .ok_or("this mint holds no certificate yet")?;
        client
            .register_peer(&req)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(peer = %url, "clearing account open at the peer");
        *registered = true;
    }
    Ok(())
}

/// Sends unanswered clearings and settlements again every few seconds,
/// and settles what each peer owes: first once every peer is known and the
/// journal is empty after a start (what a restart finished is settled at
/// once), then every `settle_every`.
async fn keep_clearing(bank: Arc<Bank>, link: ClearingLink) {
    let mut last_settled: Option<tokio::time::Instant> = None;
    loop {
        // Peers left with journaled clearings this round: a peer that does
        // not answer is skipped for the round, and is not settled yet.
        let mut waiting: std::collections::HashSet<String> = Default::default();
        if let Ok(pending) = on_bank(&bank, |b| b.pending_clearings()).await {
            for rec in pending {
                if waiting.contains(&rec.peer_bank_id) {
                    continue;
                }
                let (id, peer) = (rec.payment_id.to_b64(), rec.peer_bank_id.clone());
                match forward(&bank, &link, rec).await {
                    Ok(_) => tracing::info!(payment = %id, "journaled clearing finished"),
                    Err(BankError::PeerUnavailable(_)) => {
                        waiting.insert(peer);
                    }
                    Err(e) => {
                        tracing::warn!(payment = %id, error = %e, "journaled clearing refused")
                    }
                }
            }
        }
        if let Ok(pending) = on_bank(&bank, |b| b.pending_settlements()).await {
            for rec in pending {
                send_settlement(&bank, &link, rec).await;
            }
        }
        let due = match last_settled {
            Some(t) => t.elapsed() >= link.settle_every,
            None => waiting.is_empty() && link.peers.iter().all(|u| known_peer(&bank, u).is_some()),
        };
        if due {
            last_settled = Some(tokio::time::Instant::now());
            settle_all(&bank, &link, &waiting).await;
        }
        tokio::time::sleep(RETRY_EVERY.min(link.settle_every)).await;
    }
}

/// Settles what each peer owes, one statement each (not yet with those
/// `waiting` on journaled clearings).
async fn settle_all(
    bank: &Arc<Bank>,
    link: &ClearingLink,
    waiting: &std::collections::HashSet<String>,
) {
    for url in &link.peers {
        let Some(peer) = known_peer(bank, url) else {
            continue;
        };
        if waiting.contains(peer.bank_id()) {
            continue;
        }
        let bank_id = peer.bank_id().to_owned();
        match on_bank(bank, move |b| b.begin_payee_settlement(&bank_id)).await {
            Ok(Some(rec)) => send_settlement(bank, link, rec).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(peer = %url, error = %e, "cannot settle with the peer"),
        }
    }
}

/// The peer installed for `url`, if any.
fn known_peer(bank: &Bank, url: &str) -> Option<Arc<PeerMint>> {
    bank.peers().all().into_iter().find(|p| p.url == url)
}

/// Sends a payee settlement and records the statement that answers it.
async fn send_settlement(bank: &Arc<Bank>, link: &ClearingLink, rec: SettlementRecord) {
    let Some(peer) = bank.peers().get(&rec.peer_bank_id) else {
        return;
    };
    let req = match serde_json::from_str(&rec.request_json) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("a journaled settlement is corrupt");
            return;
        }
    };
    match link.client(&peer.url).settle(&req).await {
        Ok(statement) => {
            let amount = rec.amount;
            match on_bank(bank, move |b| b.finish_payee_settlement(&rec, &statement)).await {
                Ok(()) => tracing::info!(peer = %peer.url, amount, "settled"),
                Err(e) => {
                    tracing::error!(peer = %peer.url, error = %e, "a settlement statement was refused")
                }
            }
        }
        Err(e) if refused_for_good(&e) => {
            tracing::error!(peer = %peer.url, error = %e, "a settlement was refused; it is dropped and settled again later");
            if let Err(e) = on_bank(bank, move |b| b.refuse_payee_settlement(&rec)).await {
                tracing::error!(error = %e, "dropping a refused settlement failed");
            }
        }
        Err(e) => tracing::warn!(peer = %peer.url, error = %e, "a settlement is not answered yet"),
    }
}
