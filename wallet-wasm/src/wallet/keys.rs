//! First contact with a bank ([`Connect`]: its key set verified, the
//! account registered), its key set fetched again ([`RefreshKeys`]), and
//! single calls that change nothing in the store ([`Single`]).

use ecash_core::api::{self, Endpoint};
use ecash_core::certificate::{
    CertError, KeysAnswer, RevocationList, verify_certified, verify_revocations,
};
use ecash_core::keyset::{KeySetError, SeenKeys};
use ecash_core::messages::{RegisterAccount, account_id};
use ecash_core::{ErrorCode, Keypair, PublicKey, Signed, SignedKeySet, VerifiedKeySet};

use super::State;
use super::batch::{Batch, KeysUpdate};
use super::io::{Await, Input, Io, Machine, Next};
use crate::error::WalletError;
use crate::records::{CertifierPin, Meta, Papers};

/// How long a fetched key set is used before it is fetched again, seconds.
const KEYS_MAX_AGE: u64 = 600;

/// How long past its `next_update` a revocation list is used when the
/// certifier cannot be reached, seconds: a revoked bank that also keeps
/// wallets from their certifier is used this long at most, not until its
/// certificate expires.
pub const MAX_STALE_REVOCATIONS_SECS: u64 = 3 * 86_400;

/// Whether a failed call to the certifier means it is down.
fn certifier_down(e: &WalletError) -> bool {
    match e {
        WalletError::Unreachable { .. } => true,
        WalletError::Refused { status, .. } => matches!(status, 502..=504),
        _ => false,
    }
}

/// How a wallet trusts the bank it connects to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The master key the bank announces (trust on first use; the caller
    /// shows its fingerprint).
    FirstUse,
    /// A master key pinned out of band.
    Master(PublicKey),
    /// A certifier pinned out of band: any bank it certifies, at the
    /// address its certificate names (NetCash).
    Certifier(CertifierPin),
}

impl From<Option<PublicKey>> for Trust {
    fn from(pinned: Option<PublicKey>) -> Self {
        pinned.map_or(Self::FirstUse, Self::Master)
    }
}

/// What a fetched key set is checked against.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expect {
    /// The master key (pinned, or learnt at first contact).
    pub(crate) master: Option<PublicKey>,
    /// The certifier that must vouch for the bank.
    pub(crate) certifier: Option<CertifierPin>,
    /// The newest revocation list the wallet holds.
    pub(crate) known: Option<Signed<RevocationList>>,
}

impl Expect {
    /// What first contact under `trust` checks.
    pub(crate) fn first(trust: &Trust) -> Result<Self, WalletError> {
        Ok(match trust {
            Trust::FirstUse => Self::default(),
            Trust::Master(m) => Self {
                master: Some(*m),
                ..Self::default()
            },
            Trust::Certifier(pin) => {
                crate::links::web_url(&pin.url)?;
                Self {
                    certifier: Some(pin.clone()),
                    ..Self::default()
                }
            }
        })
    }

    /// What a wallet that knows its bank checks.
    pub(crate) fn known(meta: &Meta, papers: Option<&Papers>) -> Self {
        Self {
            master: Some(meta.master_key),
            certifier: meta.certifier.clone(),
            known: papers.map(|p| p.revocations.clone()),
        }
    }
}

/// A key set fetched and checked, with the bank's certification if the
/// wallet pins a certifier.
pub(crate) struct Fetched {
    pub(crate) signed: SignedKeySet,
    pub(crate) verified: VerifiedKeySet,
    pub(crate) papers: Option<Papers>,
}

/// `GET /keys`, verified as [`Expect`] says, and announcing the next
/// period's keys. Under a certifier, the bank's certificate, the attestation
/// of exactly this set and the revocation lists are checked too; when even
/// the newest list is stale, the certifier is asked for a fresh one, and
/// only if it cannot be reached does the wallet go on with the stale list
/// (until the certificate expires).
pub(crate) struct FetchKeys {
    bank_url: String,
    call: Option<(Await<api::Keys>, Io)>,
    waiting: Option<Await<api::Keys>>,
    asking: Option<(Await<api::Revocations>, Box<KeysAnswer>)>,
    expect: Expect,
    /// A list fresh from the certifier, newer than the one in hand.
    fresh: Option<Signed<RevocationList>>,
    now: u64,
}

impl FetchKeys {
    /// Fetches the key set of the bank at `bank_url` (checked by the link rule).
    pub(crate) fn new(bank_url: &str, expect: Expect, now: u64) -> Result<Self, WalletError> {
        crate::links::web_url(bank_url)?;
        Ok(Self {
            bank_url: bank_url.to_owned(),
            call: Some(Await::at_base(bank_url, &(), &())?),
            waiting: None,
            asking: None,
            expect,
            fresh: None,
            now,
        })
    }

    fn step(&mut self, input: Input) -> Result<Next<Fetched>, WalletError> {
        if let Some((a, io)) = self.call.take() {
            self.waiting = Some(a);
            return Ok(Next::Io(io));
        }
        if let Some((a, answer)) = self.asking.take() {
            let pin =
                self.expect.certifier.clone().ok_or_else(|| {
                    WalletError::Crypto("asked a certifier it does not pin".into())
                })?;
            match a.receive(input) {
                Ok(list) => {
                    verify_revocations(&list, &pin.key)?;
                    // The certifier's own list wins a tie: it may revoke
                    // what one signed the same second did not.
                    let newer = self
                        .expect
                        .known
                        .as_ref()
                        .is_none_or(|k| k.body.issued_at <= list.body.issued_at);
                    if newer {
                        self.expect.known = Some(list.clone());
                        self.fresh = Some(list);
                    }
                }
                // The certifier is down (not answering, or its gateway says
                // so): the list in hand serves a while longer. Anything
                // else it answers is an answer, and refuses.
                Err(e) if certifier_down(&e) => {}
                Err(e) => return Err(e),
            }
            return self.finish(*answer, false);
        }
        let a = self
            .waiting
            .take()
            .ok_or_else(|| WalletError::Crypto("the key set was asked for twice".into()))?;
        let answer = a.receive(input)?;
        self.finish(answer, true)
    }

    fn finish(&mut self, answer: KeysAnswer, may_ask: bool) -> Result<Next<Fetched>, WalletError> {
        let Some(pin) = self.expect.certifier.clone() else {
            let master = self
                .expect
                .master
                .unwrap_or(answer.key_set.body.master_public_key);
            let verified = VerifiedKeySet::verify(&answer.key_set, &master)?;
            verified.check_announced(self.now)?;
            return Ok(Next::Done(Fetched {
                signed: answer.key_set,
                verified,
                papers: None,
            }));
        };
        let m = verify_certified(
            &answer,
            &self.bank_url,
            &pin.key,
            self.expect.known.as_ref(),
            self.now,
        )?;
        // A certificate for another key cannot move a wallet's coins to another bank.
        if let Some(master) = self.expect.master
            && master != m.certificate.master_public_key
        {
            return Err(KeySetError::WrongMasterKey {
                got: m.certificate.master_public_key.fingerprint(),
                pinned: master.fingerprint(),
            }
            .into());
        }
        if m.revocations_stale && may_ask {
            let (a, io) = Await::<api::Revocations>::at_base(&pin.url, &(), &())?;
            self.asking = Some((a, Box::new(answer)));
            return Ok(Next::Io(io));
        }
        let due = m.revocations.body.next_update;
        if self.now > due.saturating_add(MAX_STALE_REVOCATIONS_SECS) {
            return Err(WalletError::Unreachable {
                url: pin.url.clone(),
                reason: format!(
                    "the certifier's revocation list is more than {} days past its update; \
                     the bank is not used until the certifier can be asked",
                    MAX_STALE_REVOCATIONS_SECS / 86_400
                ),
            });
        }
        m.keys.check_announced(self.now)?;
        Ok(Next::Done(Fetched {
            signed: answer.key_set,
            verified: m.keys,
            papers: Some(Papers {
                certificate: m.certificate,
                revocations: m.revocations,
            }),
        }))
    }
}

impl<C> Machine<C> for FetchKeys {
    type Output = Fetched;
    fn resume(&mut self, _: &C, input: Input) -> Result<Next<Self::Output>, WalletError> {
        self.step(input)
    }
}

/// What first contact learned.
pub(crate) struct Met {
    pub(crate) signed: SignedKeySet,
    pub(crate) verified: VerifiedKeySet,
    pub(crate) papers: Option<Papers>,
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
    fetched: Option<(Fetched, SeenKeys)>,
    waiting: Option<Await<api::Register>>,
}

impl Connect {
    pub(crate) fn new(
        bank_url: &str,
        trust: &Trust,
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
            keys: FetchKeys::new(bank_url, Expect::first(trust)?, now)?,
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
            let (fetched, seen) = self
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
                signed: fetched.signed,
                verified: fetched.verified,
                papers: fetched.papers,
                seen,
                account_id: id,
            }));
        }
        match self.keys.step(input)? {
            Next::Io(io) => Ok(Next::Io(io)),
            Next::Done(fetched) => {
                let mut seen = SeenKeys::default();
                fetched.verified.check_seen(&mut seen, self.now)?;
                self.fetched = Some((fetched, seen));
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
    /// The refusal to return once a revoking list is stored.
    failed: Option<WalletError>,
}

impl RefreshKeys {
    /// Always fetches.
    pub(crate) fn always() -> Self {
        Self {
            only_if_stale: false,
            fetch: None,
            committing: false,
            failed: None,
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
            return match self.failed.take() {
                Some(e) => Err(e),
                None => Ok(Next::Done(())),
            };
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
                    Expect::known(&s.meta, s.papers.as_ref()),
                    t,
                )?))
            }
        };
        let stepped = match fetch.step(input) {
            Ok(n) => n,
            // A fresh list that revokes the bank is kept, so the next check
            // offline (or with the certifier blocked) refuses it too.
            Err(e @ WalletError::Certificate(CertError::Revoked { .. })) => {
                let (Some(list), Some(p)) = (fetch.fresh.take(), &s.papers) else {
                    return Err(e);
                };
                let mut b = Batch::default();
                b.papers(Papers {
                    certificate: p.certificate.clone(),
                    revocations: list,
                })?;
                self.failed = Some(e);
                self.committing = true;
                return Ok(Next::Io(Io::Commit(b)));
            }
            Err(e) => return Err(e),
        };
        match stepped {
            Next::Io(io) => Ok(Next::Io(io)),
            Next::Done(f) => {
                let mut seen = s.seen.clone();
                f.verified.check_seen(&mut seen, s.now())?;
                let mut b = Batch::default();
                b.keys(KeysUpdate {
                    signed: f.signed,
                    verified: f.verified,
                    papers: f.papers,
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
