//! Offline spending, with no bank: the purse picks coins that make the
//! amount exactly (offline coins give no change), builds each coin's spend
//! for one of the payee's requests, and asks the observer to authorize it;
//! the coin leaves the purse in that same step. To a shop the spends go
//! over its offline endpoint; to another wallet they travel as a token.

use ecash_core::api;
use ecash_core::offline::messages::MAX_BATCH;
use ecash_core::offline::{OfflineCoin, PaymentRequest, Spend};
use serde::{Deserialize, Serialize};

use super::super::Wallet;
use super::super::batch::Batch;
use super::super::keys::Single;
use super::{
    Book, Destination, Observer, OfflineCoinRecord, SoftwareObserver, SpentRecord, coin_key, put,
    spent_key,
};
use crate::error::WalletError;
use crate::records::Event;
use crate::store::{Store, Write};
use crate::transport::Transport;

/// Prefix of an offline payment token (versioned).
pub const TOKEN_PREFIX: &str = "ecashoff1";
/// Largest token accepted, in characters (64 spends of about 7 kB).
const MAX_TOKEN_LEN: usize = 640 * 1024;

const TOKEN: super::Text = super::Text {
    prefix: TOKEN_PREFIX,
    max: MAX_TOKEN_LEN,
    what: "an offline payment token",
    err: WalletError::Token,
};

/// What an offline payment token carries: spends answering the receiver's
/// requests. They pay only that receiver (its id is in every challenge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflinePayment {
    /// The bank whose offline keys signed the coins.
    pub bank_id: String,
    /// One spend per coin.
    pub spends: Vec<Spend>,
}

impl OfflinePayment {
    /// The token text.
    pub fn encode(&self) -> Result<String, WalletError> {
        TOKEN.encode(self)
    }

    /// Reads a token; surrounding whitespace is ignored.
    pub fn decode(text: &str) -> Result<Self, WalletError> {
        let p: Self = TOKEN.decode(text)?;
        if p.spends.is_empty() || p.spends.len() > MAX_BATCH {
            return Err(WalletError::Token(format!(
                "an offline token carries 1 to {MAX_BATCH} spends"
            )));
        }
        Ok(p)
    }
}

/// An offline payment made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineSpent {
    /// Value paid, minor units.
    pub amount: u64,
    /// Coins spent.
    pub coins: usize,
    /// The token to hand the receiving wallet (none for a shop).
    pub token: Option<String>,
}

/// Coins of the purse that make `amount` exactly, at most `max` of them,
/// soonest-closing first where there is a choice; none if no such set exists.
pub(crate) fn select(
    coins: &[OfflineCoinRecord],
    amount: u64,
    max: usize,
) -> Option<Vec<OfflineCoinRecord>> {
    let mut sorted: Vec<&OfflineCoinRecord> = coins.iter().collect();
    // Largest first; within a value, soonest-closing first.
    sorted.sort_by(|a, b| {
        b.value
            .cmp(&a.value)
            .then(a.deposit_until.cmp(&b.deposit_until))
    });
    // Depth-first search for an exact sum with the fewest coins first tried
    // (values are powers of two, so the greedy branch nearly always wins at once).
    fn go<'a>(
        rest: &[&'a OfflineCoinRecord],
        left: u64,
        max: usize,
        picked: &mut Vec<&'a OfflineCoinRecord>,
        budget: &mut u32,
    ) -> bool {
        if left == 0 {
            return true;
        }
        if picked.len() == max || *budget == 0 {
            return false;
        }
        *budget -= 1;
        let reachable: u64 = rest.iter().map(|c| c.value).sum();
        if reachable < left {
            return false;
        }
        let mut last = None;
        for (i, c) in rest.iter().enumerate() {
            // Trying a second coin of the same value at this depth adds nothing.
            if c.value > left || last == Some(c.value) {
                continue;
            }
            last = Some(c.value);
            picked.push(c);
            if go(&rest[i + 1..], left - c.value, max, picked, budget) {
                return true;
            }
            picked.pop();
        }
        false
    }
    let mut picked = Vec::new();
    let mut budget = 100_000;
    go(&sorted, amount, max, &mut picked, &mut budget)
        .then(|| picked.into_iter().cloned().collect())
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// The coins for `amount`, or why not.
    async fn offline_pick(
        &self,
        amount: u64,
        max: usize,
    ) -> Result<Vec<OfflineCoinRecord>, WalletError> {
        if amount == 0 {
            return Err(WalletError::Input("pay a positive amount".into()));
        }
        let now = self.state.now();
        // A payee refuses a coin it could not deposit within its window:
        // such a coin would be spent for nothing.
        let fresh_until = now.saturating_add(super::receive::REQUEST_WINDOW_SECS);
        let coins: Vec<OfflineCoinRecord> = Book::load(&self.store)
            .await?
            .coins
            .into_values()
            .filter(|c| {
                c.deposit_until > fresh_until && !self.state.keys.set.is_revoked(&c.coin.key_id)
            })
            .collect();
        let have: u64 = coins.iter().map(|c| c.value).sum();
        if have < amount {
            return Err(WalletError::InsufficientFunds { need: amount, have });
        }
        select(&coins, amount, max).ok_or_else(|| {
            WalletError::Input(format!(
                "the offline coins held ({have} in all) cannot make exactly {amount} \
                 with at most {max} coins: offline coins give no change"
            ))
        })
    }

    /// The spends of `coins` for `requests` (pairwise), authorized by the
    /// observer all at once: the coins leave the purse, the spends are kept
    /// and `extra` (a history line) is written, in one atomic step.
    async fn offline_spend(
        &mut self,
        coins: &[OfflineCoinRecord],
        requests: &[PaymentRequest],
        to: &Destination,
        mut extra: Batch,
    ) -> Result<Vec<SpentRecord>, WalletError> {
        let mut records = Vec::with_capacity(coins.len());
        let mut writes = std::mem::take(&mut extra.writes);
        for (c, request) in coins.iter().zip(requests) {
            let coin = OfflineCoin::from_stored(&c.coin)
                .map_err(|e| WalletError::Crypto(format!("a stored offline coin: {e}")))?;
            let record = SpentRecord {
                coin_id: c.id,
                value: c.value,
                spend: coin.spend(request),
                to: to.clone(),
                at: self.state.now(),
                delivered: *to == Destination::Wallet,
                deposit_until: c.deposit_until,
            };
            writes.push(Write::Delete(coin_key(&c.id)));
            writes.push(put(spent_key(&c.id), &record)?);
            records.push(record);
        }
        let ids: Vec<ecash_core::B32> = coins.iter().map(|c| c.id).collect();
        if !SoftwareObserver(&self.store)
            .authorize(&ids, writes)
            .await?
        {
            // Another tab spent one of them first: its stale purse record goes.
            let gone = Book::load(&self.store).await?.authorized;
            let stale: Vec<Write> = ids
                .iter()
                .filter(|id| gone.contains(id))
                .map(|id| Write::Delete(coin_key(id)))
                .collect();
            self.store.apply(stale).await?;
            let which = ids.iter().find(|id| gone.contains(id)).unwrap_or(&ids[0]);
            return Err(WalletError::ObserverRefused(which.to_b64()));
        }
        use super::super::io::Mirror;
        self.state.mirror(extra);
        Ok(records)
    }

    /// Pays `amount` with offline coins to the wallet whose invoice is
    /// `invoice` (text from [`Wallet::offline_invoice`]), with no network:
    /// returns the token to hand it.
    pub async fn offline_pay_invoice(
        &mut self,
        invoice: &str,
    ) -> Result<OfflineSpent, WalletError> {
        let inv = super::OfflineInvoice::decode(invoice)?;
        if inv.bank_id != self.state.keys.set.bank_id {
            return Err(WalletError::Payreq(format!(
                "the invoice is for offline coins of bank {}, this wallet holds bank {}'s",
                inv.bank_id, self.state.keys.set.bank_id
            )));
        }
        let now = self.state.now();
        if inv.requests.iter().any(|r| {
            r.issued_at
                .saturating_add(super::receive::REQUEST_WINDOW_SECS)
                < now
        }) {
            return Err(WalletError::Payreq(
                "the offline invoice expired: its payee would refuse the coins".into(),
            ));
        }
        let picks = self.offline_pick(inv.amount, inv.requests.len()).await?;
        let mut b = Batch::default();
        b.history(
            now,
            inv.amount,
            Event::OfflineSpent {
                to: Destination::Wallet.to_string(),
                coins: picks.len(),
            },
        )?;
        let spends = self
            .offline_spend(&picks, &inv.requests, &Destination::Wallet, b)
            .await?
            .into_iter()
            .map(|r| r.spend)
            .collect();
        let token = OfflinePayment {
            bank_id: inv.bank_id,
            spends,
        }
        .encode()?;
        Ok(OfflineSpent {
            amount: inv.amount,
            coins: picks.len(),
            token: Some(token),
        })
    }

    /// Pays `amount` with offline coins at the shop at `shop_url`: for each
    /// coin, a request from the shop, the spend, and the shop's answer. The
    /// shop needs no bank; neither does the wallet.
    pub async fn offline_pay_shop(
        &mut self,
        shop_url: &str,
        amount: u64,
    ) -> Result<OfflineSpent, WalletError> {
        let url = crate::links::web_url(shop_url)?;
        let base = url.as_str().trim_end_matches('/').to_owned();
        let picks = self.offline_pick(amount, MAX_BATCH).await?;
        let to = Destination::Shop { url: base.clone() };
        for c in &picks {
            let request = self
                .run_stateless(Single::<api::OfflineRequestApi>::new(&base, &(), &())?)
                .await?;
            for r in self
                .offline_spend(std::slice::from_ref(c), &[request], &to, Batch::default())
                .await?
            {
                self.offline_deliver(&base, r).await?;
            }
        }
        let mut b = Batch::default();
        b.history(
            self.state.now(),
            amount,
            Event::OfflineSpent {
                to: to.to_string(),
                coins: picks.len(),
            },
        )?;
        self.commit(b).await?;
        Ok(OfflineSpent {
            amount,
            coins: picks.len(),
            token: None,
        })
    }

    /// Sends the spend of `r` to the shop at `base` and records its answer.
    async fn offline_deliver(&self, base: &str, mut r: SpentRecord) -> Result<(), WalletError> {
        let coin_id = r.coin_id;
        let accepted = self
            .run_stateless(Single::<api::OfflinePay>::new(base, &(), &r.spend)?)
            .await
            .map_err(|e| WalletError::Interrupted {
                op: coin_id.to_b64(),
                source: Box::new(e),
            })?;
        if accepted.coin_id != coin_id {
            return Err(WalletError::BadAnswer {
                url: base.to_owned(),
                reason: "the shop's answer names another coin".into(),
            });
        }
        r.delivered = true;
        self.store
            .apply(vec![put(spent_key(&coin_id), &r)?])
            .await?;
        Ok(())
    }

    /// Sends again the spends a shop did not confirm (it was unreachable or
    /// failed): the same transcripts, so the shop takes each once. Goes on
    /// past a spend that fails; returns how many the shops confirmed now
    /// and the last failure, if any.
    pub async fn offline_resend(&self) -> Result<(usize, Option<WalletError>), WalletError> {
        let book = Book::load(&self.store).await?;
        let (mut done, mut last) = (0, None);
        for r in book.spent.into_values().filter(|r| !r.delivered) {
            if let Destination::Shop { url } = r.to.clone() {
                match self.offline_deliver(&url, r).await {
                    Ok(()) => done += 1,
                    Err(e) => last = Some(e),
                }
            }
        }
        Ok((done, last))
    }

    /// The tokens of spends made to other wallets, to hand over again (a
    /// receiver that lost one): one per invoice paid, newest first.
    pub async fn offline_tokens(&self) -> Result<Vec<String>, WalletError> {
        let mut by: std::collections::BTreeMap<(u64, String), Vec<Spend>> = Default::default();
        for r in Book::load(&self.store).await?.spent.into_values() {
            if r.to == Destination::Wallet {
                by.entry((r.at, r.spend.request.payee_id.clone()))
                    .or_default()
                    .push(r.spend);
            }
        }
        by.into_values()
            .rev()
            .map(|spends| {
                OfflinePayment {
                    bank_id: self.state.keys.set.bank_id.clone(),
                    spends,
                }
                .encode()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecash_core::Fixed;
    use ecash_core::offline::stored::StoredCoin;

    fn coin(n: u8, value: u64, until: u64) -> OfflineCoinRecord {
        OfflineCoinRecord {
            id: Fixed([n; 32]),
            value,
            deposit_until: until,
            withdrawn_at: 0,
            coin: StoredCoin {
                key_id: Fixed([0; 32]),
                signature: ecash_core::Bytes(vec![]),
                u: Fixed([0; 32]),
                terms: vec![],
            },
        }
    }

    fn sum(v: &[OfflineCoinRecord]) -> u64 {
        v.iter().map(|c| c.value).sum()
    }

    #[test]
    fn selection_makes_the_amount_exactly_or_says_it_cannot() {
        let purse = [
            coin(1, 8, 10),
            coin(2, 4, 20),
            coin(3, 4, 5),
            coin(4, 2, 9),
            coin(5, 1, 9),
        ];
        for amount in 1..=19 {
            let got = select(&purse, amount, 64).unwrap_or_else(|| panic!("{amount}"));
            assert_eq!(sum(&got), amount);
        }
        assert!(select(&purse, 20, 64).is_none(), "more than held");
        // Of two coins of one value, the one closing sooner goes first.
        let four = select(&purse, 4, 64).expect("4");
        assert_eq!(four[0].id, Fixed([3; 32]));
        // At most `max` coins: 7 needs three.
        assert!(select(&purse, 7, 2).is_none());
        assert_eq!(select(&purse, 7, 3).map(|v| v.len()), Some(3));
        // No change: 4 + 4 cannot make 6.
        assert!(select(&[coin(1, 4, 1), coin(2, 4, 1)], 6, 64).is_none());
        assert_eq!(
            select(&[coin(1, 4, 1), coin(2, 4, 1)], 8, 64).map(|v| v.len()),
            Some(2)
        );
    }

    #[test]
    fn tokens_round_trip_and_malformed_ones_are_refused() {
        let p = OfflinePayment {
            bank_id: "b".into(),
            spends: vec![Spend {
                key_id: Fixed([1; 32]),
                signature: ecash_core::Bytes(vec![2; 8]),
                request: PaymentRequest {
                    payee_id: "p".into(),
                    nonce: Fixed([3; 16]),
                    issued_at: 4,
                },
                revealed: vec![],
            }],
        };
        let t = p.encode().expect("encode");
        assert_eq!(
            OfflinePayment::decode(&format!(" {t}\n")).expect("decode"),
            p
        );
        let empty = OfflinePayment {
            spends: vec![],
            ..p.clone()
        }
        .encode()
        .expect("encode");
        for bad in [
            "",
            TOKEN_PREFIX,
            "ecash1abc",
            &t[..t.len() - 3],
            &empty,
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(OfflinePayment::decode(bad).is_err(), "{bad:.40}");
        }
    }
}
