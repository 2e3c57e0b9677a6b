//! First contact with a bank ([`Connect`]: its key set verified, the
//! account registered), its key set fetched again ([`RefreshKeys`]), and
//! single calls that change nothing in the store ([`Single`]).

use ecash_core::api::{self, Endpoint};
use ecash_core::keyset::SeenKeys;
use ecash_core::messages::{RegisterAccount, account_id};
use ecash_core::{ErrorCode, Keypair, PublicKey, Signed, SignedKeySet, VerifiedKeySet};

use super::State;
use super::batch::{Batch, KeysUpdate};
use super::io::{Await, Input, Io, Machine, Next};
use crate::error::WalletError;

/// How long a fetched key set is used before it is fetched again, seconds.
const KEYS_MAX_AGE: u64 = 600;

/// `GET /keys`, verified against `pinned`, or against the key the set names
/// when nothing is pinned yet (trust on first use; the caller shows the
/// fingerprint), and announcing the next period's keys.
pub(crate) struct FetchKeys {
    call: Option<(Await<api::Keys>, Io)>,
    waiting: Option<Await<api::Keys>>,
    pinned: Option<PublicKey>,
    now: u64,
}

impl FetchKeys {
    /// Fetches the key set of the bank at `bank_url` (checked by the link rule).
    pub(crate) fn new(
        bank_url: &str,
        pinned: Option<PublicKey>,
        now: u64,
    ) -> Result<Self, WalletError> {
        crate::links::web_url(bank_url)?;
        Ok(Self {
            call: Some(Await::at_base(bank_url, &(), &())?),
            waiting: None,
            pinned,
            now,
        })
    }

    fn step(&mut self, input: Input) -> Result<Next<(SignedKeySet, VerifiedKeySet)>, WalletError> {
        if let Some((a, io)) = self.call.take() {
            self.waiting = Some(a);
            return Ok(Next::Io(io));
        }
        let a = self
            .waiting
            .take()
            .ok_or_else(|| WalletError::Crypto("the key set was asked for twice".into()))?;
        let signed = a.receive(input)?.key_set;
        let master = self.pinned.unwrap_or(signed.body.master_public_key);
        let verified = VerifiedKeySet::verify(&signed, &master)?;
        verified.check_announced(self.now)?;
        Ok(Next::Done((signed, verified)))
    }
}

impl<C> Machine<C> for FetchKeys {
    type Output = (SignedKeySet, VerifiedKeySet);
    fn resume(&mut self, _: &C, input: Input) -> Result<Next<Self::Output>, WalletError> {
        self.step(input)
    }
}

/// What first contact learned.
pub(crate) struct Met {
    pub(crate) signed: SignedKeySet,
    pub(crate) verified: VerifiedKeySet,
    pub(crate) seen: SeenKeys,
    pub(crate) account_id: String,
}

/// First contact: the key set, then the seed's account registered (an
/// account that exists already, as after a restore, is fine).
pub(crate) struct Connect {
    keys: FetchKeys,
    bank_url: String,
    register: Signed<RegisterAccount>,
    now: u64,
    fetched: Option<(SignedKeySet, VerifiedKeySet, SeenKeys)>,
    waiting: Option<Await<api::Register>>,
}

impl Connect {
    pub(crate) fn new(
        bank_url: &str,
        pinned: Option<PublicKey>,
        account: &Keypair,
        now: u64,
    ) -> Result<Self, WalletError> {
        let register = Signed::sign(
            RegisterAccount {
                public_key: account.public(),
                label: "browser e-cash wallet".into(),
                timestamp: now,
            },
            account,
        );
        Ok(Self {
            keys: FetchKeys::new(bank_url, pinned, now)?,
            bank_url: bank_url.to_owned(),
            register,
            now,
            fetched: None,
            waiting: None,
        })
    }
}

impl Machine<()> for Connect {
    type Output = Met;

    fn resume(&mut self, _: &(), input: Input) -> Result<Next<Met>, WalletError> {
        if let Some(a) = self.waiting.take() {
            let (signed, verified, seen) = self
                .fetched
                .take()
                .ok_or_else(|| WalletError::Crypto("registered before the keys".into()))?;
            // Account ids are hashes of their keys: the bank's answer must
            // name this key's, or the wallet would sign for another account.
            let id = account_id(&self.register.body.public_key);
            match a.receive(input) {
                Ok(created) if created.account_id == id => {}
                Ok(created) => {
                    return Err(WalletError::BadAnswer {
                        url: self.bank_url.clone(),
                        reason: format!(
                            "registered as account {:?}, not this key's {id:?}",
                            created.account_id
                        ),
                    });
                }
                Err(WalletError::Refused { error, .. })
                    if error.code == ErrorCode::AccountExists => {}
                Err(e) => return Err(e),
            }
            return Ok(Next::Done(Met {
                signed,
                verified,
                seen,
                account_id: id,
            }));
        }
        match self.keys.step(input)? {
            Next::Io(io) => Ok(Next::Io(io)),
            Next::Done((signed, verified)) => {
                let mut seen = SeenKeys::default();
                verified.check_seen(&mut seen, self.now)?;
                self.fetched = Some((signed, verified, seen));
                let (a, io) = Await::<api::Register>::at_base(&self.bank_url, &(), &self.register)?;
                self.waiting = Some(a);
                Ok(Next::Io(io))
            }
        }
    }
}

/// The key set fetched again, checked against the pinned master key and
/// against the keys seen before (a key made to tag this wallet is refused),
/// and stored.
pub(crate) struct RefreshKeys {
    only_if_stale: bool,
    fetch: Option<Box<FetchKeys>>,
    committing: bool,
}

impl RefreshKeys {
    /// Always fetches.
    pub(crate) fn always() -> Self {
        Self {
            only_if_stale: false,
            fetch: None,
            committing: false,
        }
    }

    /// Fetches when the set in hand offers no key to withdraw with now, or
    /// was fetched long ago (new key periods are published ahead).
    pub(crate) fn when_stale() -> Self {
        Self {
            only_if_stale: true,
            ..Self::always()
        }
    }
}

impl Machine for RefreshKeys {
    type Output = ();

    fn resume(&mut self, s: &State, input: Input) -> Result<Next<()>, WalletError> {
        if self.committing {
            input.committed()?;
            return Ok(Next::Done(()));
        }
        let fetch = match &mut self.fetch {
            Some(f) => f,
            None => {
                let t = s.now();
                let stale = s.keys.withdraw_keys(t).is_empty()
                    || s.keys_fetched_at.saturating_add(KEYS_MAX_AGE) < t;
                if self.only_if_stale && !stale {
                    return Ok(Next::Done(()));
                }
                self.fetch.insert(Box::new(FetchKeys::new(
                    s.bank(),
                    Some(s.meta.master_key),
                    t,
                )?))
            }
        };
        match fetch.step(input)? {
            Next::Io(io) => Ok(Next::Io(io)),
            Next::Done((signed, verified)) => {
                let mut seen = s.seen.clone();
                verified.check_seen(&mut seen, s.now())?;
                let mut b = Batch::default();
                b.keys(KeysUpdate {
                    signed,
                    verified,
                    seen,
                    fetched_at: s.now(),
                })?;
                self.committing = true;
                Ok(Next::Io(Io::Commit(b)))
            }
        }
    }
}

/// One call whose answer changes nothing in the store.
pub(crate) struct Single<E: Endpoint> {
    call: Option<(Await<E>, Io)>,
    waiting: Option<Await<E>>,
}

impl<E: Endpoint> Single<E> {
    /// `E` at the bank or shop at `base`.
    pub(crate) fn new(
        base: &str,
        params: &E::Params,
        req: &E::Request,
    ) -> Result<Self, WalletError> {
        Ok(Self {
            call: Some(Await::at_base(base, params, req)?),
            waiting: None,
        })
    }

    /// `E` at `url`, checked by the caller.
    pub(crate) fn at_url(url: &str, req: &E::Request) -> Result<Self, WalletError> {
        Ok(Self {
            call: Some(Await::at_url(url, req)?),
            waiting: None,
        })
    }
}

impl<E: Endpoint, C> Machine<C> for Single<E> {
    type Output = E::Response;

    fn resume(&mut self, _: &C, input: Input) -> Result<Next<E::Response>, WalletError> {
        if let Some((a, io)) = self.call.take() {
            self.waiting = Some(a);
            return Ok(Next::Io(io));
        }
        let a = self
            .waiting
            .take()
            .ok_or_else(|| WalletError::Crypto("one call answered twice".into()))?;
        Ok(Next::Done(a.receive(input)?))
    }
}

/// The account's statement: a query signed by the account key, now.
pub(crate) fn statement(s: &State) -> Result<Single<api::Statement>, WalletError> {
    let now = s.now();
    let signature = s.account.sign(&ecash_core::messages::AccountQuery {
        account_id: s.meta.account_id.clone(),
        timestamp: now,
    });
    Single::new(
        s.bank(),
        s.meta.account_id.as_str(),
        &api::AccountAuth {
            timestamp: now,
            signature,
        },
    )
}
