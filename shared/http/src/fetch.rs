//! The browser transport: the Fetch API (in pages and in workers).

use ecash_core::client::{HttpRequest, HttpResponse, Transport, TransportError};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Headers, ReferrerPolicy, Request, RequestCredentials, RequestInit, RequestMode, RequestRedirect,
};

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

/// What every request is: CORS, no cookies, no referrer, and no redirects
/// (a URL is checked before it is fetched; a redirect would lead elsewhere).
fn init(req: &HttpRequest) -> Result<RequestInit, TransportError> {
    let headers = Headers::new().map_err(|e| js_err("headers", e))?;
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(|e| js_err("headers", e))?;
    }
    let init = RequestInit::new();
    init.set_method(req.method.as_str());
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::Omit);
    init.set_redirect(RequestRedirect::Error);
    init.set_referrer_policy(ReferrerPolicy::NoReferrer);
    if let Some((ty, body)) = &req.body {
        headers
            .set("content-type", ty)
            .map_err(|e| js_err("headers", e))?;
        init.set_body(&Uint8Array::from(body.as_slice()).into());
    }
    init.set_headers(&headers);
    Ok(init)
}

impl Transport for FetchTransport {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let request = Request::new_with_str_and_init(&req.url, &init(&req)?)
            .map_err(|e| js_err("request", e))?;
        let global = js_sys::global();
        let fetch = Reflect::get(&global, &"fetch".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or_else(|| TransportError("fetch is not available here".into()))?;
        let promise: js_sys::Promise = fetch
            .call1(&global, &request)
            .map_err(|e| js_err("fetch", e))?
            .dyn_into()
            .map_err(|e| js_err("fetch", e))?;
        let resp: web_sys::Response = JsFuture::from(promise)
            .await
            .map_err(|e| js_err("network error", e))?
            .dyn_into()
            .map_err(|e| js_err("fetch", e))?;
        let status = resp.status();
        let mut headers = Vec::new();
        for name in ["content-type", "location"] {
            if let Ok(Some(v)) = resp.headers().get(name) {
                headers.push((name.to_owned(), v));
            }
        }
        let buf = JsFuture::from(resp.array_buffer().map_err(|e| js_err("reading", e))?)
            .await
            .map_err(|e| js_err("reading the answer", e))?;
        Ok(HttpResponse {
            status,
            headers,
            body: Uint8Array::new(&buf).to_vec(),
        })
    }
}
