//! Offline coins (CAFE; the construction is fixed in `OFFLINE.md`):
//! Chaum–Fiat–Naor cut-and-choose coins on RSA with full-domain hashing. A
//! coin is an RSA signature on the product of [`TERMS`] full-domain hashes
//! `f(x_i, y_i)`, where `x_i = g(a_i, c_i)` and `y_i = g(a_i ⊕ u, d_i)` hide
//! the withdrawer's identity `u`. A spend reveals one half of every term, as
//! a challenge the payee's request fixes asks; one spend shows nothing of
//! `u`, two spends of one coin (or of one term) show it.
//!
//! This module is the arithmetic only: who keeps nonces, spent lists and
//! identities is the bank's and the payee's business.

use crypto_bigint::modular::BoxedMontyForm;
use crypto_bigint::{BoxedUint, Resize};
use hkdf::Hkdf;
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::blind_rsa::{self, BlindRsaError, i2osp, os2ip_in_range};
use crate::bytes::{B32, Bytes, Fixed};

/// Terms per coin (`m`).
pub const TERMS: usize = 40;
/// Candidates per withdrawal (`k = 2m`); the bank opens half.
pub const CANDIDATES: usize = 2 * TERMS;
/// Length of the identity `u`, of each pad `a_i` and of `c_i`, `d_i`, `x_i`, `y_i`.
pub const LEN: usize = 32;
/// Length of a payee's single-use nonce.
pub const NONCE_LEN: usize = 16;

/// The identity a coin hides: issued by the bank, one per offline withdrawal.
pub type Identity = Fixed<LEN>;

const G_TAG: &[u8] = b"ecash/offline/v1/g";
const F_TAG: &[u8] = b"ecash/offline/v1/f";
const Z_TAG: &[u8] = b"ecash/offline/v1/challenge";
const ID_TAG: &[u8] = b"ecash/offline/v1/identity";
const ID_SECRET_TAG: &[u8] = b"ecash/offline/v1/identity-secret";
const COIN_TAG: &[u8] = b"ecash/offline/v1/coin";
const TERM_TAG: &[u8] = b"ecash/offline/v1/term";

/// Why offline arithmetic refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfflineError {
    /// A list of the wrong length.
    #[error("expected {expected} {what}, got {got}")]
    Count {
        /// What was counted.
        what: &'static str,
        /// How many there must be.
        expected: usize,
        /// How many there were.
        got: usize,
    },
    /// The candidates to open are not half of them, distinct and in range.
    #[error("the candidates to open must be {TERMS} distinct indices below {CANDIDATES}")]
    Selection,
    /// An opened candidate does not give the blinded value sent for it.
    #[error("candidate {0} does not open to the value sent for it")]
    Opening(usize),
    /// The terms are not in strictly increasing order of their `f` value.
    #[error("the terms are not in canonical order (or one is repeated)")]
    Order,
    /// The revealed halves are not the ones the challenge asks for.
    #[error("the revealed halves do not follow the challenge")]
    Challenge,
    /// The signature does not cover the product of the terms.
    #[error("the signature does not cover the coin's terms")]
    Signature,
    /// RSA arithmetic refused a value.
    #[error(transparent)]
    Rsa(#[from] BlindRsaError),
}

/// `u` for offline withdrawal number `counter` of `account_id`, under the
/// bank's identity secret: a pseudorandom function of both, so no one but
/// the bank (and the account it hands `u` to) can name another account's
/// withdrawal. A cheater who plants a term pointing at an identity he made
/// up names nothing; one he cannot compute, he cannot plant.
pub fn identity(secret: &[u8; 32], account_id: &str, counter: u64) -> Identity {
    let mut info = Vec::with_capacity(account_id.len() + 12);
    info.extend_from_slice(&(account_id.len() as u32).to_be_bytes());
    info.extend_from_slice(account_id.as_bytes());
    info.extend_from_slice(&counter.to_be_bytes());
    let mut u = [0u8; LEN];
    // 32 bytes are far below HKDF's limit: expand cannot fail here.
    let _ = Hkdf::<Sha256>::new(Some(ID_TAG), secret).expand(&info, &mut u);
    Fixed(u)
}

/// The bank's identity secret, derived from its master key's seed, so every
/// node of one mint computes the same identities and none is stored apart.
pub fn identity_secret(master_seed: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    let _ = Hkdf::<Sha256>::new(Some(ID_SECRET_TAG), master_seed).expand(&[], out.as_mut());
    out
}

/// SHA-256 over a length-prefixed tag and length-prefixed parts.
fn tagged(tag: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((tag.len() as u32).to_be_bytes());
    h.update(tag);
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// `g(a, c)`: a commitment to `a` that `c` (256 random bits) hides.
pub fn g(a: &[u8; LEN], c: &[u8; LEN]) -> [u8; LEN] {
    tagged(G_TAG, &[a, c])
}

/// `f_K(x, y)`: the full-domain hash into `Z_n` of key `key_id`, `pk`
/// (`len(n) + 16` bytes of HKDF-SHA256 output reduced mod `n`, so the bias is
/// below `2^-128`).
pub fn f(
    pk: &RsaPublicKey,
    key_id: &B32,
    x: &[u8; LEN],
    y: &[u8; LEN],
) -> Result<BoxedUint, OfflineError> {
    let mut ikm = [0u8; 3 * LEN];
    ikm[..LEN].copy_from_slice(&key_id.0);
    ikm[LEN..2 * LEN].copy_from_slice(x);
    ikm[2 * LEN..].copy_from_slice(y);
    let mut okm = vec![0u8; pk.size() + 16];
    // HKDF expands up to 8 160 bytes; a key of 4 096 bits needs 528.
    Hkdf::<Sha256>::new(Some(F_TAG), &ikm)
        .expand(&[], &mut okm)
        .map_err(|_| BlindRsaError::Encoding)?;
    Ok(blind_rsa::blinding_factor_from_bytes(pk, &okm)?.resize(pk.n_bits_precision()))
}

/// The secrets of one term: the pad `a` of `u`, and the randomness `c`, `d`
/// of its two halves. Wiped when dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TermSecrets {
    /// The pad: `a` and `a ⊕ u` are each uniform on their own.
    pub a: [u8; LEN],
    /// Hides `a` in `x = g(a, c)`.
    pub c: [u8; LEN],
    /// Hides `a ⊕ u` in `y = g(a ⊕ u, d)`.
    pub d: [u8; LEN],
}

impl std::fmt::Debug for TermSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TermSecrets(..)")
    }
}

impl Drop for TermSecrets {
    fn drop(&mut self) {
        self.a.zeroize();
        self.c.zeroize();
        self.d.zeroize();
    }
}

impl TermSecrets {
    fn random() -> Result<Self, OfflineError> {
        let mut t = Self {
            a: [0; LEN],
            c: [0; LEN],
            d: [0; LEN],
        };
        for v in [&mut t.a, &mut t.c, &mut t.d] {
            getrandom::fill(v).map_err(|_| BlindRsaError::Rng)?;
        }
        Ok(t)
    }

    /// `a ⊕ u`.
    fn b(&self, u: &Identity) -> [u8; LEN] {
        xor(&self.a, &u.0)
    }

    /// `(x, y)` of this term for identity `u`.
    pub fn halves(&self, u: &Identity) -> ([u8; LEN], [u8; LEN]) {
        (g(&self.a, &self.c), g(&self.b(u), &self.d))
    }
}

fn xor(a: &[u8; LEN], b: &[u8; LEN]) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// One opened candidate, as the wallet reveals it at withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Opening {
    /// Which candidate.
    pub index: u16,
    /// Its pad.
    pub a: B32,
    /// Its `x` randomness.
    pub c: B32,
    /// Its `y` randomness.
    pub d: B32,
    /// Its blinding factor, `len(n)` bytes big-endian.
    pub r: Bytes,
}

/// The wallet's half of a withdrawal: [`CANDIDATES`] blinded candidates
/// under identity `u`, their secrets, and their blinding factors.
pub struct Candidates {
    key_id: B32,
    u: Identity,
    terms: Vec<TermSecrets>,
    r: Vec<BoxedUint>,
    /// `B_i = r_i^e · f(x_i, y_i) mod n`, `len(n)` bytes each: what goes to the bank.
    pub blinded: Vec<Bytes>,
}

impl Drop for Candidates {
    fn drop(&mut self) {
        for r in &mut self.r {
            r.zeroize();
        }
    }
}

impl Candidates {
    /// Fresh candidates for a coin of key `key_id`, `pk`, hiding `u`.
    pub fn new(pk: &RsaPublicKey, key_id: B32, u: Identity) -> Result<Self, OfflineError> {
        let params = pk.n_params();
        let mut terms = Vec::with_capacity(CANDIDATES);
        let mut r = Vec::with_capacity(CANDIDATES);
        let mut blinded = Vec::with_capacity(CANDIDATES);
        for _ in 0..CANDIDATES {
            let t = TermSecrets::random()?;
            let (x, y) = t.halves(&u);
            let ri = random_unit(pk)?;
            let re = rsa::hazmat::rsa_encrypt(pk, &ri).map_err(|_| BlindRsaError::Encoding)?;
            let b = BoxedMontyForm::new(re, params)
                .mul(&BoxedMontyForm::new(f(pk, &key_id, &x, &y)?, params))
                .retrieve();
            blinded.push(Bytes(i2osp(&b, pk.size())?));
            terms.push(t);
            r.push(ri);
        }
        Ok(Self {
            key_id,
            u,
            terms,
            r,
            blinded,
        })
    }

    /// What the wallet reveals of the candidates the bank chose to open.
    pub fn open(&self, pk: &RsaPublicKey, chosen: &[u16]) -> Result<Vec<Opening>, OfflineError> {
        check_selection(chosen)?;
        chosen
            .iter()
            .map(|&i| {
                let t = &self.terms[usize::from(i)];
                Ok(Opening {
                    index: i,
                    a: Fixed(t.a),
                    c: Fixed(t.c),
                    d: Fixed(t.d),
                    r: Bytes(i2osp(&self.r[usize::from(i)], pk.size())?),
                })
            })
            .collect()
    }

    /// The coin, from the bank's blind signature on the product of the
    /// candidates not opened: unblinded, checked to cover them, and its
    /// terms put in canonical order.
    pub fn finish(
        mut self,
        pk: &RsaPublicKey,
        chosen: &[u16],
        blind_sig: &[u8],
    ) -> Result<OfflineCoin, OfflineError> {
        check_selection(chosen)?;
        let params = pk.n_params();
        let kept: Vec<usize> = (0..CANDIDATES)
            .filter(|i| !chosen.iter().any(|c| usize::from(*c) == *i))
            .collect();
        let one = BoxedMontyForm::new(BoxedUint::one_with_precision(pk.n_bits_precision()), params);
        let r_prod = kept.iter().fold(one, |acc, &i| {
            acc.mul(&BoxedMontyForm::new(self.r[i].clone(), params))
        });
        let inv = r_prod
            .invert()
            .into_option()
            .ok_or(BlindRsaError::NotInvertible)?;
        let s = BoxedMontyForm::new(os2ip_in_range(pk, blind_sig)?, params)
            .mul(&inv)
            .retrieve();
        let u = self.u;
        let key_id = self.key_id;
        let mut terms: Vec<(BoxedUint, TermSecrets)> = kept
            .iter()
            .map(|&i| {
                let t = self.terms[i].clone();
                let (x, y) = t.halves(&u);
                Ok((f(pk, &key_id, &x, &y)?, t))
            })
            .collect::<Result<_, OfflineError>>()?;
        let product = product_of(pk, terms.iter().map(|(fv, _)| fv));
        let se = rsa::hazmat::rsa_encrypt(pk, &s).map_err(|_| BlindRsaError::Encoding)?;
        if se != product {
            return Err(OfflineError::Signature);
        }
        terms.sort_by(|p, q| p.0.cmp(&q.0));
        if terms.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(OfflineError::Order);
        }
        self.terms.clear();
        Ok(OfflineCoin {
            key_id,
            signature: Bytes(i2osp(&s, pk.size())?),
            u,
            terms: terms.into_iter().map(|(_, t)| t).collect(),
        })
    }
}

/// A uniform unit of `Z_n` (the blinding factors).
fn random_unit(pk: &RsaPublicKey) -> Result<BoxedUint, OfflineError> {
    let mut bytes = zeroize::Zeroizing::new(vec![0u8; pk.size() + 16]);
    getrandom::fill(&mut bytes).map_err(|_| BlindRsaError::Rng)?;
    Ok(blind_rsa::blinding_factor_from_bytes(pk, &bytes)?.resize(pk.n_bits_precision()))
}

/// `∏ values mod n`.
fn product_of<'a>(pk: &RsaPublicKey, values: impl Iterator<Item = &'a BoxedUint>) -> BoxedUint {
    let params = pk.n_params();
    let one = BoxedMontyForm::new(BoxedUint::one_with_precision(pk.n_bits_precision()), params);
    values
        .fold(one, |acc, v| {
            acc.mul(&BoxedMontyForm::new(v.clone(), params))
        })
        .retrieve()
}

/// The bank's choice of candidates to open: [`TERMS`] distinct indices
/// below [`CANDIDATES`], uniformly at random, sorted.
pub fn choose_openings() -> Result<Vec<u16>, OfflineError> {
    let mut all: Vec<u16> = (0..CANDIDATES as u16).collect();
    // Fisher–Yates with rejection sampling: no modulo bias.
    for i in (1..all.len()).rev() {
        let bound = (i + 1) as u32;
        let zone = u32::MAX - u32::MAX % bound;
        let j = loop {
            let mut b = [0u8; 4];
            getrandom::fill(&mut b).map_err(|_| BlindRsaError::Rng)?;
            let v = u32::from_be_bytes(b);
            if v < zone {
                break (v % bound) as usize;
            }
        };
        all.swap(i, j);
    }
    let mut chosen = all[..TERMS].to_vec();
    chosen.sort_unstable();
    Ok(chosen)
}

/// Refuses a set to open that is not [`TERMS`] distinct indices below [`CANDIDATES`].
pub fn check_selection(chosen: &[u16]) -> Result<(), OfflineError> {
    let mut seen = [false; CANDIDATES];
    if chosen.len() != TERMS {
        return Err(OfflineError::Selection);
    }
    for &i in chosen {
        let i = usize::from(i);
        if i >= CANDIDATES || seen[i] {
            return Err(OfflineError::Selection);
        }
        seen[i] = true;
    }
    Ok(())
}

/// A selection to open, and [`CANDIDATES`] candidates to open it in.
fn check_candidates(blinded: &[Bytes], chosen: &[u16]) -> Result<(), OfflineError> {
    check_selection(chosen)?;
    if blinded.len() != CANDIDATES {
        return Err(OfflineError::Count {
            what: "candidates",
            expected: CANDIDATES,
            got: blinded.len(),
        });
    }
    Ok(())
}

/// The bank's cheap check of round 1: [`CANDIDATES`] values, each `len(n)`
/// bytes and below `n`. Public arithmetic only, before anything is stored.
pub fn check_blinded(pk: &RsaPublicKey, blinded: &[Bytes]) -> Result<(), OfflineError> {
    if blinded.len() != CANDIDATES {
        return Err(OfflineError::Count {
            what: "candidates",
            expected: CANDIDATES,
            got: blinded.len(),
        });
    }
    for (i, b) in blinded.iter().enumerate() {
        if b.0.len() != pk.size() || os2ip_in_range(pk, &b.0).is_err() {
            return Err(OfflineError::Opening(i));
        }
    }
    Ok(())
}

/// The bank's check of the opened candidates: each recomputed with the
/// bank's own `u` must equal the blinded value sent. Public-key work only.
pub fn check_openings(
    pk: &RsaPublicKey,
    key_id: &B32,
    u: &Identity,
    blinded: &[Bytes],
    chosen: &[u16],
    openings: &[Opening],
) -> Result<(), OfflineError> {
    check_candidates(blinded, chosen)?;
    if openings.len() != TERMS {
        return Err(OfflineError::Count {
            what: "openings",
            expected: TERMS,
            got: openings.len(),
        });
    }
    let params = pk.n_params();
    for (&i, o) in chosen.iter().zip(openings) {
        let idx = usize::from(i);
        if o.index != i {
            return Err(OfflineError::Opening(idx));
        }
        let t = TermSecrets {
            a: o.a.0,
            c: o.c.0,
            d: o.d.0,
        };
        let (x, y) = t.halves(u);
        let r = os2ip_in_range(pk, &o.r.0).map_err(|_| OfflineError::Opening(idx))?;
        let re = rsa::hazmat::rsa_encrypt(pk, &r).map_err(|_| BlindRsaError::Encoding)?;
        let b = BoxedMontyForm::new(re, params)
            .mul(&BoxedMontyForm::new(f(pk, key_id, &x, &y)?, params))
            .retrieve();
        if i2osp(&b, pk.size())? != blinded[idx].0 {
            return Err(OfflineError::Opening(idx));
        }
    }
    Ok(())
}

/// `∏ B_i mod n` over the candidates not opened: what the bank signs with
/// one private-key operation ([`sign_product`]).
pub fn blind_product(
    pk: &RsaPublicKey,
    blinded: &[Bytes],
    chosen: &[u16],
) -> Result<Vec<u8>, OfflineError> {
    check_candidates(blinded, chosen)?;
    let kept = (0..CANDIDATES)
        .filter(|i| !chosen.iter().any(|c| usize::from(*c) == *i))
        .map(|i| os2ip_in_range(pk, &blinded[i].0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(i2osp(&product_of(pk, kept.iter()), pk.size())?)
}

/// The bank's blind signature on a [`blind_product`]: the raw private-key
/// operation, checked before it is returned.
pub fn sign_product(sk: &RsaPrivateKey, product: &[u8]) -> Result<Vec<u8>, OfflineError> {
    Ok(blind_rsa::blind_sign(sk, product)?)
}

/// An offline coin as its holder keeps it: the signature and the secrets of
/// its terms, in canonical order.
pub struct OfflineCoin {
    /// Its offline denomination key.
    pub key_id: B32,
    /// `σ` with `σ^e = ∏ f(x_i, y_i) mod n`.
    pub signature: Bytes,
    /// The identity it hides.
    pub u: Identity,
    /// Its terms, in increasing order of `f(x_i, y_i)`.
    pub terms: Vec<TermSecrets>,
}

impl std::fmt::Debug for OfflineCoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineCoin")
            .field("key_id", &self.key_id)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl OfflineCoin {
    /// The coin's id: what payees and the bank keep it under.
    pub fn id(&self) -> B32 {
        coin_id(&self.key_id, &self.signature.0)
    }

    /// A spend to the payee that issued `request`: each term's half the
    /// challenge asks for. Offline: no bank, no network.
    pub fn spend(&self, request: &PaymentRequest) -> Spend {
        let halves: Vec<([u8; LEN], [u8; LEN])> =
            self.terms.iter().map(|t| t.halves(&self.u)).collect();
        let bits = challenge(&self.key_id, &self.signature.0, &halves, request);
        let revealed = self
            .terms
            .iter()
            .zip(&halves)
            .zip(bits)
            .map(|((t, (x, y)), bit)| {
                if bit {
                    Revealed::Pad {
                        a: Fixed(t.a),
                        c: Fixed(t.c),
                        y: Fixed(*y),
                    }
                } else {
                    Revealed::Masked {
                        x: Fixed(*x),
                        b: Fixed(t.b(&self.u)),
                        d: Fixed(t.d),
                    }
                }
            })
            .collect();
        Spend {
            key_id: self.key_id,
            signature: self.signature.clone(),
            request: request.clone(),
            revealed,
        }
    }
}

fn coin_id(key_id: &B32, signature: &[u8]) -> B32 {
    Fixed(tagged(COIN_TAG, &[&key_id.0, signature]))
}

/// The id of the coin of key `key_id` with `signature` (what
/// [`OfflineCoin::id`] and [`VerifiedSpend::coin_id`] are).
pub fn coin_id_of(key_id: &B32, signature: &[u8]) -> B32 {
    coin_id(key_id, signature)
}

/// What a payee hands the payer first (a QR code, a link, a payment
/// request): who it is and a single-use nonce, at the payee's time. The
/// payer chooses nothing the challenge depends on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PaymentRequest {
    /// The payee's account id (what it deposits under).
    pub payee_id: String,
    /// Single use: the payee keeps the nonces it has taken.
    pub nonce: Fixed<NONCE_LEN>,
    /// The payee's clock when it made the request, unix seconds.
    pub issued_at: u64,
}

/// The half of one term a spend reveals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "half", rename_all = "snake_case")]
pub enum Revealed {
    /// Challenge bit 1: the pad `a` and `c` (the payee computes `x = g(a, c)`), and `y`.
    Pad {
        /// `a`.
        a: B32,
        /// `c`.
        c: B32,
        /// `y`.
        y: B32,
    },
    /// Challenge bit 0: `x`, the masked identity `b = a ⊕ u` and `d` (the
    /// payee computes `y = g(b, d)`).
    Masked {
        /// `x`.
        x: B32,
        /// `a ⊕ u`.
        b: B32,
        /// `d`.
        d: B32,
    },
}

/// One offline payment: the coin, the payee's request, and the halves of
/// its terms the challenge asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Spend {
    /// The coin's offline denomination key.
    pub key_id: B32,
    /// The coin's signature.
    pub signature: Bytes,
    /// The payee's request it answers.
    pub request: PaymentRequest,
    /// One half of each term, in the coin's canonical order.
    pub revealed: Vec<Revealed>,
}

/// A spend whose arithmetic checks out, as a payee or the bank keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSpend {
    /// The coin's id.
    pub coin_id: B32,
    /// The challenge bits.
    pub bits: [bool; TERMS],
    /// Each term's `(x, y)`.
    pub terms: Vec<([u8; LEN], [u8; LEN])>,
    /// Each term's revealed pad: `a` (bit 1) or `a ⊕ u` (bit 0).
    pub pads: Vec<[u8; LEN]>,
}

impl VerifiedSpend {
    /// An id per term (a hash of the key and `(x, y)`): the bank indexes
    /// them, since a term in two coins of one key is spent twice too
    /// (signatures combine).
    pub fn term_ids(&self, key_id: &B32) -> Vec<B32> {
        self.terms
            .iter()
            .map(|(x, y)| Fixed(tagged(TERM_TAG, &[&key_id.0, x, y])))
            .collect()
    }
}

impl Spend {
    /// The payee's (and the bank's) check, with no network: the challenge
    /// followed, the terms in canonical order, the signature covering their
    /// product. The key's window, the request's freshness and the payee's
    /// own spent list are the caller's.
    pub fn verify(&self, pk: &RsaPublicKey) -> Result<VerifiedSpend, OfflineError> {
        if self.revealed.len() != TERMS {
            return Err(OfflineError::Count {
                what: "terms",
                expected: TERMS,
                got: self.revealed.len(),
            });
        }
        let mut terms = Vec::with_capacity(TERMS);
        let mut pads = Vec::with_capacity(TERMS);
        let mut shown = [false; TERMS];
        for (i, r) in self.revealed.iter().enumerate() {
            match r {
                Revealed::Pad { a, c, y } => {
                    terms.push((g(&a.0, &c.0), y.0));
                    pads.push(a.0);
                    shown[i] = true;
                }
                Revealed::Masked { x, b, d } => {
                    terms.push((x.0, g(&b.0, &d.0)));
                    pads.push(b.0);
                }
            }
        }
        let sig = os2ip_in_range(pk, &self.signature.0).map_err(|_| OfflineError::Signature)?;
        let bits = challenge(&self.key_id, &self.signature.0, &terms, &self.request);
        if bits != shown {
            return Err(OfflineError::Challenge);
        }
        let fs: Vec<BoxedUint> = terms
            .iter()
            .map(|(x, y)| f(pk, &self.key_id, x, y))
            .collect::<Result<_, _>>()?;
        if fs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(OfflineError::Order);
        }
        let se = rsa::hazmat::rsa_encrypt(pk, &sig).map_err(|_| OfflineError::Signature)?;
        if se != product_of(pk, fs.iter()) {
            return Err(OfflineError::Signature);
        }
        Ok(VerifiedSpend {
            coin_id: coin_id(&self.key_id, &self.signature.0),
            bits,
            terms,
            pads,
        })
    }
}

/// The challenge: [`TERMS`] bits of a hash of the coin (key, signature and
/// every term's halves) and the payee's request.
pub fn challenge(
    key_id: &B32,
    signature: &[u8],
    terms: &[([u8; LEN], [u8; LEN])],
    request: &PaymentRequest,
) -> [bool; TERMS] {
    let mut flat = Vec::with_capacity(terms.len() * 2 * LEN);
    for (x, y) in terms {
        flat.extend_from_slice(x);
        flat.extend_from_slice(y);
    }
    let digest = tagged(
        Z_TAG,
        &[
            &key_id.0,
            signature,
            &flat,
            request.payee_id.as_bytes(),
            &request.nonce.0,
            &request.issued_at.to_be_bytes(),
        ],
    );
    let mut bits = [false; TERMS];
    for (i, b) in bits.iter_mut().enumerate() {
        *b = digest[i / 8] >> (7 - i % 8) & 1 == 1;
    }
    bits
}

/// The identities two spends that share terms (the same coin spent twice,
/// or a term in two coins) point at: for every shared term revealed both
/// ways, the XOR of `a` and `a ⊕ u`, with how many terms point at it, most
/// first. An honest withdrawal's terms all point at its `u`; a term planted
/// at withdrawal (it survived the opening) points wherever its maker chose,
/// so the caller keeps only identities it issued.
pub fn identities(first: &VerifiedSpend, second: &VerifiedSpend) -> Vec<(Identity, usize)> {
    let mut found: Vec<(Identity, usize)> = Vec::new();
    for (i, t) in first.terms.iter().enumerate() {
        for (j, s) in second.terms.iter().enumerate() {
            if t == s && first.bits[i] != second.bits[j] {
                let u = Fixed(xor(&first.pads[i], &second.pads[j]));
                match found.iter_mut().find(|(v, _)| *v == u) {
                    Some((_, n)) => *n += 1,
                    None => found.push((u, 1)),
                }
            }
        }
    }
    found.sort_by_key(|e| std::cmp::Reverse(e.1));
    found
}

/// The identity most of the shared terms of two spends point at (see
/// [`identities`]); `None` when no shared term was revealed both ways.
pub fn identify(first: &VerifiedSpend, second: &VerifiedSpend) -> Option<Identity> {
    identities(first, second).first().map(|(u, _)| *u)
}

pub mod messages;
pub mod payee;
pub mod stored;

#[cfg(test)]
mod tests;
