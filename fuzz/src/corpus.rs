//! Seeds for every target: valid messages, correctly signed and sealed,
//! made against the harness's bank. Random bytes alone stop at the first
//! signature or parse; these let the fuzzer start from messages that pass.

use std::collections::BTreeMap;

use ecash_core::canonical::Canonical;
use ecash_core::messages::*;
use ecash_core::spent::SpentList;
use ecash_core::{Amount, Bytes, Coin, Denomination, Fixed, Keypair, Signed};
use serde::Serialize;

use crate::harness::Harness;

fn j<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Withdraws the blinded `coins` through the bank and unblinds them.
fn withdraw(
    h: &Harness,
    id: u8,
    pending: &[ecash_core::PendingCoin],
) -> (Signed<WithdrawRequest>, BlindSignatures, Vec<Coin>) {
    let value: u64 = pending
        .iter()
        .filter_map(|p| h.keys.key(&p.key_id))
        .map(|k| k.info.value.value)
        .sum();
    let req = Signed::sign(
        WithdrawRequest {
            account_id: h.payer.1.clone(),
            request_id: Fixed([id; 32]),
            amount: Amount::new(h.keys.set.currency.clone(), value),
            coins: pending.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: 0,
        },
        &h.payer.0,
    );
    let Ok(sigs) = h.bank.withdraw(&req) else {
        return (
            req,
            BlindSignatures {
                request_id: Fixed([id; 32]),
                blind_signatures: vec![],
            },
            vec![],
        );
    };
    let coins = pending
        .iter()
        .zip(&sigs.blind_signatures)
        .filter_map(|(p, s)| p.finalize(&h.keys.key(&p.key_id)?.key, &s.0).ok())
        .collect();
    (req, sigs, coins)
}

/// A payment of `coins` to the harness's merchant, payer code `[7; 32]`.
fn payment(h: &Harness, coins: &[Coin]) -> Payment {
    let value: u64 = coins
        .iter()
        .filter_map(|c| h.keys.key(&c.key_id))
        .map(|k| k.info.value.value)
        .sum();
    let info = h.payment_info(value, coins.len() as u32);
    let bundle = CoinBundle {
        payment_info_hash: Fixed(info.canonical_hash()),
        coins: coins.to_vec(),
    };
    h.seal(info, &j(&bundle))
}

/// Seeds by target name.
pub fn seeds(h: &Harness) -> BTreeMap<&'static str, Vec<Vec<u8>>> {
    let mut out: BTreeMap<&'static str, Vec<Vec<u8>>> = BTreeMap::new();
    let newcomer = Keypair::from_secret_bytes(&[3; 32]);
    out.insert(
        "register",
        vec![j(&Signed::sign(
            RegisterAccount {
                public_key: newcomer.public(),
                label: "newcomer".into(),
                timestamp: 1,
            },
            &newcomer,
        ))],
    );
    let (wreq, _, _) = withdraw(h, 1, &h.pending(1, 3));
    out.insert("withdraw", vec![j(&wreq)]);
    out.insert("withdraw_body", vec![j(&wreq.body)]);
    out.insert(
        "restore",
        vec![j(&RestoreRequest {
            blinded: wreq.body.coins.clone(),
        })],
    );
    let (_, answer, _) = withdraw(h, 9, h.answered_coins());
    out.insert("blind_signatures", vec![j(&answer)]);
    let (_, _, coins) = withdraw(h, 2, &h.pending(2, 8));

    // A payment of the first three coins (the payment request's 3), before
    // anything is spent here.
    let pay = payment(h, coins.get(..3).unwrap_or_default());
    out.insert("deposit", vec![j(&h.merchant_deposit(pay.clone()))]);
    out.insert("deposit_payment", vec![j(&pay)]);
    let one = h.payment_info(1, 1);
    out.insert(
        "deposit_plaintext",
        vec![j(&CoinBundle {
            payment_info_hash: Fixed(one.canonical_hash()),
            coins: coins.get(3..4).unwrap_or_default().to_vec(),
        })],
    );
    out.insert(
        "deposit_coins",
        vec![j(&coins.get(4..5).unwrap_or_default().to_vec())],
    );
    out.insert(
        "exchange",
        vec![j(&ExchangeRequest {
            request_id: Fixed([4; 32]),
            coins: coins.get(5..6).unwrap_or_default().to_vec(),
            outputs: h.pending(4, 1).into_iter().map(|p| p.blinded).collect(),
        })],
    );
    out.insert(
        "coin_state",
        vec![j(&CoinStateRequest {
            coins: coins.iter().map(Coin::id).collect(),
        })],
    );
    out.insert(
        "proof",
        vec![j(&ProofRequest {
            payment_id: pay.payment_id(),
            payer_code: Bytes(vec![7; 32]),
        })],
    );
    out.insert(
        "faucet",
        vec![j(&FaucetRequest {
            amount: Amount::new(h.keys.set.currency.clone(), 5),
        })],
    );
    let signed_set = h.bank.keys().current().signed.clone();
    out.insert("keyset", vec![j(&signed_set)]);
    out.insert("keyset_body", vec![j(&signed_set.body)]);

    // Spend the paid coins here, to list them and to answer the payment.
    let ack = h.bank.deposit(&h.merchant_deposit(pay.clone()));
    let mut lists = vec![];
    if let Some(c) = coins.first()
        && let Ok(json) = h.bank.spent_list(&c.key_id)
    {
        lists.push(json.as_bytes().to_vec());
    }
    let fingerprints = SpentList::build(
        Fixed([1; 32]),
        &coins.iter().map(|c| c.serial).collect::<Vec<_>>(),
        0,
        &h.bank.keys().master,
    );
    out.insert("spent_list", lists);
    out.insert("spent_list_body", vec![fingerprints.fingerprints.0]);
    if let Ok(ack) = ack {
        let receipt = Signed::sign(
            Receipt {
                amount: h.payreq.amount.clone(),
                transaction_id: h.payreq.payreq_id.clone(),
                date: 0,
                payment_id: pay.payment_id(),
                merchant_acc_id: h.merchant.1.clone(),
            },
            &h.merchant.0,
        );
        out.insert(
            "payment_answer",
            vec![j(&PaymentResponse {
                receipt,
                merchant_public_key: h.merchant.0.public(),
                deposit_ack: ack,
                fulfillment_url: h.payreq.fulfillment_url.clone(),
            })],
        );
    }
    let token = wallet_wasm::token::encode(&wallet_wasm::token::TokenBody {
        bank_url: "https://mint.example".into(),
        bank_id: "fuzz-bank".into(),
        coins: coins.get(6..7).unwrap_or_default().to_vec(),
    })
    .unwrap_or_default();
    out.insert("token", vec![token.into_bytes()]);
    out.insert(
        "payreq",
        vec![
            j(&h.payreq),
            b"https://shop.example/api/orders/1".to_vec(),
            b"web+ecash:https%3A%2F%2Fshop.example%2Fo%2F1".to_vec(),
        ],
    );
    let mut enc = vec![
        j(&Fixed([5u8; 32])),
        j(&Bytes(vec![1, 2, 3])),
        j(&h.keys.set.currency),
        j(&h.payreq.amount),
        j(&Denomination::from_value(4).ok()),
        j(&h.payer.0.public()),
        j(&pay.payment_info),
        j(&h.payreq),
        j(&signed_set.body),
        j(&pay),
    ];
    if let Some(c) = coins.first() {
        enc.push(j(c));
    }
    if let Some(b) = wreq.body.coins.first() {
        enc.push(j(b));
    }
    out.insert("encodings", enc);
    out
}
