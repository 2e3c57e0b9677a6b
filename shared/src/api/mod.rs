//! Every HTTP endpoint of the protocol, described once: method, path, path
//! parameters, request and response types, success status and error codes.
//!
//! The servers register their routes from these descriptions, their OpenAPI
//! documents are generated from them (`openapi`, feature `schema`), and the
//! clients ([`crate::client`]) build their requests from them, so a route
//! cannot exist in one place and be missing in another. [`bank()`] and
//! [`merchant()`] and [`certifier()`] list each party's endpoints for whoever needs all of them;
//! the bank's endpoints are described in `bank.rs`, a merchant's in `merchant.rs`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bytes::B32;
use crate::error::ErrorCode;

/// An HTTP method the protocol uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: reads, never changes state.
    Get,
    /// `POST`: everything that sends a body or changes state.
    Post,
}

impl Method {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// What a request carries besides its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    /// Nothing.
    None,
    /// A JSON body.
    Json,
    /// Values in headers (see the endpoint's `headers`).
    Headers,
}

/// What a successful answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// JSON of the response type.
    Json,
    /// An HTML page for people.
    Html,
    /// Plain text (`text/plain`).
    Text,
    /// A static file (stylesheet, script, image), typed by its name.
    File,
    /// A redirect (`303 See Other`): the response is its `Location`.
    Redirect,
}

/// A path parameter or header of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name, as in the path template (`{name}`) or as the header's name.
    pub name: &'static str,
    /// What it holds.
    pub description: &'static str,
}

/// One endpoint's description (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Stable name (the OpenAPI `operationId`).
    pub id: &'static str,
    /// Method.
    pub method: Method,
    /// Path template, `{name}` for each parameter (actix uses the same syntax).
    pub path: &'static str,
    /// One line for people.
    pub summary: &'static str,
    /// More, where one line is not enough (may be empty).
    pub description: &'static str,
    /// Path parameters, in the order the path names them.
    pub params: &'static [Param],
    /// Request headers the endpoint reads.
    pub headers: &'static [Param],
    /// What the request carries.
    pub body: RequestBody,
    /// Status of a successful answer.
    pub status: u16,
    /// What a successful answer carries.
    pub content: Content,
    /// Error codes this endpoint answers with, beside those every endpoint
    /// may ([`COMMON_ERRORS`]).
    pub errors: &'static [ErrorCode],
}

/// Codes any endpoint may answer with: limits, timeouts, server faults, and
/// for a body, a malformed or too large one.
pub const COMMON_ERRORS: &[ErrorCode] = &[
    ErrorCode::RateLimited,
    ErrorCode::Timeout,
    ErrorCode::Internal,
];

/// Codes any endpoint with a JSON body may answer with, too.
pub const BODY_ERRORS: &[ErrorCode] = &[ErrorCode::MalformedRequest, ErrorCode::PayloadTooLarge];

/// A request or response type of the protocol.
#[cfg(not(feature = "schema"))]
pub trait Payload: Serialize + DeserializeOwned {}
#[cfg(not(feature = "schema"))]
impl<T: Serialize + DeserializeOwned> Payload for T {}

/// A request or response type of the protocol (with its JSON Schema).
#[cfg(feature = "schema")]
pub trait Payload: Serialize + DeserializeOwned + schemars::JsonSchema {}
#[cfg(feature = "schema")]
impl<T: Serialize + DeserializeOwned + schemars::JsonSchema> Payload for T {}

/// Values that fill a path template's parameters, in order.
pub trait PathParams {
    /// The values, unencoded.
    fn values(&self) -> Vec<String>;
}

impl PathParams for () {
    fn values(&self) -> Vec<String> {
        Vec::new()
    }
}

impl PathParams for str {
    fn values(&self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl PathParams for u64 {
    fn values(&self) -> Vec<String> {
        vec![self.to_string()]
    }
}

impl PathParams for B32 {
    fn values(&self) -> Vec<String> {
        vec![self.to_b64()]
    }
}

/// A request's headers and body, as the endpoint encodes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Headers to send.
    pub headers: Vec<(&'static str, String)>,
    /// The body, with its media type.
    pub body: Option<(&'static str, Vec<u8>)>,
}

/// An endpoint: its description and its types.
pub trait Endpoint {
    /// The description.
    const INFO: EndpointInfo;
    /// What fills the path's parameters.
    type Params: PathParams + ?Sized;
    /// What the request carries (`()` for nothing).
    type Request: Payload;
    /// What a successful answer carries.
    type Response: Payload;

    /// The path with `params` filled in, each percent-encoded.
    fn path(params: &Self::Params) -> String {
        fill_path(Self::INFO.path, &params.values())
    }

    /// The request's headers and body.
    fn encode(req: &Self::Request) -> Result<Encoded, String> {
        match Self::INFO.body {
            RequestBody::Json => Ok(Encoded {
                headers: Vec::new(),
                body: Some((
                    "application/json",
                    serde_json::to_vec(req).map_err(|e| e.to_string())?,
                )),
            }),
            RequestBody::None | RequestBody::Headers => Ok(Encoded::default()),
        }
    }

    /// The response from a successful answer's body (or, for a redirect, its `Location`).
    fn decode(body: &[u8], location: Option<&str>) -> Result<Self::Response, String> {
        let value = match Self::INFO.content {
            Content::Json => return serde_json::from_slice(body).map_err(|e| e.to_string()),
            Content::Redirect => serde_json::Value::String(
                location.ok_or("a redirect without a Location")?.to_owned(),
            ),
            Content::Html | Content::Text | Content::File => serde_json::Value::String(
                String::from_utf8(body.to_vec()).map_err(|_| "the body is not UTF-8")?,
            ),
        };
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

/// `template` with each `{name}` replaced by the next of `values`,
/// percent-encoded as one path segment.
pub fn fill_path(template: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if let Some(v) = values.next() {
            out.extend(percent_encoding::utf8_percent_encode(v, SEGMENT));
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// What a path segment may not hold unencoded (RFC 3986: all but unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Something that wants to see every endpoint of a party with its types:
/// the OpenAPI generator, the route checks.
pub trait Visitor {
    /// Called once per endpoint.
    fn visit<E: Endpoint>(&mut self);
}

/// Collects the descriptions.
#[derive(Debug, Default)]
pub struct Infos(pub Vec<EndpointInfo>);

impl Visitor for Infos {
    fn visit<E: Endpoint>(&mut self) {
        self.0.push(E::INFO);
    }
}

pub(crate) const P_KEY_ID: Param = Param {
    name: "key_id",
    description: "a denomination key's id, base64url",
};
pub(crate) const P_ACCOUNT: Param = Param {
    name: "id",
    description: "an account id",
};
pub(crate) const P_ITEM: Param = Param {
    name: "item_id",
    description: "an item of the catalogue",
};
pub(crate) const P_PAYREQ: Param = Param {
    name: "payreq_id",
    description: "an order's payment request id",
};

/// Header carrying the unix time of a signed account query.
pub const TIMESTAMP_HEADER: &str = "x-ecash-timestamp";
/// Header carrying the base64url signature of a signed account query.
pub const SIGNATURE_HEADER: &str = "x-ecash-signature";
/// Header carrying a shop's admin token (`Bearer <token>`).
pub const AUTHORIZATION_HEADER: &str = "authorization";

/// An endpoint with a JSON answer and the given shape (saves repeating defaults).
pub(crate) const fn json(
    id: &'static str,
    method: Method,
    path: &'static str,
    summary: &'static str,
    errors: &'static [ErrorCode],
) -> EndpointInfo {
    EndpointInfo {
        id,
        method,
        path,
        summary,
        description: "",
        params: &[],
        headers: &[],
        body: match method {
            Method::Get => RequestBody::None,
            Method::Post => RequestBody::Json,
        },
        status: 200,
        content: Content::Json,
        errors,
    }
}

/// Declares an endpoint type.
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $params:ty, $req:ty => $resp:ty, $info:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Endpoint for $name {
            const INFO: EndpointInfo = $info;
            type Params = $params;
            type Request = $req;
            type Response = $resp;
        }
    };
}

mod bank;
mod certifier;
mod merchant;
mod offline;

pub use bank::*;
pub use certifier::*;
pub use merchant::*;
pub use offline::*;

/// The descriptions a listing function visits.
pub fn infos(list: fn(&mut Infos)) -> Vec<EndpointInfo> {
    let mut all = Infos::default();
    list(&mut all);
    all.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_filled_and_encoded() {
        assert_eq!(fill_path("/keys", &[]), "/keys");
        assert_eq!(
            fill_path("/accounts/{id}/faucet", &["a/b c".into()]),
            "/accounts/a%2Fb%20c/faucet"
        );
        assert_eq!(
            SpentCoins::path(&B32::default()),
            format!("/keys/{}/spent", B32::default())
        );
        assert_eq!(Pay::path("x-Y_z.~"), "/api/pay/x-Y_z.~");
    }

    #[test]
    fn every_endpoint_is_described_once_and_its_path_names_its_params() {
        for list in [bank as fn(&mut Infos), merchant, certifier] {
            let all = infos(list);
            let mut seen = std::collections::HashSet::new();
            for e in &all {
                assert!(seen.insert((e.method, e.path)), "{} twice", e.path);
                let named: Vec<&str> = e
                    .path
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split('}').next())
                    .collect();
                let declared: Vec<&str> = e.params.iter().map(|p| p.name).collect();
                assert_eq!(named, declared, "{}", e.path);
                assert!(!e.summary.is_empty(), "{}", e.id);
                if e.method == Method::Get {
                    assert_ne!(e.body, RequestBody::Json, "{}: a GET with a body", e.id);
                }
            }
        }
    }

    #[test]
    fn non_json_answers_decode_to_text_and_redirects_to_their_location() {
        assert_eq!(
            ItemPage::decode(b"<p>hi</p>", None).as_deref(),
            Ok("<p>hi</p>")
        );
        assert_eq!(
            OrderItem::decode(b"", Some("/order/x")).as_deref(),
            Ok("/order/x")
        );
        assert!(OrderItem::decode(b"", None).is_err());
        let enc = Statement::encode(&AccountAuth {
            timestamp: 5,
            signature: crate::signing::Signature(crate::bytes::B64::default()),
        })
        .expect("encodes");
        assert_eq!(enc.headers[0], (TIMESTAMP_HEADER, "5".into()));
        assert!(enc.body.is_none());
        let enc = OrderListApi::encode(&AdminToken("t".into())).expect("encodes");
        assert_eq!(
            enc.headers,
            vec![(AUTHORIZATION_HEADER, "Bearer t".to_owned())]
        );
    }
}
