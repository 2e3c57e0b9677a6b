//! Other certified banks (NetCash): added by URL once the pinned certifier
//! vouches for them ([`FetchMint`]), their coins held beside the wallet's
//! own, and the wallet's coins exchanged into theirs at their `/exchange`
//! with no account and no identity ([`ExchangeInto`], the chapter's
//! anonymous exchange).

use std::collections::BTreeMap;

use ecash_core::amount::Denomination;
use ecash_core::{B32, VerifiedKeySet};
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::exchange::{ExactCoins, ExchangeCoins};
use super::io::{Input, Io, Machine, Next};
use super::keys::{Expect, FetchKeys};
use super::{ProgressFn, State, Wallet, denominations_of};
use crate::error::WalletError;
use crate::links;
use crate::records::*;
use crate::store::Store;
use crate::transport::Transport;

/// Another bank as the wallet holds it: its record, and its key set verified
/// under the master key its certificate names.
#[derive(Clone, Debug)]
pub struct KnownMint {
    /// What the store keeps.
    pub record: OtherMint,
    /// Its key set, verified.
    pub keys: VerifiedKeySet,
}

/// One bank's share of the wallet, as shown to people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintBalance {
    /// Its bank id.
    pub bank_id: String,
    /// Its name: the certificate's `cs_name`, or its address for an uncertified bank.
    pub name: String,
    /// Its address.
    pub url: String,
    /// Whether it is the wallet's own bank (where its account is).
    pub own: bool,
    /// Value of its coins held.
    pub total: u64,
    /// Of which free to spend now.
    pub spendable: u64,
    /// Its certificate's last valid second, under a pinned certifier.
    pub certified_until: Option<u64>,
}

/// The other banks' records, each key set verified again under its
/// certified master key. A record that no longer verifies (a damaged store)
/// is left out: adding the bank again fetches and checks it afresh.
pub(crate) fn load(records: Vec<OtherMint>) -> BTreeMap<String, KnownMint> {
    records
        .into_iter()
        .filter_map(|record| {
            let keys =
                VerifiedKeySet::verify(&record.keys, &record.certificate.master_public_key).ok()?;
            Some((keys.set.bank_id.clone(), KnownMint { record, keys }))
        })
        .collect()
}

impl State {
    /// Another bank the wallet knows.
    pub(crate) fn other(&self, bank_id: &str) -> Result<&KnownMint, WalletError> {
        self.others.get(bank_id).ok_or_else(|| {
            WalletError::Input(format!(
                "this wallet does not know the bank {bank_id}; add it by its address first"
            ))
        })
    }

    /// The key set of bank `at` (`None`: the wallet's own).
    pub(crate) fn keyset(&self, at: Option<&str>) -> Result<&VerifiedKeySet, WalletError> {
        match at {
            None => Ok(&self.keys),
            Some(id) => Ok(&self.other(id)?.keys),
        }
    }

    /// Denominations bank `at` (`None`: the wallet's own) signs now.
    pub(crate) fn withdraw_denominations_at(
        &self,
        at: Option<&str>,
    ) -> Result<Vec<Denomination>, WalletError> {
        Ok(self
            .keyset(at)?
            .withdraw_keys(self.now())
            .keys()
            .copied()
            .collect())
    }

    /// Which other bank's key `key_id` is (`None`: the wallet's own, or unknown).
    pub(crate) fn bank_of_key(&self, key_id: &B32) -> Option<String> {
        if self.keys.key(key_id).is_some() {
            return None;
        }
        self.others
            .iter()
            .find(|(_, m)| m.keys.key(key_id).is_some())
            .map(|(id, _)| id.clone())
    }

    /// The other bank that minted the wallet's coins `serials` (`None`: its
    /// own). The coins of one operation are all of one bank.
    pub(crate) fn bank_of_coins(
        &self,
        serials: &[B32],
    ) -> Result<Option<MerchantBank>, WalletError> {
        let id = serials
            .iter()
            .find_map(|s| self.coins.get(s))
            .and_then(|r| r.bank_id.clone());
        id.map(|id| Ok(self.other(&id)?.record.bank())).transpose()
    }
}

/// Refuses a bank the wallet must not hold beside its own: the wallet's own
/// bank under another address, another currency, keys another known bank
/// uses, or the bank id of a known bank with another master key or address
/// (its coins, and the operations on them, would go to the wrong bank).
pub(crate) fn check_other(s: &State, m: &KnownMint) -> Result<(), WalletError> {
    let set = &m.keys.set;
    if let Some(known) = s.others.get(&set.bank_id)
        && (known.record.certificate.master_public_key != m.record.certificate.master_public_key
            || known.record.url != m.record.url)
    {
        return Err(WalletError::Tampered(format!(
            "the bank at {} calls itself {}, a bank this wallet knows at {} under another master key or address",
            m.record.url, set.bank_id, known.record.url
        )));
    }
    if set.bank_id == s.keys.set.bank_id {
        return Err(WalletError::Input(format!(
            "{} is this wallet's own bank",
            set.bank_id
        )));
    }
    if set.currency != s.keys.set.currency {
        return Err(WalletError::Input(format!(
            "the bank {} issues {}, this wallet holds {}",
            set.bank_id, set.currency, s.keys.set.currency
        )));
    }
    let clash = m.keys.keys.keys().any(|k| {
        s.keys.key(k).is_some()
            || s.others
                .iter()
                .any(|(id, o)| id != &set.bank_id && o.keys.key(k).is_some())
    });
    if clash {
        return Err(WalletError::Tampered(format!(
            "the bank {} shows a denomination key of another bank",
            set.bank_id
        )));
    }
    Ok(())
}

/// Fetches another bank's key set at `url` and keeps it: certified by the
/// pinned certifier for that address (its revocation lists, attestation and
/// staleness checked as for the wallet's own bank), and, if the bank is
/// known already, under the master key it had.
pub(crate) struct FetchMint {
    url: String,
    fetch: Option<Box<FetchKeys>>,
    done: Option<KnownMint>,
}

impl FetchMint {
    /// For the bank at `url` (an http(s) address; its origin is used).
    pub(crate) fn new(s: &State, url: &str) -> Result<Self, WalletError> {
        let pin = s.meta.certifier.clone().ok_or_else(|| {
            WalletError::Input(
                "only a wallet that pins a certifier holds the coins of several banks".into(),
            )
        })?;
        let u = links::web_url(url)
            .map_err(|e| WalletError::Input(format!("the bank's address: {e}")))?;
        let url = u.origin().ascii_serialization();
        let master = s
            .others
            .values()
            .find(|m| m.record.url == url)
            .map(|m| m.record.certificate.master_public_key);
        let expect = Expect {
            master,
            certifier: Some(pin),
            known: s.papers.as_ref().map(|p| p.revocations.clone()),
        };
        let fetch = FetchKeys::new(&url, expect, s.now())?;
        Ok(Self {
            url,
            fetch: Some(Box::new(fetch)),
            done: None,
        })
    }
}

impl Machine for FetchMint {
    type Output = KnownMint;

    fn resume(&mut self, s: &State, input: Input) -> Result<Next<KnownMint>, WalletError> {
        if let Some(m) = self.done.take() {
            input.committed()?;
            return Ok(Next::Done(m));
        }
        let fetch = self
            .fetch
            .as_mut()
            .ok_or_else(super::journal::out_of_turn)?;
        let f = match fetch.resume(s, input)? {
            Next::Io(io) => return Ok(Next::Io(io)),
            Next::Done(f) => f,
        };
        let papers = f
            .papers
            .ok_or_else(|| WalletError::Crypto("a certified key set came without papers".into()))?;
        let m = KnownMint {
            record: OtherMint {
                url: self.url.clone(),
                certificate: papers.certificate,
                keys: f.signed,
                checked_at: s.now(),
                // A bank known keeps its state; a new one to a wallet that
                // was (or, from before this was kept, may have been)
                // restored waits for its scan.
                unscanned: s
                    .others
                    .get(&f.verified.set.bank_id)
                    .map_or(s.meta.restored || s.meta.version < 2, |m| {
                        m.record.unscanned
                    }),
            },
            keys: f.verified,
        };
        check_other(s, &m)?;
        let mut b = Batch::default();
        b.put_mint(m.clone())?;
        self.done = Some(m);
        Ok(Next::Io(Io::Commit(b)))
    }
}

enum IntoPhase {
    Select(Box<ExactCoins>),
    Exchange(Box<ExchangeCoins>),
    Finished,
}

/// Exchanges `amount` of the wallet's own coins into coins of another known
/// bank, at that bank (which clears the coins with the wallet's bank).
pub(crate) struct ExchangeInto {
    bank: MerchantBank,
    amount: u64,
    phase: IntoPhase,
}

impl ExchangeInto {
    pub(crate) fn new(s: &State, bank_id: &str, amount: u64) -> Result<Self, WalletError> {
        let bank = s.other(bank_id)?.record.bank();
        Ok(Self {
            bank,
            amount,
            phase: IntoPhase::Select(Box::new(ExactCoins::new(amount))),
        })
    }
}

impl Machine for ExchangeInto {
    type Output = ();

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<()>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, IntoPhase::Finished) {
                IntoPhase::Select(mut c) => match c.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = IntoPhase::Select(c);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(serials) => {
                        let denoms = s.withdraw_denominations_at(Some(&self.bank.bank_id))?;
                        let out = denominations_of(self.amount, &denoms)?;
                        let x = ExchangeCoins::own(serials, out, ExchangePurpose::ToBank)
                            .at(Some(self.bank.clone()));
                        self.phase = IntoPhase::Exchange(Box::new(x));
                        input = Input::Start;
                    }
                },
                IntoPhase::Exchange(mut x) => match x.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = IntoPhase::Exchange(x);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => return Ok(Next::Done(())),
                },
                IntoPhase::Finished => {
                    return Err(WalletError::Crypto("exchange resumed after its end".into()));
                }
            }
        }
    }
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Adds the bank at `url` (or checks it again): its key set must be
    /// certified by the pinned certifier for that address. Its coins can
    /// then be held, exchanged into and paid with.
    pub async fn add_mint(&mut self, url: &str) -> Result<MintBalance, WalletError> {
        let m = FetchMint::new(&self.state, url)?;
        let m = self.run(m, None).await?;
        let id = m.keys.set.bank_id.clone();
        self.mints()
            .into_iter()
            .find(|b| b.bank_id == id)
            .ok_or_else(|| WalletError::Crypto("the bank added is not listed".into()))
    }

    /// The wallet's own bank, then every other bank it knows, with the
    /// value of the coins held of each.
    pub fn mints(&self) -> Vec<MintBalance> {
        let s = &self.state;
        let share = |id: Option<&str>| {
            let (mut total, mut spendable) = (0u64, 0u64);
            for r in s.coins.values().filter(|r| r.bank_id.as_deref() == id) {
                total = total.saturating_add(r.value);
                if r.reserved_by.is_none() {
                    spendable = spendable.saturating_add(r.value);
                }
            }
            (total, spendable)
        };
        let (total, spendable) = share(None);
        let own = MintBalance {
            bank_id: s.keys.set.bank_id.clone(),
            name: s.papers.as_ref().map_or_else(
                || s.meta.bank_url.clone(),
                |p| p.certificate.cs_name.clone(),
            ),
            url: s.meta.bank_url.clone(),
            own: true,
            total,
            spendable,
            certified_until: s.papers.as_ref().map(|p| p.certificate.expires_at),
        };
        let others = s.others.iter().map(|(id, m)| {
            let (total, spendable) = share(Some(id));
            MintBalance {
                bank_id: id.clone(),
                name: m.record.certificate.cs_name.clone(),
                url: m.record.url.clone(),
                own: false,
                total,
                spendable,
                certified_until: Some(m.record.certificate.expires_at),
            }
        });
        std::iter::once(own).chain(others).collect()
    }

    /// The verified key set of the known bank `bank_id`.
    pub fn other_key_set(&self, bank_id: &str) -> Option<&VerifiedKeySet> {
        self.state.others.get(bank_id).map(|m| &m.keys)
    }

    /// Exchanges `amount` of the wallet's own coins into coins of the known
    /// bank `bank_id`, at that bank: anonymous (no account, no identity),
    /// journaled like every exchange. Its key set is fetched and checked again first.
    pub async fn exchange_into(
        &mut self,
        bank_id: &str,
        amount: u64,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<(), WalletError> {
        let url = self.state.other(bank_id)?.record.url.clone();
        self.run(FetchMint::new(&self.state, &url)?, None).await?;
        let m = ExchangeInto::new(&self.state, bank_id, amount)?;
        self.run(m, progress).await
    }
}
