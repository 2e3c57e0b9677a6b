//! What the wallet accepts from a shop, checked without I/O: payment
//! requests (and the origin they came from) and the shop's answer to a
//! payment. Pure, so the checks are fuzzed as they run.

use ecash_core::certificate::verify_merchant;
use ecash_core::messages::{PayReq, PaymentResponse, account_id};
use ecash_core::{B32, KeySet, PublicKey};
use serde::{Deserialize, Serialize};

use crate::error::WalletError;
use crate::links;

/// A payment request and the origin it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The request.
    pub payreq: PayReq,
    /// The origin of the URL it was fetched from, or of its own pay URL when
    /// it was handed over as JSON. Every URL of the shop must stay on it, and
    /// the payer is shown it before paying.
    pub origin: String,
}

/// Longest a payment request may stay payable, seconds: a payment whose shop
/// never answers is settled with the bank once its request has expired, so
/// an unbounded expiry would let a shop hold the coins forever.
pub const MAX_PAYREQ_LIFETIME_SECS: u64 = 3600;

/// When a payment whose shop gave no valid answer is settled with the bank:
/// its request's expiry (at most [`MAX_PAYREQ_LIFETIME_SECS`] after the
/// payment started), plus `grace` for the shop's late deposit.
pub fn settle_after(payreq: &PayReq, started_at: u64, grace: u64) -> u64 {
    payreq
        .expires_at
        .min(started_at.saturating_add(MAX_PAYREQ_LIFETIME_SECS))
        .saturating_add(grace)
}

/// A payment request pasted as JSON: its origin is its own pay URL's.
pub fn offer_from_json(text: &str) -> Result<Offer, WalletError> {
    let payreq: PayReq = serde_json::from_str(text)
        .map_err(|e| WalletError::Payreq(format!("not a payment request: {e}")))?;
    let origin = links::origin(&payreq.pay_url)
        .map_err(|e| WalletError::Payreq(format!("its pay URL: {e}")))?;
    Ok(Offer { payreq, origin })
}

/// Checks a payment request against the bank's key set, the clock `now`,
/// and the link rule: its pay and fulfillment URLs lie on its origin.
pub fn check_offer(set: &KeySet, offer: &Offer, now: u64) -> Result<(), WalletError> {
    check_offer_via(set, set, offer, now)
}

/// [`check_offer`] for a merchant banking at `bank` (NetCash: another
/// certified bank than the wallet's, `own`, whose coins it must take).
pub fn check_offer_via(
    own: &KeySet,
    bank: &KeySet,
    offer: &Offer,
    now: u64,
) -> Result<(), WalletError> {
    let p = &offer.payreq;
    if p.merchant_bank_id != bank.bank_id {
        return Err(WalletError::Payreq(format!(
            "the merchant banks with {}, not with {}",
            p.merchant_bank_id, bank.bank_id
        )));
    }
    if bank.bank_id != own.bank_id && !p.accepts(&own.bank_id) {
        return Err(WalletError::Payreq(format!(
            "the merchant's bank {} takes no coins of this wallet's bank {}",
            bank.bank_id, own.bank_id
        )));
    }
    if p.amount.currency != own.currency || bank.currency != own.currency {
        return Err(WalletError::Payreq(format!(
            "priced in {}, this wallet holds {}",
            p.amount.currency, own.currency
        )));
    }
    if p.amount.value == 0 {
        return Err(WalletError::Payreq("the amount is zero".into()));
    }
    if p.expires_at < now {
        return Err(WalletError::Payreq(
            "the payment request has expired; ask the shop for a new one".into(),
        ));
    }
    if p.expires_at > now.saturating_add(MAX_PAYREQ_LIFETIME_SECS) {
        return Err(WalletError::Payreq(format!(
            "the payment request is valid for more than {} minutes; the wallet settles an unanswered payment only after its request expires",
            MAX_PAYREQ_LIFETIME_SECS / 60
        )));
    }
    // The bank's certificate over the merchant, when it carries one: who is paid.
    if let Some(c) = &p.merchant_certificate {
        verify_merchant(
            c,
            &bank.bank_id,
            &bank.master_public_key,
            &p.merchant_acc_id,
            now,
        )
        .map_err(|e| WalletError::Payreq(e.to_string()))?;
    }
    links::on_origin(&p.pay_url, &offer.origin)
        .map_err(|e| WalletError::Payreq(format!("its pay URL: {e}")))?;
    links::on_origin(&p.fulfillment_url, &offer.origin)
        .map_err(|e| WalletError::Payreq(format!("its fulfillment URL: {e}")))?;
    Ok(())
}

/// The shop's answer must carry the bank's signed ack of this very payment.
pub fn check_ack(
    resp: &PaymentResponse,
    master: &PublicKey,
    payment_id: &B32,
    payreq: &PayReq,
) -> Result<(), WalletError> {
    let ack = &resp.deposit_ack;
    if ack.verify(master).is_err()
        || &ack.body.payment_id != payment_id
        || ack.body.amount != payreq.amount
    {
        return Err(WalletError::Tampered(
            "the deposit_ack is not the bank's ack of this payment".into(),
        ));
    }
    Ok(())
}

/// What the wallet keeps of a shop's answer whose ack checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedAnswer {
    /// The receipt is the shop's, for this payment and amount.
    pub receipt_ok: bool,
    /// The link to the goods, if it passed the link rule on `origin`.
    pub fulfillment_url: Option<String>,
    /// Why the link was refused, if it was.
    pub link_refused: Option<String>,
}

/// Checks the receipt against the shop's key (which must be the key of the
/// request's merchant account: account ids hash their keys) and the link
/// back against the request's origin (outside input like any other).
pub fn check_answer(
    resp: &PaymentResponse,
    payment_id: &B32,
    payreq: &PayReq,
    origin: &str,
) -> CheckedAnswer {
    let r = &resp.receipt;
    let merchant = &resp.merchant_public_key;
    // A certified merchant's receipt is signed by the certified key.
    let certified = payreq
        .merchant_certificate
        .as_ref()
        .is_none_or(|c| &c.body.public_key == merchant);
    let receipt_ok = certified
        && account_id(merchant) == payreq.merchant_acc_id
        && r.verify(merchant).is_ok()
        && &r.body.payment_id == payment_id
        && r.body.amount == payreq.amount
        && r.body.merchant_acc_id == payreq.merchant_acc_id;
    let (fulfillment_url, link_refused) = match links::on_origin(&resp.fulfillment_url, origin) {
        Ok(u) => (Some(u), None),
        Err(e) => (None, Some(e.to_string())),
    };
    CheckedAnswer {
        receipt_ok,
        fulfillment_url,
        link_refused,
    }
}

#[cfg(test)]
mod tests {
    use ecash_core::certificate::MerchantCertificate;
    use ecash_core::messages::{DepositAck, Receipt};
    use ecash_core::{Amount, Currency, Keypair, Signed};

    use super::*;

    fn payreq(merchant: &Keypair, cert: Option<Signed<MerchantCertificate>>) -> PayReq {
        PayReq {
            payreq_id: "p1".into(),
            amount: Amount::new(Currency::new("DEMO").expect("currency"), 40),
            timestamp: 100,
            expires_at: 1_000,
            merchant_bank_id: "bank".into(),
            merchant_acc_id: account_id(&merchant.public()),
            description: "a sticker".into(),
            pay_url: "https://shop.example/api/pay/p1".into(),
            fulfillment_url: "https://shop.example/done/p1".into(),
            merchant_certificate: cert,
            merchant_bank_url: None,
            accepted_mints: Vec::new(),
        }
    }

    fn answer(p: &PayReq, signer: &Keypair, bank: &Keypair, payment_id: B32) -> PaymentResponse {
        PaymentResponse {
            receipt: Signed::sign(
                Receipt {
                    amount: p.amount.clone(),
                    transaction_id: p.payreq_id.clone(),
                    date: 200,
                    payment_id,
                    merchant_acc_id: p.merchant_acc_id.clone(),
                },
                signer,
            ),
            merchant_public_key: signer.public(),
            deposit_ack: Signed::sign(
                DepositAck {
                    result: "accepted".into(),
                    payment_id,
                    amount: p.amount.clone(),
                    merchant_acc_id: p.merchant_acc_id.clone(),
                    bank_id: "bank".into(),
                    deposited_at: 200,
                },
                bank,
            ),
            fulfillment_url: p.fulfillment_url.clone(),
        }
    }

    #[test]
    fn a_certified_merchant_s_receipt_must_be_signed_by_the_certified_key() {
        let (bank, merchant, other) = (
            Keypair::from_secret_bytes(&[1; 32]),
            Keypair::from_secret_bytes(&[2; 32]),
            Keypair::from_secret_bytes(&[3; 32]),
        );
        let cert = Signed::sign(
            MerchantCertificate {
                merchant_id: account_id(&merchant.public()),
                name: "Sticker shop".into(),
                public_key: merchant.public(),
                bank_id: "bank".into(),
                not_before: 0,
                not_after: 10_000,
            },
            &bank,
        );
        let id = B32::default();
        let p = payreq(&merchant, Some(cert));
        let origin = "https://shop.example";
        assert!(check_answer(&answer(&p, &merchant, &bank, id), &id, &p, origin).receipt_ok);
        // Another key's receipt, whatever key the answer names.
        let forged = answer(&p, &other, &bank, id);
        assert!(!check_answer(&forged, &id, &p, origin).receipt_ok);
        let mut named = forged.clone();
        named.merchant_public_key = merchant.public();
        assert!(!check_answer(&named, &id, &p, origin).receipt_ok);
        // A certificate naming another key than the one that signs.
        let mut p2 = p.clone();
        if let Some(c) = p2.merchant_certificate.as_mut() {
            c.body.public_key = other.public();
        }
        assert!(!check_answer(&answer(&p2, &merchant, &bank, id), &id, &p2, origin).receipt_ok);
    }
}
