//! A blocking client over the protocol's one typed client
//! ([`ecash_core::client`]), with the steps the tests repeat. No path is
//! spelled here either: every call names its endpoint.

use std::sync::Arc;
use std::time::Duration;

use ecash_core::api::{self, Endpoint};
use ecash_core::client::{
    BankClient, CallError, Client, HttpRequest, HttpResponse, MerchantClient, Transport,
};
use ecash_core::coin::PendingCoin;
use ecash_core::messages::*;
use ecash_core::shop::{Delivery, Item, OrderList};
use ecash_core::{
    Amount, ApiError, B32, BlindedCoin, Clock, Coin, Currency, ErrorCode, Fixed, Keypair,
    PublicKey, Signed, VerifiedKeySet, amount, payment,
};
use ecash_http::ReqwestTransport;

/// A runtime for one test thread's calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// An HTTP client with a generous timeout.
pub fn transport() -> ReqwestTransport {
    ReqwestTransport::with_timeout(Duration::from_secs(120)).expect("an HTTP client")
}

/// The status and code of a refusal; panics on anything else.
pub fn refused<T: std::fmt::Debug>(r: Result<T, CallError>) -> (u16, ErrorCode) {
    match r {
        Err(CallError::Refused { status, error, .. }) => (status, error.code),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The `{code, message}` error of an undecoded answer, with its status;
/// panics if the body is not one.
pub fn error_of(resp: &HttpResponse) -> (u16, ApiError) {
    let e = serde_json::from_slice::<ApiError>(&resp.body).unwrap_or_else(|e| {
        panic!(
            "HTTP {} without a JSON error body ({e}): {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        )
    });
    (resp.status, e)
}

/// An account with its key.
pub struct Account {
    /// Its key.
    pub key: Keypair,
    /// Its id.
    pub id: String,
}

/// A blocking client of a bank, pinning its master key.
pub struct SyncBank {
    rt: tokio::runtime::Runtime,
    /// The typed client.
    pub bank: BankClient<ReqwestTransport>,
    /// The bank's base URL.
    pub url: String,
    /// Its key set, verified against `master`.
    pub keys: VerifiedKeySet,
    /// The pinned master key.
    pub master: PublicKey,
    clock: Arc<dyn Clock>,
    /// The payer code of every payment this client sealed, by payment id.
    payer_codes: std::sync::Mutex<std::collections::HashMap<B32, Vec<u8>>>,
}

impl SyncBank {
    /// Connects to the bank at `url` and checks its key set against `master`.
    pub fn connect(url: &str, master: &PublicKey) -> Self {
        Self::connect_on(url, master, Arc::new(ecash_core::clock::SystemClock))
    }

    /// [`SyncBank::connect`], telling time by `clock` (a bank's test clock):
    /// keys are picked, queries signed and payments dated by it.
    pub fn connect_on(url: &str, master: &PublicKey, clock: Arc<dyn Clock>) -> Self {
        let rt = runtime();
        let bank = BankClient::new(url, transport());
        let signed = rt.block_on(bank.keys()).expect("GET /keys").key_set;
        let keys = VerifiedKeySet::verify(&signed, master).expect("the key set verifies");
        Self {
            rt,
            bank,
            url: url.to_owned(),
            keys,
            master: *master,
            clock,
            payer_codes: Default::default(),
        }
    }

    /// Now, by this client's clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// A raw client of the same bank (no request made yet).
    pub fn http(&self) -> Http {
        Http::connect(&self.url)
    }

    /// Runs a future of this client's to its end.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Fetches and verifies the key set again.
    pub fn refresh_keys(&mut self) {
        let signed = self
            .rt
            .block_on(self.bank.keys())
            .expect("GET /keys")
            .key_set;
        self.keys = VerifiedKeySet::verify(&signed, &self.master).expect("the key set verifies");
    }

    /// Calls endpoint `E`.
    pub fn call<E: Endpoint>(
        &self,
        params: &E::Params,
        req: &E::Request,
    ) -> Result<E::Response, CallError> {
        self.rt.block_on(self.bank.0.call::<E>(params, req))
    }

    /// Sends raw bytes to `E`'s URL, with `E`'s method.
    pub fn raw<E: Endpoint>(&self, params: &E::Params, body: Vec<u8>) -> HttpResponse {
        self.rt
            .block_on(self.bank.0.send_raw::<E>(params, body))
            .expect("an answer")
    }

    /// The bank's currency.
    pub fn currency(&self) -> Currency {
        self.keys.set.currency.clone()
    }

    /// `v` minor units of it.
    pub fn amount(&self, v: u64) -> Amount {
        Amount::new(self.currency(), v)
    }

    /// A new account.
    pub fn register(&self, label: &str) -> Account {
        let key = Keypair::generate().expect("rng");
        let req = Signed::sign(
            RegisterAccount {
                public_key: key.public(),
                label: label.into(),
                timestamp: self.now(),
            },
            &key,
        );
        let created = self.block_on(self.bank.register(&req)).expect("register");
        Account {
            key,
            id: created.account_id,
        }
    }

    /// Demo credit.
    pub fn faucet(&self, acct: &Account, value: u64) -> AccountStatement {
        self.block_on(self.bank.faucet(&acct.id, self.amount(value)))
            .expect("faucet")
    }

    /// The account's statement (a signed query).
    pub fn statement(&self, acct: &Account) -> Result<AccountStatement, CallError> {
        self.block_on(self.bank.statement(&acct.id, &acct.key, self.now()))
    }

    /// The account's balance.
    pub fn balance(&self, acct: &Account) -> u64 {
        self.statement(acct).expect("statement").balance.value
    }

    /// Blinded coins for `value`, split into withdrawable denominations.
    pub fn blind(&self, value: u64) -> Vec<PendingCoin> {
        let keys = self.keys.withdraw_keys(self.now());
        let denoms: Vec<_> = keys.keys().copied().collect();
        amount::split(value, &denoms)
            .expect("split")
            .into_iter()
            .map(|d| {
                let k = keys[&d];
                PendingCoin::new_random(k.info.key_id, &k.key).expect("blind")
            })
            .collect()
    }

    /// A signed withdrawal of `value` and its pending coins.
    pub fn withdraw_request(
        &self,
        acct: &Account,
        value: u64,
    ) -> (Signed<WithdrawRequest>, Vec<PendingCoin>) {
        let pending = self.blind(value);
        let req = WithdrawRequest {
            account_id: acct.id.clone(),
            request_id: Fixed(crate::random32()),
            amount: self.amount(value),
            coins: pending.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: self.now(),
        };
        (Signed::sign(req, &acct.key), pending)
    }

    /// Finalizes (and so verifies) every coin.
    pub fn finalize(&self, pending: &[PendingCoin], sigs: &BlindSignatures) -> Vec<Coin> {
        assert_eq!(pending.len(), sigs.blind_signatures.len());
        pending
            .iter()
            .zip(&sigs.blind_signatures)
            .map(|(p, s)| {
                p.finalize(&self.keys.key(&p.key_id).expect("key").key, &s.0)
                    .expect("finalize verifies")
            })
            .collect()
    }

    /// Withdraws `value` as coins.
    pub fn withdraw(&self, acct: &Account, value: u64) -> Vec<Coin> {
        let (req, pending) = self.withdraw_request(acct, value);
        let sigs = self.block_on(self.bank.withdraw(&req)).expect("withdraw");
        self.finalize(&pending, &sigs)
    }

    /// The value of `coins`.
    pub fn value_of(&self, coins: &[Coin]) -> u64 {
        coins
            .iter()
            .map(|c| self.keys.key(&c.key_id).expect("key").info.value.value)
            .sum()
    }

    /// A payment of `coins` to `merchant` (for order `payreq_id`) with a fresh payer code.
    pub fn payment(
        &self,
        coins: &[Coin],
        merchant: &str,
        payreq_id: &str,
        description: &str,
    ) -> (Payment, Vec<u8>) {
        let payreq = PayReq {
            payreq_id: payreq_id.into(),
            amount: self.amount(self.value_of(coins)),
            timestamp: self.now(),
            expires_at: self.now() + 600,
            merchant_bank_id: self.keys.set.bank_id.clone(),
            merchant_acc_id: merchant.into(),
            description: description.into(),
            pay_url: String::new(),
            fulfillment_url: String::new(),
            merchant_certificate: None,
            merchant_bank_url: None,
            accepted_mints: Vec::new(),
        };
        self.payment_for(&payreq, coins)
    }

    /// A payment of `coins` for `payreq`, with a fresh payer code; and what
    /// proves it at the bank (the code's proof key, as a wallet reveals it).
    pub fn payment_for(&self, payreq: &PayReq, coins: &[Coin]) -> (Payment, Vec<u8>) {
        let payer_code = crate::random32().to_vec();
        let info = payment::info_for(
            payreq,
            &self.keys.set.bank_id,
            coins.len() as u32,
            self.now(),
            &payer_code,
        );
        let p = payment::seal(&self.keys.encryption_key, info, coins.to_vec()).expect("seal");
        self.payer_codes
            .lock()
            .expect("payer codes")
            .insert(p.payment_id(), payer_code.clone());
        let proof_key = ecash_core::messages::proof_key(&payer_code).0.to_vec();
        (p, proof_key)
    }

    /// A payment of `coins` (this bank's) to `merchant` at another bank,
    /// whose key set is `shop_bank`: sealed to that bank's envelope key, as
    /// a NetCash payer does (the merchant's bank opens it and clears the
    /// coins here). With the payer's proof key.
    pub fn payment_via(
        &self,
        shop_bank: &VerifiedKeySet,
        merchant: &str,
        coins: &[Coin],
    ) -> (Payment, Vec<u8>) {
        let payreq = PayReq {
            payreq_id: format!("order-{}", Fixed(crate::random32()).to_b64()),
            amount: self.amount(self.value_of(coins)),
            timestamp: self.now(),
            expires_at: self.now() + 600,
            merchant_bank_id: shop_bank.set.bank_id.clone(),
            merchant_acc_id: merchant.into(),
            description: "stickers".into(),
            pay_url: String::new(),
            fulfillment_url: String::new(),
            merchant_certificate: None,
            merchant_bank_url: None,
            accepted_mints: Vec::new(),
        };
        let code = crate::random32().to_vec();
        let info = payment::info_for(
            &payreq,
            &self.keys.set.bank_id,
            coins.len() as u32,
            self.now(),
            &code,
        );
        let p = payment::seal(&shop_bank.encryption_key, info, coins.to_vec()).expect("seal");
        (p, ecash_core::messages::proof_key(&code).0.to_vec())
    }

    /// The goods key of a payment this client sealed (its payer's secret).
    pub fn goods_key(&self, payment: &Payment) -> B32 {
        let codes = self.payer_codes.lock().expect("payer codes");
        let code = codes
            .get(&payment.payment_id())
            .expect("a payment this client sealed");
        ecash_core::messages::goods_key(code)
    }

    /// Withdraws `payreq`'s amount from `acct` and seals the coins as a
    /// payment for it: the coins, and the payment.
    pub fn pay_from(&self, acct: &Account, payreq: &PayReq) -> (Vec<Coin>, Payment) {
        let coins = self.withdraw(acct, payreq.amount.value);
        let (payment, _) = self.payment_for(payreq, &coins);
        (coins, payment)
    }

    /// Deposits `payment` as `merchant`.
    pub fn deposit(
        &self,
        merchant: &Account,
        payment: &Payment,
    ) -> Result<Signed<DepositAck>, CallError> {
        let d = Signed::sign(
            Deposit {
                merchant_acc_id: merchant.id.clone(),
                payment: payment.clone(),
            },
            &merchant.key,
        );
        self.block_on(self.bank.deposit(&d))
    }

    /// Exchanges `coins` for fresh coins of the same value.
    pub fn exchange(&self, coins: &[Coin]) -> Result<Vec<Coin>, CallError> {
        let pending = self.blind(self.value_of(coins));
        let req = ExchangeRequest {
            request_id: Fixed(crate::random32()),
            coins: coins.to_vec(),
            outputs: pending
                .iter()
                .map(|p| p.blinded.clone())
                .collect::<Vec<BlindedCoin>>(),
        };
        let sigs = self.block_on(self.bank.exchange(&req))?;
        Ok(self.finalize(&pending, &sigs))
    }

    /// Which of `coins` are spent.
    pub fn spent(&self, coins: &[Coin]) -> Vec<bool> {
        self.block_on(self.bank.coin_state(coins.iter().map(Coin::id).collect()))
            .expect("state")
    }

    /// A counter from `/metrics` (the mint must run with `--metrics`).
    pub fn metric(&self, name: &str) -> u64 {
        let text = self.call::<api::Metrics>(&(), &()).expect("GET /metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
    }
}

/// The serials of `coins`.
pub fn serials(coins: &[Coin]) -> Vec<B32> {
    coins.iter().map(|c| c.serial).collect()
}

/// A blocking client of a shop.
pub struct Shop {
    rt: tokio::runtime::Runtime,
    /// The typed client.
    pub shop: MerchantClient<ReqwestTransport>,
}

impl Shop {
    /// A client of the shop at `url`.
    pub fn connect(url: &str) -> Self {
        Self {
            rt: runtime(),
            shop: MerchantClient::new(url, transport()),
        }
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        self.shop.base()
    }

    /// Calls endpoint `E`.
    pub fn call<E: Endpoint>(
        &self,
        params: &E::Params,
        req: &E::Request,
    ) -> Result<E::Response, CallError> {
        self.rt.block_on(self.shop.0.call::<E>(params, req))
    }

    /// Sends raw bytes to `E`'s URL, with `E`'s method.
    pub fn raw<E: Endpoint>(&self, params: &E::Params, body: Vec<u8>) -> HttpResponse {
        self.rt
            .block_on(self.shop.0.send_raw::<E>(params, body))
            .expect("an answer")
    }

    /// The catalogue.
    pub fn items(&self) -> Vec<Item> {
        self.rt.block_on(self.shop.items()).expect("items")
    }

    /// A new order's payment request.
    pub fn order(&self, item: &str) -> PayReq {
        self.rt.block_on(self.shop.order(item)).expect("order")
    }

    /// Pays order `payreq_id`.
    pub fn pay(&self, payreq_id: &str, payment: &Payment) -> Result<PaymentResponse, CallError> {
        self.rt.block_on(self.shop.pay(payreq_id, payment))
    }

    /// The goods of a paid order, for its goods key.
    pub fn goods(&self, payreq_id: &str, goods_key: B32) -> Result<Delivery, CallError> {
        self.rt.block_on(self.shop.goods(payreq_id, goods_key))
    }

    /// The shop keeper's list.
    pub fn orders(&self, token: &str) -> Result<OrderList, CallError> {
        self.rt.block_on(self.shop.orders(token))
    }

    /// The state of order `payreq_id` in the shop keeper's list.
    pub fn order_state(&self, token: &str, payreq_id: &str) -> ecash_core::shop::OrderState {
        self.orders(token)
            .expect("the shop keeper's list")
            .orders
            .into_iter()
            .find(|o| o.payreq_id == payreq_id)
            .unwrap_or_else(|| panic!("order {payreq_id} is not listed"))
            .state
    }

    /// A raw HTTP client for pages (no redirects followed).
    pub fn pages(&self) -> Client<ReqwestTransport> {
        Client::new(self.url(), transport())
    }

    /// Runs a future of this client's to its end.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A raw client of the same shop.
    pub fn http(&self) -> Http {
        Http::connect(self.url())
    }
}

/// A blocking raw HTTP client of any server, for tests of what the typed
/// client never sends (extra or missing headers, odd bodies): requests are
/// still built from the endpoint descriptions, and answers come back
/// undecoded.
pub struct Http {
    rt: tokio::runtime::Runtime,
    /// The client (no redirects followed).
    pub client: Client<ReqwestTransport>,
}

impl Http {
    /// A client of the server at `url`; it sends nothing yet.
    pub fn connect(url: &str) -> Self {
        Self {
            rt: runtime(),
            client: Client::new(url, transport()),
        }
    }

    /// The request the typed client would send to `E`.
    pub fn request<E: Endpoint>(&self, params: &E::Params, req: &E::Request) -> HttpRequest {
        ecash_core::client::request::<E>(self.client.base(), params, req).expect("encodes")
    }

    /// Sends `req` as it is; any answer is returned.
    pub fn send(&self, req: HttpRequest) -> HttpResponse {
        let url = req.url.clone();
        self.rt
            .block_on(self.client.transport().send(req))
            .unwrap_or_else(|e| panic!("no answer from {url}: {e}"))
    }

    /// Sends `E`'s request with `headers` added.
    pub fn send_with<E: Endpoint>(
        &self,
        params: &E::Params,
        req: &E::Request,
        headers: &[(&'static str, &str)],
    ) -> HttpResponse {
        let mut r = self.request::<E>(params, req);
        r.headers
            .extend(headers.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.send(r)
    }

    /// `method` to `path` (not a described endpoint, or an odd spelling of one).
    pub fn probe(&self, method: api::Method, path: &str) -> HttpResponse {
        self.rt
            .block_on(self.client.probe(method, path))
            .expect("an answer")
    }
}
