//! What the targets run against: a real bank (mint keys on disk, SQLite in
//! memory), a registered payer and merchant, and the keys the harness signs
//! with so that fuzzed bodies reach past the signature checks.
//!
//! The mint's RSA keys live in a state directory shared by the corpus
//! generator and every fuzzing process, so the coins and signatures in the
//! seeds verify in the process that fuzzes them. Accounts and their keys
//! come from fixed seeds; the books start empty in every process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecash_core::coin::{CoinSecrets, PendingCoin};
use ecash_core::keyset::VerifiedDenomination;
use ecash_core::messages::*;
use ecash_core::{Amount, Currency, Keypair, Signed, VerifiedKeySet};
use mint_server::bank::{Bank, BankSettings};

/// Unix seconds now.
pub fn unix_now() -> u64 {
    use ecash_core::Clock;
    ecash_core::clock::SystemClock.now()
}
use mint_server::keys::files::FileVault;
use mint_server::keys::{MintKeys, Schedule};
use mint_server::signer::SignerKind;
use mint_server::storage::sqlite::SqliteStorage;

/// Money the payer account starts with.
pub const FUNDS: u64 = 1 << 40;

/// The harness.
pub struct Harness {
    /// The bank under test.
    pub bank: Arc<Bank>,
    /// Its key set, verified.
    pub keys: VerifiedKeySet,
    /// The payer's account key and id.
    pub payer: (Keypair, String),
    /// The merchant's account key and id.
    pub merchant: (Keypair, String),
    /// A payment request of the merchant, for answers to check against.
    pub payreq: PayReq,
    /// Blinded coins whose blind signatures the `blind_signatures` target fuzzes.
    answered: std::sync::OnceLock<Vec<PendingCoin>>,
}

/// Where the mint keys live: `ECASH_FUZZ_STATE`, or `target/fuzz/state`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("ECASH_FUZZ_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("fuzz")
                .join("state")
        })
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("fuzz harness: {what}: {e}");
    std::process::exit(2)
}

fn account(bank: &Bank, secret: u8, label: &str) -> (Keypair, String) {
    let key = Keypair::from_secret_bytes(&[secret; 32]);
    let req = Signed::sign(
        RegisterAccount {
            public_key: key.public(),
            label: label.into(),
            timestamp: 0,
        },
        &key,
    );
    let id = bank
        .register(&req)
        .unwrap_or_else(|e| fail("registering", e))
        .account_id;
    (key, id)
}

impl Harness {
    /// Opens the mint keys in [`state_dir`] (creating them on first use) and
    /// a bank with empty books, a funded payer and a merchant.
    pub fn new() -> Self {
        let dir = state_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail("state dir", e));
        let currency = Currency::new("FUZZ").unwrap_or_else(|e| fail("currency", e));
        let schedule = Schedule {
            bank_id: "fuzz-bank".into(),
            currency: currency.clone(),
            max_exp: 3,
            rsa_bits: 2048,
            // One period for a century: the seeds' keys stay the keys in force.
            withdraw_period: 100 * 365 * 24 * 3600,
            deposit_grace: 365 * 24 * 3600,
            signer: SignerKind::Openssl,
        };
        let vault = FileVault::open(&dir, schedule.withdraw_period)
            .unwrap_or_else(|e| fail("key files", e));
        let keys = Arc::new(
            MintKeys::open(Arc::new(vault), schedule, unix_now())
                .unwrap_or_else(|e| fail("mint keys", e)),
        );
        let storage = Arc::new(
            SqliteStorage::open(Path::new(":memory:")).unwrap_or_else(|e| fail("storage", e)),
        );
        let settings = BankSettings {
            bank_id: "fuzz-bank".into(),
            currency: currency.clone(),
            demo_faucet: true,
            faucet_max: FUNDS,
            max_coins: 64,
            signing_threads: 1,
            spent_list_max_age: std::time::Duration::from_secs(0),
            merchant_certificate_secs: None,
            certifier_key: None,
        };
        let bank = Arc::new(
            Bank::new(
                storage,
                keys.clone(),
                settings,
                std::sync::Arc::new(ecash_core::clock::SystemClock),
            )
            .unwrap_or_else(|e| fail("bank", e)),
        );
        let signed = keys.current().signed.clone();
        let verified = VerifiedKeySet::verify(&signed, &keys.master.public())
            .unwrap_or_else(|e| fail("key set", e));
        let payer = account(&bank, 1, "payer");
        let merchant = account(&bank, 2, "merchant");
        bank.storage()
            .faucet_credit(&payer.1, FUNDS, 0)
            .unwrap_or_else(|e| fail("faucet", e));
        let payreq = PayReq {
            payreq_id: "order-1".into(),
            amount: Amount::new(currency, 3),
            timestamp: 0,
            expires_at: u64::MAX,
            merchant_bank_id: "fuzz-bank".into(),
            merchant_acc_id: merchant.1.clone(),
            description: "three".into(),
            pay_url: "https://shop.example/pay/order-1".into(),
            fulfillment_url: "https://shop.example/done/order-1".into(),
            merchant_certificate: None,
            merchant_bank_url: None,
            accepted_mints: Vec::new(),
        };
        Self {
            bank,
            keys: verified,
            payer,
            merchant,
            payreq,
            answered: std::sync::OnceLock::new(),
        }
    }

    /// The four blinded coins the `blind_signatures` target unblinds answers for.
    pub fn answered_coins(&self) -> &[PendingCoin] {
        self.answered.get_or_init(|| self.pending(9, 4))
    }

    /// The withdrawable key of each value, smallest first.
    pub fn denomination_keys(&self) -> Vec<&VerifiedDenomination> {
        self.keys.withdraw_keys(unix_now()).into_values().collect()
    }

    /// `n` blinded coins under the smallest key, from fixed secrets `tag`:
    /// the same coins in every process.
    pub fn pending(&self, tag: u8, n: usize) -> Vec<PendingCoin> {
        let Some(k) = self.denomination_keys().first().copied() else {
            fail("key set", "no withdrawable key")
        };
        let size = ecash_core::rsa::traits::PublicKeyParts::size(&k.key);
        let secrets: Vec<CoinSecrets> = (0..n)
            .map(|i| {
                let mut serial = [0x5a; 32];
                serial[0] = tag;
                serial[1] = i as u8;
                CoinSecrets {
                    serial,
                    prefix: [i as u8 ^ 0xa5; ecash_core::blind_rsa::PREFIX_LEN],
                    salt: [tag; ecash_core::blind_rsa::SALT_LEN],
                    r_bytes: (0..size + 16).map(|j| (j as u8) ^ tag ^ i as u8).collect(),
                }
            })
            .collect();
        PendingCoin::new_deterministic_batch(k.info.key_id, &k.key, &secrets)
            .unwrap_or_else(|e| fail("blinding", e))
    }

    /// Signs a deposit of `payment` by the merchant.
    pub fn merchant_deposit(&self, payment: Payment) -> Signed<Deposit> {
        Signed::sign(
            Deposit {
                merchant_acc_id: self.merchant.1.clone(),
                payment,
            },
            &self.merchant.0,
        )
    }

    /// `payment_info` of a payment of `amount` in `ncoins` coins to the merchant.
    pub fn payment_info(&self, amount: u64, ncoins: u32) -> PaymentInfo {
        PaymentInfo {
            bank_id: "fuzz-bank".into(),
            amount: Amount::new(self.keys.set.currency.clone(), amount),
            ncoins,
            timestamp: 0,
            merchant_bank_id: "fuzz-bank".into(),
            merchant_acc_id: self.merchant.1.clone(),
            payreq_id: self.payreq.payreq_id.clone(),
            description_hash: description_hash(&self.payreq.description),
            payer_code_hash: payer_code_hash(&[7; 32]),
            goods_key_hash: Some(goods_key_hash(&[7; 32])),
        }
    }

    /// A payment whose envelope holds `plaintext`, bound to `info`.
    pub fn seal(&self, info: PaymentInfo, plaintext: &[u8]) -> Payment {
        use ecash_core::Canonical;
        let sealed = ecash_core::envelope::seal(
            &self.keys.encryption_key,
            plaintext,
            &info.canonical_hash(),
        )
        .unwrap_or_else(|e| fail("sealing", e));
        Payment {
            payment_info: info,
            sealed_coins: sealed,
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}
