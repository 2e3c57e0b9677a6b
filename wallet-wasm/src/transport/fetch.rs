//! The browser transport: the Fetch API (works in pages and workers).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Headers, ReferrerPolicy, Request, RequestCredentials, RequestInit, RequestMode, RequestRedirect,
};

use super::{Response, Transport, TransportError};

/// HTTP over `fetch`.
#[derive(Debug, Clone, Default)]
pub struct FetchTransport;

fn js_err(what: &str, e: JsValue) -> TransportError {
    let msg = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    TransportError(format!("{what}: {msg}"))
}

impl FetchTransport {
    async fn send(&self, req: Request) -> Result<Response, TransportError> {
        let global = js_sys::global();
        let fetch = Reflect::get(&global, &"fetch".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or_else(|| TransportError("fetch is not available here".into()))?;
        let promise: js_sys::Promise = fetch
            .call1(&global, &req)
            .map_err(|e| js_err("fetch", e))?
            .dyn_into()
            .map_err(|e| js_err("fetch", e))?;
        let resp: web_sys::Response = JsFuture::from(promise)
            .await
            .map_err(|e| js_err("network error", e))?
            .dyn_into()
            .map_err(|e| js_err("fetch", e))?;
        let status = resp.status();
        let buf = JsFuture::from(resp.array_buffer().map_err(|e| js_err("reading", e))?)
            .await
            .map_err(|e| js_err("reading the answer", e))?;
        Ok(Response {
            status,
            body: Uint8Array::new(&buf).to_vec(),
        })
    }
}

/// What every request is: CORS, no cookies, no referrer, and no redirects
/// (a URL is checked before it is fetched; a redirect would lead elsewhere).
fn init(method: &str, headers: &Headers) -> RequestInit {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::Omit);
    init.set_redirect(RequestRedirect::Error);
    init.set_referrer_policy(ReferrerPolicy::NoReferrer);
    init.set_headers(headers);
    init
}

impl Transport for FetchTransport {
    async fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Response, TransportError> {
        let h = Headers::new().map_err(|e| js_err("headers", e))?;
        for (k, v) in headers {
            h.set(k, v).map_err(|e| js_err("headers", e))?;
        }
        let init = init("GET", &h);
        let req = Request::new_with_str_and_init(url, &init).map_err(|e| js_err("request", e))?;
        self.send(req).await
    }

    async fn post_json(&self, url: &str, body: String) -> Result<Response, TransportError> {
        let h = Headers::new().map_err(|e| js_err("headers", e))?;
        h.set("content-type", "application/json")
            .map_err(|e| js_err("headers", e))?;
        let init = init("POST", &h);
        init.set_body(&JsValue::from_str(&body));
        let req = Request::new_with_str_and_init(url, &init).map_err(|e| js_err("request", e))?;
        self.send(req).await
    }
}
