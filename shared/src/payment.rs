//! A payment made and opened, once: `payment = {payment_info, {Coins,
//! H(payment_info)}PK_bank}`. The payer seals ([`seal`]), the bank opens
//! ([`open`]); the merchant carries it and can neither read the coins nor
//! bind them to another `payment_info`.

use rsa::PublicKey as RsaPublicKey;
use zeroize::Zeroizing;

use crate::bytes::Fixed;
use crate::canonical::Canonical;
use crate::coin::Coin;
use crate::envelope::{self, EnvelopeError};
use crate::messages::{
    CoinBundle, PayReq, Payment, PaymentInfo, description_hash, goods_key_hash, payer_code_hash,
};

/// Sealing or opening a payment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The coins could not be encoded or sealed (random number generator, key wrap).
    #[error("could not seal the coins")]
    Seal,
    /// The envelope does not open: tampered, another key, or not bound to this payment_info.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The envelope opens but holds no coin bundle.
    #[error("the envelope does not hold a coin bundle")]
    NotABundle,
    /// The bundle names another payment_info than the one it travels with.
    #[error("the coins are bound to another payment_info")]
    OtherPayment,
    /// `ncoins` is not the number of coins sealed.
    #[error("ncoins does not match the coins sealed")]
    CoinCount,
}

/// The `payment_info` of a payment of `ncoins` coins for `payreq` at the bank
/// `bank_id` (the bank whose coins pay), provable later with `payer_code`.
pub fn info_for(
    payreq: &PayReq,
    bank_id: &str,
    ncoins: u32,
    timestamp: u64,
    payer_code: &[u8],
) -> PaymentInfo {
    PaymentInfo {
        bank_id: bank_id.to_owned(),
        amount: payreq.amount.clone(),
        ncoins,
        timestamp,
        merchant_bank_id: payreq.merchant_bank_id.clone(),
        merchant_acc_id: payreq.merchant_acc_id.clone(),
        payreq_id: payreq.payreq_id.clone(),
        description_hash: description_hash(&payreq.description),
        payer_code_hash: payer_code_hash(payer_code),
        goods_key_hash: Some(goods_key_hash(payer_code)),
    }
}

/// Seals `coins` to the bank's encryption key, bound to `info`.
pub fn seal(
    bank_key: &RsaPublicKey,
    info: PaymentInfo,
    coins: Vec<Coin>,
) -> Result<Payment, PaymentError> {
    let info_hash = info.canonical_hash();
    let bundle = CoinBundle {
        payment_info_hash: Fixed(info_hash),
        coins,
    };
    let plaintext = Zeroizing::new(serde_json::to_vec(&bundle).map_err(|_| PaymentError::Seal)?);
    let sealed_coins =
        envelope::seal(bank_key, &plaintext, &info_hash).map_err(|_| PaymentError::Seal)?;
    Ok(Payment {
        payment_info: info,
        sealed_coins,
    })
}

/// Opens a payment's envelope, whose wrapped key must be exactly
/// `modulus_len` bytes (one byte form per envelope), with `unwrap` (the
/// bank's RSA-OAEP private operation, whatever implements it). Returns the
/// coins, checked to be bound to this `payment_info` and as many as it says.
/// The length check comes first: a wrong length costs no private-key work.
pub fn open(
    payment: &Payment,
    modulus_len: usize,
    unwrap: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError>,
) -> Result<Vec<Coin>, PaymentError> {
    let info = &payment.payment_info;
    let sealed = &payment.sealed_coins;
    envelope::check_wrapped_len(&sealed.wrapped_key.0, modulus_len)?;
    let info_hash = info.canonical_hash();
    let key = unwrap(&sealed.wrapped_key.0)?;
    let plain = Zeroizing::new(envelope::open_with_key(&key, sealed, &info_hash)?);
    let bundle: CoinBundle =
        serde_json::from_slice(&plain).map_err(|_| PaymentError::NotABundle)?;
    if bundle.payment_info_hash.0 != info_hash {
        return Err(PaymentError::OtherPayment);
    }
    if bundle.coins.len() != info.ncoins as usize {
        return Err(PaymentError::CoinCount);
    }
    Ok(bundle.coins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::{Amount, Currency};
    use crate::blind_rsa;
    use crate::bytes::{B32, Bytes};

    fn payreq() -> PayReq {
        PayReq {
            payreq_id: "o1".into(),
            amount: Amount::new(Currency::new("DEMO").expect("currency"), 3),
            timestamp: 1,
            expires_at: 2,
            merchant_bank_id: "bank".into(),
            merchant_acc_id: "shop".into(),
            description: "tea".into(),
            pay_url: "https://shop.example/api/pay/o1".into(),
            fulfillment_url: "https://shop.example/fulfillment/o1".into(),
            merchant_certificate: None,
            merchant_bank_url: None,
            accepted_mints: Vec::new(),
        }
    }

    fn coin(n: u8) -> Coin {
        Coin {
            key_id: B32::default(),
            serial: Fixed([n; 32]),
            msg_prefix: Fixed([0; 32]),
            signature: Bytes(vec![n; 4]),
        }
    }

    #[test]
    fn sealed_coins_open_only_with_their_payment_info() {
        let sk = blind_rsa::generate_key(2048).expect("keygen");
        let len = rsa::traits::PublicKeyParts::size(&sk);
        let unwrap = |w: &[u8]| envelope::unwrap_key(&sk, w);
        let info = info_for(&payreq(), "bank", 2, 5, b"code");
        assert_eq!(info.description_hash, description_hash("tea"));
        let p = seal(&sk.to_public_key(), info, vec![coin(1), coin(2)]).expect("seal");
        assert_eq!(
            open(&p, len, unwrap).expect("opens"),
            vec![coin(1), coin(2)]
        );

        let mut moved = p.clone();
        moved.payment_info.payreq_id = "o2".into();
        assert_eq!(
            open(&moved, len, unwrap),
            Err(PaymentError::Envelope(EnvelopeError::Open))
        );
        let mut short = p.clone();
        short.sealed_coins.wrapped_key.0.pop();
        assert_eq!(
            open(&short, len, |_| panic!(
                "no private-key work for a wrong length"
            )),
            Err(PaymentError::Envelope(EnvelopeError::Open))
        );
        // A payment_info that says 3 coins over an envelope of 2.
        let info = info_for(&payreq(), "bank", 3, 5, b"code");
        let p = seal(&sk.to_public_key(), info, vec![coin(1), coin(2)]).expect("seal");
        assert_eq!(open(&p, len, unwrap), Err(PaymentError::CoinCount));
    }
}
