//! `POST /deposit`: a merchant's payment opened, checked and booked once.

use ecash_core::messages::{Deposit, DepositAck};
use ecash_core::{B32, Signed, payment};

use super::coins::CheckedCoin;
use super::metrics::Metrics;
use super::{Bank, BankError, BankResult, parse_stored, to_json};
use crate::storage::NewDeposit;

impl Bank {
    /// `POST /deposit`: every check, the envelope opened, the ack signed;
    /// then the serials recorded and the merchant credited in one
    /// transaction. The same payment again answers the stored ack (also
    /// when it commits while this request checks); a coin spent by another
    /// refuses it whole.
    pub fn deposit(&self, req: &Signed<Deposit>) -> BankResult<Signed<DepositAck>> {
        let payment_id = self.check_depositor(req)?;
        if let Some(r) = self.storage.deposit(&payment_id)? {
            return parse_stored(&r.ack_json);
        }
        self.deposit_new(req, &payment_id)
            .or_else(|e| self.deposited_meanwhile(&payment_id, e))
    }

    /// The depositing merchant's signature, and that the payment is to it
    /// at this bank: the payment id.
    pub(crate) fn check_depositor(&self, req: &Signed<Deposit>) -> BankResult<B32> {
        let body = &req.body;
        let info = &body.payment.payment_info;
        let key = self.account_key(&body.merchant_acc_id)?;
        req.verify(&key)
            .map_err(|_| BankError::BadSignature("deposit signature does not verify"))?;
        if body.merchant_acc_id != info.merchant_acc_id
            || info.merchant_bank_id != self.settings.bank_id
        {
            return Err(BankError::WrongMerchant);
        }
        Ok(body.payment.payment_id())
    }

    /// A payment not deposited at the lookup: checked, opened, booked.
    fn deposit_new(
        &self,
        req: &Signed<Deposit>,
        payment_id: &B32,
    ) -> BankResult<Signed<DepositAck>> {
        let (body, payment_id) = (&req.body, *payment_id);
        let info = &body.payment.payment_info;
        if info.bank_id != self.settings.bank_id {
            return Err(BankError::OtherBank);
        }
        self.check_amount(&info.amount)?;
        self.check_count(info.ncoins as usize, "coins")?;
        // The wrapped key's length is checked before any RSA work.
        let coins = payment::open(&body.payment, self.keys.envelope_len(), |wrapped| {
            Metrics::count(&self.metrics.envelope_unwraps);
            self.keys.envelope.unwrap_key(wrapped)
        })?;
        let now = self.clock.now();
        let state = self.keys.current();
        let checked = self.check_coins(&state, &coins, now)?;
        if CheckedCoin::total(&checked) != Some(info.amount.value) {
            return Err(BankError::AmountMismatch(
                "coins do not add up to the payment amount",
            ));
        }
        let serials: Vec<B32> = checked.iter().map(|c| c.coin.serial).collect();
        self.refuse_spent(&CheckedCoin::spent(&checked))?;
        let ack = Signed::sign(
            DepositAck {
                result: "accepted".into(),
                payment_id,
                amount: info.amount.clone(),
                merchant_acc_id: body.merchant_acc_id.clone(),
                bank_id: self.settings.bank_id.clone(),
                deposited_at: now,
            },
            &self.keys.master,
        );
        let deposit = NewDeposit {
            payment_id,
            merchant_acc_id: body.merchant_acc_id.clone(),
            amount: info.amount.value,
            spent: CheckedCoin::spent(&checked),
            payer_code_hash: info.payer_code_hash,
            payment_info_json: to_json(info)?,
            ack_json: to_json(&ack)?,
            now,
        };
        let _held = self
            .busy_coins
            .take(&serials)
            .ok_or(BankError::InProgress("these coins"))?;
        let record = self.storage.commit_deposit(&deposit)?;
        parse_stored(&record.ack_json)
    }

    /// A deposit was refused after the lookup: if an earlier request of this
    /// very payment committed since (a retry racing its first request: its
    /// coins now spent, or a key just past its window), its ack is the
    /// answer, whatever this request met; else `refusal` stands.
    fn deposited_meanwhile(
        &self,
        payment_id: &B32,
        refusal: BankError,
    ) -> BankResult<Signed<DepositAck>> {
        match self.storage.deposit(payment_id) {
            Ok(Some(r)) => parse_stored(&r.ack_json),
            _ => Err(refusal),
        }
    }
}
