//! The one typed client of the protocol, over a [`Transport`].
//!
//! A request is built from an endpoint's description ([`request`]) and its
//! answer decoded by it ([`decode`]); both are pure, so a sans-IO caller (the
//! wallet's operations) uses them directly, and [`Client::call`] does both
//! around one transport round trip for everyone else. [`BankClient`] and
//! [`MerchantClient`] name each endpoint of the two parties. Nothing outside
//! this module spells a path.

use crate::api::{self, Endpoint, Method};
use crate::error::ApiError;

/// An HTTP request, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body with its media type.
    pub body: Option<(&'static str, Vec<u8>)>,
}

/// An HTTP answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers that callers look at (lower-case names): `location`,
    /// `content-type`, `content-security-policy`, ...
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Nothing, or no answer, came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// HTTP as the protocol needs it. Transports follow no redirects and send
/// no cookies: a URL is checked before it is used, and a redirect would lead
/// the request somewhere unchecked.
// The wallet runs on single-threaded executors (the browser, the CLI), so
// the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends `req`; an answer of any status is `Ok`.
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<T: Transport + ?Sized> Transport for &T {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(req).await
    }
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(req).await
    }
}

/// A call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer: the server could not be reached, or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// What was called.
        url: String,
        /// The network error.
        reason: String,
    },
    /// The server answered with an error `{code, message}`.
    #[error("{url} refused: {} ({})", .error.message, .error.code.as_str())]
    Refused {
        /// What was called.
        url: String,
        /// HTTP status.
        status: u16,
        /// The error body.
        error: ApiError,
    },
    /// The answer is not what the endpoint promises.
    #[error("unexpected answer from {url}: {reason}")]
    BadAnswer {
        /// What was called.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request could not be encoded (a bug of the caller).
    #[error("cannot encode the request to {url}: {reason}")]
    Encode {
        /// What was to be called.
        url: String,
        /// Why.
        reason: String,
    },
}

impl CallError {
    /// Whether the same request may succeed later as it is: no answer, a
    /// garbled one, or a refusal the server calls passing.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::BadAnswer { .. } => true,
            Self::Refused { status, error, .. } => {
                *status >= 500 || *status == 429 || error.code.is_retryable()
            }
            Self::Encode { .. } => false,
        }
    }

    /// The server's error, when it refused.
    pub fn refusal(&self) -> Option<&ApiError> {
        match self {
            Self::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// `base` (an origin, or an origin and a path prefix) joined with a path.
pub fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The request for endpoint `E` at `url` (already the endpoint's full URL).
pub fn request_at<E: Endpoint>(url: String, req: &E::Request) -> Result<HttpRequest, CallError> {
    let enc = E::encode(req).map_err(|reason| CallError::Encode {
        url: url.clone(),
        reason,
    })?;
    Ok(HttpRequest {
        method: E::INFO.method,
        url,
        headers: enc.headers,
        body: enc.body,
    })
}

/// The request for endpoint `E` of the server at `base`.
pub fn request<E: Endpoint>(
    base: &str,
    params: &E::Params,
    req: &E::Request,
) -> Result<HttpRequest, CallError> {
    request_at::<E>(join(base, &E::path(params)), req)
}

/// Decodes `E`'s answer from `url`: its response on the endpoint's success
/// status, the `{code, message}` error on any error status.
pub fn decode<E: Endpoint>(url: &str, resp: &HttpResponse) -> Result<E::Response, CallError> {
    let bad = |reason: String| CallError::BadAnswer {
        url: url.to_owned(),
        reason,
    };
    if resp.status == E::INFO.status {
        return E::decode(&resp.body, resp.header("location")).map_err(|e| {
            bad(format!(
                "HTTP {} with a body that does not parse: {e}",
                resp.status
            ))
        });
    }
    if resp.status >= 400 {
        return match serde_json::from_slice::<ApiError>(&resp.body) {
            Ok(error) => Err(CallError::Refused {
                url: url.to_owned(),
                status: resp.status,
                error,
            }),
            Err(_) => Err(bad(format!(
                "HTTP {} without a JSON error body",
                resp.status
            ))),
        };
    }
    Err(bad(format!(
        "HTTP {}, where {} was promised",
        resp.status,
        E::INFO.status
    )))
}

/// A server at `base`, reached through `net`.
#[derive(Debug, Clone)]
pub struct Client<T> {
    base: String,
    net: T,
}

impl<T: Transport> Client<T> {
    /// A client of the server at `base` (e.g. `https://mint.example`).
    pub fn new(base: &str, net: T) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            net,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.net
    }

    /// The full URL of `E` with `params`.
    pub fn url<E: Endpoint>(&self, params: &E::Params) -> String {
        join(&self.base, &E::path(params))
    }

    /// Calls `E` and decodes its answer.
    pub async fn call<E: Endpoint>(
        &self,
        params: &E::Params,
        req: &E::Request,
    ) -> Result<E::Response, CallError> {
        send::<E, T>(&self.net, request::<E>(&self.base, params, req)?).await
    }

    /// Sends `method` to `path` with no body, undecoded: for tests that
    /// check what answers where no endpoint is described.
    pub async fn probe(&self, method: Method, path: &str) -> Result<HttpResponse, CallError> {
        let url = join(&self.base, path);
        self.net
            .send(HttpRequest {
                method,
                url: url.clone(),
                headers: Vec::new(),
                body: None,
            })
            .await
            .map_err(|e| CallError::Unreachable { url, reason: e.0 })
    }

    /// Sends raw `body` bytes to `E`'s URL with `E`'s method (for tests of
    /// malformed input); the answer comes back undecoded.
    pub async fn send_raw<E: Endpoint>(
        &self,
        params: &E::Params,
        body: Vec<u8>,
    ) -> Result<HttpResponse, CallError> {
        let url = self.url::<E>(params);
        self.net
            .send(HttpRequest {
                method: E::INFO.method,
                url: url.clone(),
                headers: Vec::new(),
                body: Some(("application/json", body)),
            })
            .await
            .map_err(|e| CallError::Unreachable { url, reason: e.0 })
    }
}

/// Sends `req` (built for `E`) and decodes the answer.
pub async fn send<E: Endpoint, T: Transport>(
    net: &T,
    req: HttpRequest,
) -> Result<E::Response, CallError> {
    let url = req.url.clone();
    let resp = net.send(req).await.map_err(|e| CallError::Unreachable {
        url: url.clone(),
        reason: e.0,
    })?;
    decode::<E>(&url, &resp)
}

/// Calls endpoint `E` at `url`, a URL the protocol hands over (a payment
/// request's `pay_url`), which the caller has checked.
pub async fn call_at<E: Endpoint, T: Transport>(
    net: &T,
    url: &str,
    req: &E::Request,
) -> Result<E::Response, CallError> {
    send::<E, T>(net, request_at::<E>(url.to_owned(), req)?).await
}

/// The bank's endpoints, by name.
#[derive(Debug, Clone)]
pub struct BankClient<T>(pub Client<T>);

impl<T: Transport> BankClient<T> {
    /// A client of the bank at `base`.
    pub fn new(base: &str, net: T) -> Self {
        Self(Client::new(base, net))
    }

    /// The bank's base URL.
    pub fn base(&self) -> &str {
        self.0.base()
    }

    /// `GET /keys` (verify it before use: [`crate::VerifiedKeySet::verify`],
    /// or [`crate::certificate::verify_certified`] against a certifier).
    pub async fn keys(&self) -> Result<crate::certificate::KeysAnswer, CallError> {
        self.0.call::<api::Keys>(&(), &()).await
    }

    /// `GET /keys/{key_id}/spent`.
    pub async fn spent_list(
        &self,
        key_id: &crate::B32,
    ) -> Result<crate::spent::SpentList, CallError> {
        self.0.call::<api::SpentCoins>(key_id, &()).await
    }

    /// `POST /accounts`.
    pub async fn register(
        &self,
        req: &crate::Signed<crate::messages::RegisterAccount>,
    ) -> Result<crate::messages::AccountCreated, CallError> {
        self.0.call::<api::Register>(&(), req).await
    }

    /// `GET /accounts/{id}`, signed with the account's key.
    pub async fn statement(
        &self,
        id: &str,
        key: &crate::Keypair,
        now: u64,
    ) -> Result<crate::messages::AccountStatement, CallError> {
        let signature = key.sign(&crate::messages::AccountQuery {
            account_id: id.to_owned(),
            timestamp: now,
        });
        let auth = api::AccountAuth {
            timestamp: now,
            signature,
        };
        self.0.call::<api::Statement>(id, &auth).await
    }

    /// `GET /accounts/{id}/public-key`.
    pub async fn public_key(&self, id: &str) -> Result<crate::PublicKey, CallError> {
        Ok(self.0.call::<api::PublicKeyOf>(id, &()).await?.public_key)
    }

    /// `POST /accounts/{id}/faucet`.
    pub async fn faucet(
        &self,
        id: &str,
        amount: crate::Amount,
    ) -> Result<crate::messages::AccountStatement, CallError> {
        let req = crate::messages::FaucetRequest { amount };
        self.0.call::<api::Faucet>(id, &req).await
    }

    /// `POST /withdraw`.
    pub async fn withdraw(
        &self,
        req: &crate::Signed<crate::messages::WithdrawRequest>,
    ) -> Result<crate::messages::BlindSignatures, CallError> {
        self.0.call::<api::Withdraw>(&(), req).await
    }

    /// `POST /deposit`.
    pub async fn deposit(
        &self,
        req: &crate::Signed<crate::messages::Deposit>,
    ) -> Result<crate::Signed<crate::messages::DepositAck>, CallError> {
        self.0.call::<api::Deposit>(&(), req).await
    }

    /// `POST /exchange`.
    pub async fn exchange(
        &self,
        req: &crate::messages::ExchangeRequest,
    ) -> Result<crate::messages::BlindSignatures, CallError> {
        self.0.call::<api::Exchange>(&(), req).await
    }

    /// `POST /recoup`.
    pub async fn recoup(
        &self,
        req: &crate::messages::RecoupRequest,
    ) -> Result<crate::messages::BlindSignatures, CallError> {
        self.0.call::<api::Recoup>(&(), req).await
    }

    /// `POST /coins/state`.
    pub async fn coin_state(
        &self,
        coins: Vec<crate::messages::CoinRef>,
    ) -> Result<Vec<bool>, CallError> {
        let req = crate::messages::CoinStateRequest { coins };
        Ok(self.0.call::<api::CoinState>(&(), &req).await?.spent)
    }

    /// `POST /proofs`.
    pub async fn proof(
        &self,
        req: &crate::messages::ProofRequest,
    ) -> Result<crate::Signed<crate::messages::PaymentProof>, CallError> {
        self.0.call::<api::Proof>(&(), req).await
    }

    /// `POST /restore`.
    pub async fn restore(
        &self,
        req: &crate::messages::RestoreRequest,
    ) -> Result<crate::messages::RestoreResponse, CallError> {
        self.0.call::<api::Restore>(&(), req).await
    }

    /// `POST /accounts/{id}/certificate`.
    pub async fn certify_merchant(
        &self,
        req: &crate::Signed<crate::messages::MerchantCertRequest>,
    ) -> Result<crate::Signed<crate::certificate::MerchantCertificate>, CallError> {
        self.0
            .call::<api::CertifyMerchant>(req.body.account_id.as_str(), req)
            .await
    }

    /// `POST /peers`: opens this mint's clearing account at the bank.
    pub async fn register_peer(
        &self,
        req: &crate::Signed<crate::clearing::PeerRegistration>,
    ) -> Result<crate::messages::AccountCreated, CallError> {
        self.0.call::<api::RegisterPeer>(&(), req).await
    }

    /// `GET /peers`: the mints the bank clears with.
    pub async fn peers(&self) -> Result<crate::clearing::PeerList, CallError> {
        self.0.call::<api::Peers>(&(), &()).await
    }

    /// `POST /settlements`: settles this mint's clearing account at the bank.
    pub async fn settle(
        &self,
        req: &crate::Signed<crate::clearing::SettlementRequest>,
    ) -> Result<crate::Signed<crate::clearing::SettlementStatement>, CallError> {
        self.0.call::<api::Settle>(&(), req).await
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<crate::messages::Health, CallError> {
        self.0.call::<api::Health>(&(), &()).await
    }
}

/// The certifier's endpoints, by name.
#[derive(Debug, Clone)]
pub struct CertifierClient<T>(pub Client<T>);

impl<T: Transport> CertifierClient<T> {
    /// A client of the certifier at `base`.
    pub fn new(base: &str, net: T) -> Self {
        Self(Client::new(base, net))
    }

    /// `GET /certifier`.
    pub async fn identity(&self) -> Result<crate::messages::CertifierInfo, CallError> {
        self.0.call::<api::CertifierIdentity>(&(), &()).await
    }

    /// `GET /revocations` (check it: [`crate::certificate::verify_revocations`]).
    pub async fn revocations(
        &self,
    ) -> Result<crate::Signed<crate::certificate::RevocationList>, CallError> {
        self.0.call::<api::Revocations>(&(), &()).await
    }

    /// `GET /mints`.
    pub async fn mints(
        &self,
    ) -> Result<Vec<crate::Signed<crate::certificate::MintCertificate>>, CallError> {
        self.0.call::<api::Mints>(&(), &()).await
    }

    /// `GET /mints/{cert_id}/key-set`.
    pub async fn attested_key_set(
        &self,
        cert_id: u64,
    ) -> Result<crate::Signed<crate::certificate::KeySetAttestation>, CallError> {
        self.0.call::<api::AttestedKeySet>(&cert_id, &()).await
    }

    /// `POST /attest`: a mint's key set in, its certification out.
    pub async fn attest(
        &self,
        set: &crate::SignedKeySet,
    ) -> Result<crate::certificate::Certification, CallError> {
        self.0.call::<api::Attest>(&(), set).await
    }
}

/// A merchant's endpoints, by name.
#[derive(Debug, Clone)]
pub struct MerchantClient<T>(pub Client<T>);

impl<T: Transport> MerchantClient<T> {
    /// A client of the merchant at `base`.
    pub fn new(base: &str, net: T) -> Self {
        Self(Client::new(base, net))
    }

    /// The merchant's base URL.
    pub fn base(&self) -> &str {
        self.0.base()
    }

    /// `GET /api/items`.
    pub async fn items(&self) -> Result<Vec<crate::shop::Item>, CallError> {
        self.0.call::<api::Items>(&(), &()).await
    }

    /// `POST /api/orders`: a new order's payment request.
    pub async fn order(&self, item_id: &str) -> Result<crate::messages::PayReq, CallError> {
        let req = crate::shop::NewOrder {
            item_id: item_id.to_owned(),
        };
        self.0.call::<api::NewOrderApi>(&(), &req).await
    }

    /// `GET /api/orders/{payreq_id}`.
    pub async fn payreq(&self, payreq_id: &str) -> Result<crate::messages::PayReq, CallError> {
        self.0.call::<api::PayreqApi>(payreq_id, &()).await
    }

    /// The URL wallets fetch an order's payment request from.
    pub fn payreq_url(&self, payreq_id: &str) -> String {
        self.0.url::<api::PayreqApi>(payreq_id)
    }

    /// `POST /api/pay/{payreq_id}`.
    pub async fn pay(
        &self,
        payreq_id: &str,
        payment: &crate::messages::Payment,
    ) -> Result<crate::messages::PaymentResponse, CallError> {
        self.0.call::<api::Pay>(payreq_id, payment).await
    }

    /// `POST /api/orders/{payreq_id}/goods`.
    pub async fn goods(
        &self,
        payreq_id: &str,
        goods_key: crate::B32,
    ) -> Result<crate::shop::Delivery, CallError> {
        let req = crate::shop::GoodsRequest { goods_key };
        self.0.call::<api::Goods>(payreq_id, &req).await
    }

    /// `GET /api/admin/orders`.
    pub async fn orders(&self, token: &str) -> Result<crate::shop::OrderList, CallError> {
        let t = api::AdminToken(token.to_owned());
        self.0.call::<api::OrderListApi>(&(), &t).await
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<crate::messages::Health, CallError> {
        self.0.call::<api::Health>(&(), &()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_decode_by_status() {
        let ok = decode::<api::Health>("u", &resp(200, r#"{"status":"ok"}"#)).expect("ok");
        assert_eq!(ok.status, "ok");
        let e = decode::<api::Health>("u", &resp(503, r#"{"code":"timeout","message":"m"}"#))
            .expect_err("refused");
        assert!(e.is_transient());
        assert_eq!(e.refusal().map(|r| r.code), Some(ErrorCode::Timeout));
        let e = decode::<api::Health>("u", &resp(409, r#"{"code":"coin_spent","message":"m"}"#))
            .expect_err("refused");
        assert!(!e.is_transient());
        assert!(matches!(
            decode::<api::Health>("u", &resp(404, "<html>")),
            Err(CallError::BadAnswer { .. })
        ));
        assert!(matches!(
            decode::<api::Health>("u", &resp(200, "{")),
            Err(CallError::BadAnswer { .. })
        ));
        // A 201 endpoint does not take a 200, nor a 303 endpoint a 200.
        assert!(decode::<api::NewOrderApi>("u", &resp(200, "{}")).is_err());
        let mut r = resp(303, "");
        r.headers.push(("Location".into(), "/order/1".into()));
        assert_eq!(decode::<api::OrderItem>("u", &r).as_deref(), Ok("/order/1"));
    }

    #[test]
    fn requests_carry_method_url_headers_and_body() {
        let r = request::<api::Faucet>(
            "http://b/",
            "acct",
            &crate::messages::FaucetRequest {
                amount: crate::Amount::new(crate::Currency::new("DEMO").expect("c"), 5),
            },
        )
        .expect("request");
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "http://b/accounts/acct/faucet");
        let (ty, body) = r.body.expect("a body");
        assert_eq!(ty, "application/json");
        assert!(String::from_utf8_lossy(&body).contains("\"value\":5"));
        let g = request::<api::Keys>("http://b", &(), &()).expect("request");
        assert_eq!((g.method, g.body), (Method::Get, None));
    }
}
