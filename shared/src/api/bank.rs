//! The bank's endpoints.

use serde::Serialize;

use super::{
    Content, Encoded, Endpoint, EndpointInfo, Method, P_ACCOUNT, P_KEY_ID, Param, RequestBody,
    SIGNATURE_HEADER, TIMESTAMP_HEADER, Visitor, json,
};
use crate::bytes::B32;
use crate::certificate::{KeysAnswer, MerchantCertificate};
use crate::clearing::{PeerList, PeerRegistration, SettlementRequest, SettlementStatement};
use crate::error::ErrorCode;
use crate::messages::{
    AccountCreated, AccountKey, AccountStatement, BlindSignatures, CoinStateRequest,
    CoinStateResponse, DepositAck, ExchangeRequest, FaucetRequest, MerchantCertRequest,
    PaymentProof, ProofRequest, RecoupRequest, RegisterAccount, RestoreRequest, RestoreResponse,
    WithdrawRequest,
};
use crate::signing::Signed;
use crate::spent::SpentList;

endpoint!(
    /// `GET /keys`: the key set, signed by the master key.
    Keys, (), () => KeysAnswer,
    EndpointInfo {
        description: "Every denomination key not yet past its deposit window (with its period \
            index: one key per value and period), the envelope key, the period length; signed \
            as a whole by the master key, which wallets pin.",
        ..json(
            "keys",
            Method::Get,
            "/keys",
            "The key set signed by the mint master key, with the certifier's certification",
            &[],
        )
    }
);

endpoint!(
    /// `GET /keys/{key_id}/spent`: the public list of coins spent under a key.
    SpentCoins, B32, () => SpentList,
    EndpointInfo {
        description: "The same bytes for every client (rebuilt at most every \
            --spent-list-max-age seconds, cacheable): sorted, distinct 8-byte fingerprints \
            (the first 8 bytes of each serial), with a header signed by the master key. A \
            restored wallet checks its coins against it locally, so the bank never learns \
            which coins a wallet holds.",
        params: &[P_KEY_ID],
        ..json(
            "spent_list",
            Method::Get,
            "/keys/{key_id}/spent",
            "The signed list of every coin spent under a denomination key",
            &[ErrorCode::InvalidField, ErrorCode::UnknownKey, ErrorCode::KeyExpired],
        )
    }
);

endpoint!(
    /// `POST /accounts`: registers the key that signed the request.
    Register, (), Signed<RegisterAccount> => AccountCreated,
    json(
        "register",
        Method::Post,
        "/accounts",
        "Register an account key (self-signed); the same key again answers the same id",
        &[ErrorCode::BadSignature, ErrorCode::InvalidField],
    )
);

/// The signature of a query for an account statement, sent in headers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountAuth {
    /// The query's time, unix seconds.
    pub timestamp: u64,
    /// The account key's signature over [`crate::messages::AccountQuery`].
    pub signature: crate::signing::Signature,
}

/// `GET /accounts/{id}`: balance and ledger, for the holder of the account key.
#[derive(Debug, Clone, Copy)]
pub struct Statement;

impl Endpoint for Statement {
    const INFO: EndpointInfo = EndpointInfo {
        params: &[P_ACCOUNT],
        headers: &[
            Param {
                name: TIMESTAMP_HEADER,
                description: "unix time of the query",
            },
            Param {
                name: SIGNATURE_HEADER,
                description: "base64url Ed25519 signature of AccountQuery{id, timestamp} by the account key",
            },
        ],
        body: RequestBody::Headers,
        ..json(
            "account",
            Method::Get,
            "/accounts/{id}",
            "Balance and ledger (signed query in headers)",
            &[
                ErrorCode::BadSignature,
                ErrorCode::StaleRequest,
                ErrorCode::UnknownAccount,
            ],
        )
    };
    type Params = str;
    type Request = AccountAuth;
    type Response = AccountStatement;

    fn encode(req: &AccountAuth) -> Result<Encoded, String> {
        Ok(Encoded {
            headers: vec![
                (TIMESTAMP_HEADER, req.timestamp.to_string()),
                (SIGNATURE_HEADER, req.signature.0.to_b64()),
            ],
            body: None,
        })
    }
}

endpoint!(
    /// `GET /accounts/{id}/public-key`: an account's key, to check its receipts.
    PublicKeyOf, str, () => AccountKey,
    EndpointInfo {
        params: &[P_ACCOUNT],
        ..json(
            "public_key",
            Method::Get,
            "/accounts/{id}/public-key",
            "An account's public key (to check a shop's receipts)",
            &[ErrorCode::UnknownAccount],
        )
    }
);

endpoint!(
    /// `POST /accounts/{id}/faucet`: demo credit, when the bank has it on.
    Faucet, str, FaucetRequest => AccountStatement,
    EndpointInfo {
        params: &[P_ACCOUNT],
        ..json(
            "faucet",
            Method::Post,
            "/accounts/{id}/faucet",
            "Demo credit (only with --demo-faucet)",
            &[
                ErrorCode::FaucetDisabled,
                ErrorCode::InvalidField,
                ErrorCode::UnknownAccount,
            ],
        )
    }
);

endpoint!(
    /// `POST /withdraw`: an account-signed batch of blinded coins.
    Withdraw, (), Signed<WithdrawRequest> => BlindSignatures,
    EndpointInfo {
        description: "Checks the signature, keys, ranges and balance before any signing; \
            debits once; stores the blind signatures under the request id (a retry with the \
            same id and body gets the same answer).",
        ..json(
            "withdraw",
            Method::Post,
            "/withdraw",
            "Blind-sign a batch of coins against the account",
            &[
                ErrorCode::InvalidField,
                ErrorCode::TooManyCoins,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::InsufficientFunds,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::AmountMismatch,
                ErrorCode::RequestIdReused,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /deposit`: a merchant-signed payment.
    Deposit, (), Signed<crate::messages::Deposit> => Signed<DepositAck>,
    EndpointInfo {
        description: "Opens the envelope, checks its binding to payment_info, the merchant and \
            every coin, then records the serials and credits the merchant in one transaction. \
            The same payment again answers the same ack; a spent coin refuses it whole \
            (409 coin_spent, naming the coins).",
        ..json(
            "deposit",
            Method::Post,
            "/deposit",
            "Deposit a payment; the answer is the bank's signed ack",
            &[
                ErrorCode::InvalidField,
                ErrorCode::TooManyCoins,
                ErrorCode::BadSignature,
                ErrorCode::UnknownAccount,
                ErrorCode::WrongMerchant,
                ErrorCode::EnvelopeInvalid,
                ErrorCode::AmountMismatch,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::InvalidCoin,
                ErrorCode::DuplicateCoin,
                ErrorCode::CoinSpent,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /exchange`: coins in, blinded coins of the same total out.
    Exchange, (), ExchangeRequest => BlindSignatures,
    EndpointInfo {
        description: "Every cheap check (keys, ranges, coin signatures, spent state) before \
            any signing; idempotent under request_id.",
        ..json(
            "exchange",
            Method::Post,
            "/exchange",
            "Exchange coins for new blind signatures of the same total",
            &[
                ErrorCode::InvalidField,
                ErrorCode::TooManyCoins,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::InvalidCoin,
                ErrorCode::DuplicateCoin,
                ErrorCode::AmountMismatch,
                ErrorCode::CoinSpent,
                ErrorCode::RequestIdReused,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /recoup`: coins of a revoked key, linked to their withdrawals, for fresh coins.
    Recoup, (), RecoupRequest => BlindSignatures,
    EndpointInfo {
        description: "Coins of a revoked denomination key, each with its coin seed (its blinding factor follows), \
            which links it to a blind signature the bank issued; refused for a coin that links \
            to none, or to a withdrawal the bank marked as extorted. Fresh coins of the same \
            total come back, once per coin; idempotent under request_id.",
        ..json(
            "recoup",
            Method::Post,
            "/recoup",
            "Recoup coins of a revoked key for fresh coins",
            &[
                ErrorCode::InvalidField,
                ErrorCode::TooManyCoins,
                ErrorCode::UnknownKey,
                ErrorCode::KeyExpired,
                ErrorCode::KeyRevoked,
                ErrorCode::InvalidCoin,
                ErrorCode::DuplicateCoin,
                ErrorCode::AmountMismatch,
                ErrorCode::CoinSpent,
                ErrorCode::RecoupRefused,
                ErrorCode::RequestIdReused,
                ErrorCode::InProgress,
            ],
        )
    }
);

endpoint!(
    /// `POST /coins/state`: which of these serials are spent.
    CoinState, (), CoinStateRequest => CoinStateResponse,
    EndpointInfo {
        description: "Privacy cost: the bank learns that the serials asked about belong \
            together. Wallets ask it only about the coins of one unfinished payment or \
            exchange, which that operation already showed the bank together.",
        ..json(
            "coin_state",
            Method::Post,
            "/coins/state",
            "Which serials are spent",
            &[ErrorCode::InvalidField, ErrorCode::TooManyCoins],
        )
    }
);

endpoint!(
    /// `POST /proofs`: the payer's `payer_code` for a bank-signed proof of payment.
    Proof, (), ProofRequest => Signed<PaymentProof>,
    json(
        "proofs",
        Method::Post,
        "/proofs",
        "Reveal payer_code; get a bank-signed proof of payment",
        &[ErrorCode::NotFound, ErrorCode::BadPayerCode],
    )
);

endpoint!(
    /// `POST /restore`: the stored blind signatures of re-derived blinded coins.
    Restore, (), RestoreRequest => RestoreResponse,
    json(
        "restore",
        Method::Post,
        "/restore",
        "Stored blind signatures for blinded messages re-derived from a seed",
        &[ErrorCode::InvalidField, ErrorCode::TooManyCoins],
    )
);

endpoint!(
    /// `POST /accounts/{id}/certificate`: the bank certifies a merchant's key.
    CertifyMerchant, str, Signed<MerchantCertRequest> => Signed<MerchantCertificate>,
    EndpointInfo {
        params: &[P_ACCOUNT],
        description: "Signed by the account key. The bank signs {merchant_id, name, key, \
            bank_id, not_before, not_after} with its master key; payers check it before paying \
            and the receipt must be signed by the certified key. Off unless the operator \
            certifies merchants (--merchant-certificate-secs).",
        ..json(
            "certify_merchant",
            Method::Post,
            "/accounts/{id}/certificate",
            "A certificate over a merchant's key, by the bank",
            &[
                ErrorCode::NotFound,
                ErrorCode::UnknownAccount,
                ErrorCode::BadSignature,
                ErrorCode::StaleRequest,
                ErrorCode::InvalidField,
            ],
        )
    }
);

endpoint!(
    /// `POST /peers`: a certified mint opens its account here, for clearing.
    RegisterPeer, (), Signed<PeerRegistration> => AccountCreated,
    EndpointInfo {
        description: "Signed by the master key the mint's certificate names; the certificate \
            must be by this mint's certifier, valid and unrevoked. The account (id from the \
            master key) is booked as a mint's: the mint deposits the coins of this mint it \
            takes from its own merchants into it, and settles it with POST /settlements.",
        ..json(
            "register_peer",
            Method::Post,
            "/peers",
            "Open a certified mint's clearing account",
            &[
                ErrorCode::NotCertified,
                ErrorCode::BadSignature,
                ErrorCode::StaleRequest,
                ErrorCode::InvalidField,
                ErrorCode::NotFound,
            ],
        )
    }
);

endpoint!(
    /// `GET /peers`: the certified mints whose coins this mint takes.
    Peers, (), () => PeerList,
    EndpointInfo {
        description: "Each checked against the certifier at its last refresh: a merchant \
            banking here lists them in its payment requests, and a payer holding their coins \
            pays with them (this mint clears them).",
        ..json(
            "peers",
            Method::Get,
            "/peers",
            "The mints this mint clears with",
            &[],
        )
    }
);

endpoint!(
    /// `POST /settlements`: a mint settles its clearing account here.
    Settle, (), Signed<SettlementRequest> => Signed<SettlementStatement>,
    EndpointInfo {
        description: "Signed by the key of a mint's clearing account: the amount leaves the \
            account (paid outside the system) and this mint signs a statement both keep. \
            Idempotent under settlement_id.",
        ..json(
            "settle",
            Method::Post,
            "/settlements",
            "Settle a mint's clearing account, for a signed statement",
            &[
                ErrorCode::UnknownAccount,
                ErrorCode::BadSignature,
                ErrorCode::StaleRequest,
                ErrorCode::InvalidField,
                ErrorCode::InsufficientFunds,
                ErrorCode::RequestIdReused,
            ],
        )
    }
);

endpoint!(
    /// `GET /healthz`: the server and its database answer.
    Health, (), () => crate::messages::Health,
    json("healthz", Method::Get, "/healthz", "Liveness: the database answers", &[])
);

endpoint!(
    /// `GET /openapi.json`: the party's API document, generated from these descriptions.
    OpenApi, (), () => serde_json::Value,
    json("openapi", Method::Get, "/openapi.json", "This API document (OpenAPI 3.1)", &[])
);

endpoint!(
    /// `GET /metrics`: counters of costly work, when the operator turned them on.
    Metrics, (), () => String,
    EndpointInfo {
        content: Content::Text,
        description: "Prometheus text format. Off unless --metrics: their timing could help an \
            onlooker link a withdrawal to a payment.",
        ..json(
            "metrics",
            Method::Get,
            "/metrics",
            "Counters of costly work (blind signatures, envelope unwraps, coin checks)",
            &[ErrorCode::NotFound],
        )
    }
);

/// Every endpoint of the bank.
pub fn bank<V: Visitor>(v: &mut V) {
    v.visit::<Keys>();
    v.visit::<SpentCoins>();
    v.visit::<Register>();
    v.visit::<Statement>();
    v.visit::<PublicKeyOf>();
    v.visit::<Faucet>();
    v.visit::<Withdraw>();
    v.visit::<Deposit>();
    v.visit::<Exchange>();
    v.visit::<Recoup>();
    v.visit::<super::OfflineStandingOf>();
    v.visit::<super::OfflineCollateral>();
    v.visit::<super::OfflineWithdraw>();
    v.visit::<super::OfflineOpen>();
    v.visit::<super::OfflineDeposit>();
    v.visit::<CoinState>();
    v.visit::<Proof>();
    v.visit::<Restore>();
    v.visit::<CertifyMerchant>();
    v.visit::<RegisterPeer>();
    v.visit::<Peers>();
    v.visit::<Settle>();
    v.visit::<Health>();
    v.visit::<OpenApi>();
    v.visit::<Metrics>();
}
