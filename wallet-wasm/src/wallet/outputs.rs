//! New coins, both halves: their secrets reserved from the seed and blinded
//! ([`DeriveOutputs`]), and the bank's blind signatures unblinded and
//! verified ([`Finalizer`]). Both pause between chunks, so a browser paints
//! a progress bar and stays responsive.

use std::collections::BTreeMap;

use ecash_core::amount::Denomination;
use ecash_core::messages::BlindSignatures;
use ecash_core::{B32, PendingCoin};

use super::io::{Input, Io, Machine, Next};
use super::{Progress, State};
use crate::error::WalletError;
use crate::records::*;

/// Coins blinded per chunk (one modular inversion each: Montgomery's trick).
const BLIND_BATCH: usize = 32;
/// Coins unblinded per chunk.
const FINALIZE_BATCH: usize = 8;

/// Reserves a derivation counter per output (in the store, before any use,
/// so no two coins ever share secrets, even across tabs) and blinds one
/// output per denomination.
pub(crate) struct DeriveOutputs {
    denoms: Vec<Denomination>,
    /// Whose keys sign them: another bank's id, or the wallet's own bank.
    at: Option<String>,
    /// Per key: how many outputs, in the order counters are reserved.
    per_key: Vec<(B32, u64)>,
    key_of: Vec<B32>,
    derivations: Vec<Derivation>,
    slots: Vec<Option<PendingCoin>>,
    /// Chunks of output indices still to blind.
    todo: Vec<Vec<usize>>,
    done: usize,
    started: bool,
}

impl DeriveOutputs {
    /// Outputs of these values, under the wallet's bank's keys.
    pub(crate) fn new(denoms: Vec<Denomination>) -> Self {
        Self::at(denoms, None)
    }

    /// Outputs of these values under the keys of bank `at` (`None`: the wallet's own).
    pub(crate) fn at(denoms: Vec<Denomination>, at: Option<String>) -> Self {
        Self {
            denoms,
            at,
            per_key: Vec::new(),
            key_of: Vec::new(),
            derivations: Vec::new(),
            slots: Vec::new(),
            todo: Vec::new(),
            done: 0,
            started: false,
        }
    }
}

impl Machine for DeriveOutputs {
    type Output = (Vec<Derivation>, Vec<PendingCoin>);

    fn resume(&mut self, s: &State, input: Input) -> Result<Next<Self::Output>, WalletError> {
        if !self.started {
            self.started = true;
            if let Some(id) = self.at.as_deref()
                && s.other(id)?.record.unscanned
            {
                return Err(WalletError::Input(format!(
                    "this wallet was restored from its phrase: look for its coins at {id} first \
                     (Find my coins on the Banks screen), so that new coins there repeat no old ones"
                )));
            }
            let keys = s.keyset(self.at.as_deref())?.withdraw_keys(s.now());
            let mut per_key: BTreeMap<B32, u64> = BTreeMap::new();
            for d in &self.denoms {
                let k = keys.get(d).ok_or_else(|| {
                    WalletError::Input(format!("the bank has no key for value {}", d.value()))
                })?;
                *per_key.entry(k.info.key_id).or_default() += 1;
                self.key_of.push(k.info.key_id);
            }
            self.per_key = per_key.into_iter().collect();
            let reserve = self
                .per_key
                .iter()
                .map(|(k, n)| (counter_key(k), *n))
                .collect();
            return Ok(Next::Io(Io::Reserve(reserve)));
        }
        if let Input::Reserved(starts) = input {
            let starts = starts?;
            let mut next: BTreeMap<B32, u64> = BTreeMap::new();
            for ((key_id, _), start) in self.per_key.iter().zip(starts) {
                next.insert(*key_id, start);
            }
            for key_id in &self.key_of {
                let counter = next
                    .get_mut(key_id)
                    .ok_or_else(|| WalletError::Crypto("counter missing for a key".into()))?;
                self.derivations
                    .push(Derivation::current(*key_id, *counter));
                *counter += 1;
            }
            let total = self.derivations.len();
            self.slots = (0..total).map(|_| None).collect();
            // Key by key, nearest keys first, in chunks.
            for (key_id, _) in &self.per_key {
                let idx: Vec<usize> = (0..total)
                    .filter(|&i| self.derivations[i].key_id == *key_id)
                    .collect();
                self.todo
                    .extend(idx.chunks(BLIND_BATCH).map(<[usize]>::to_vec));
            }
            self.todo.reverse();
        }
        let total = self.derivations.len();
        if let Some(chunk) = self.todo.pop() {
            let key_id = self.derivations[chunk[0]].key_id;
            let key = s.known_key(&key_id)?;
            let counters: Vec<u64> = chunk.iter().map(|&i| self.derivations[i].counter).collect();
            for (&i, p) in chunk.iter().zip(s.seed.coins(key, &counters, Scheme::V2)?) {
                self.slots[i] = Some(p);
            }
            self.done += chunk.len();
            return Ok(Next::Io(Io::Progress(Progress {
                phase: "blinding",
                done: self.done,
                total,
            })));
        }
        let pending = std::mem::take(&mut self.slots)
            .into_iter()
            .map(|p| p.ok_or_else(|| WalletError::Crypto("a coin was not blinded".into())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Next::Done((std::mem::take(&mut self.derivations), pending)))
    }
}

/// Unblinds and verifies every signature of an answer; any failure refuses
/// the whole answer.
pub(crate) struct Finalizer {
    outputs: Vec<Derivation>,
    pending: Vec<PendingCoin>,
    sigs: BlindSignatures,
    coins: Vec<CoinRecord>,
}

impl Finalizer {
    /// Checks the answer is for `request_id` and has one signature per
    /// output; re-derives the pending coins from the seed when they are not
    /// in memory (after a restart).
    pub(crate) fn new(
        s: &State,
        request_id: &B32,
        outputs: &[Derivation],
        pending: Option<Vec<PendingCoin>>,
        sigs: BlindSignatures,
    ) -> Result<Self, WalletError> {
        if &sigs.request_id != request_id || sigs.blind_signatures.len() != outputs.len() {
            return Err(WalletError::Tampered(
                "the bank answered another request or the wrong number of signatures".into(),
            ));
        }
        let pending = match pending {
            Some(p) => p,
            None => outputs
                .iter()
                .map(|d| {
                    s.seed
                        .coin(s.known_key(&d.key_id)?, d.counter, d.candidates()[0])
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(Self {
            outputs: outputs.to_vec(),
            coins: Vec::with_capacity(pending.len()),
            pending,
            sigs,
        })
    }

    /// Unblinds the next chunk; `Some(progress)` while coins remain after it.
    pub(crate) fn advance(&mut self, s: &State) -> Result<Option<Progress>, WalletError> {
        let total = self.outputs.len();
        let start = self.coins.len();
        let end = (start + FINALIZE_BATCH).min(total);
        for i in start..end {
            let key = s.known_key(&self.pending[i].key_id)?;
            let sig = &self.sigs.blind_signatures[i].0;
            let mut d = self.outputs[i];
            let schemes = d.candidates();
            // An output journaled by an older wallet, before its scheme was
            // kept, is tried under each: the coin that verifies decides.
            let found = match self.pending[i].finalize(&key.key, sig) {
                Ok(c) => Some((c, schemes[0])),
                Err(_) => schemes.iter().skip(1).find_map(|&scheme| {
                    let p = s.seed.coin(key, d.counter, scheme).ok()?;
                    Some((p.finalize(&key.key, sig).ok()?, scheme))
                }),
            };
            let (coin, scheme) = found.ok_or_else(|| {
                WalletError::Tampered(format!(
                    "blind signature {} of {total} does not verify",
                    i + 1
                ))
            })?;
            d.scheme = Some(scheme);
            self.coins.push(CoinRecord {
                coin,
                value: key.info.value.value,
                deposit_until: key.info.deposit_until,
                reserved_by: None,
                bank_id: s.bank_of_key(&key.info.key_id),
                derivation: Some(d),
            });
        }
        Ok((end > start).then_some(Progress {
            phase: "unblinding",
            done: end,
            total,
        }))
    }

    /// The coins, once every chunk is done.
    pub(crate) fn finished(&self) -> bool {
        self.coins.len() == self.outputs.len()
    }

    /// The verified coins.
    pub(crate) fn into_coins(self) -> Vec<CoinRecord> {
        self.coins
    }
}
