//! The browser transport: the Fetch API (in pages and in workers).

use ecash_core::client::{HttpRequest, HttpResponse, Transport, TransportError};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Headers, ReadableStreamDefaultReader, ReferrerPolicy, Request, RequestCredentials, RequestInit,
    RequestMode, RequestRedirect,
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
        let body = read_bounded(&resp, crate::MAX_ANSWER_BYTES).await?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The answer's body, refused past `limit` bytes: before reading when its
/// length says so, chunk by chunk from its stream otherwise.
async fn read_bounded(resp: &web_sys::Response, limit: usize) -> Result<Vec<u8>, TransportError> {
    if let Ok(Some(len)) = resp.headers().get("content-length")
        && len.trim().parse::<u64>().is_ok_and(|n| n > limit as u64)
    {
        return Err(crate::too_large(limit));
    }
    let Some(stream) = resp.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream
        .get_reader()
        .dyn_into()
        .map_err(|e: js_sys::Object| js_err("reading the answer", e.into()))?;
    let mut body = Vec::new();
    loop {
        let next = JsFuture::from(reader.read())
            .await
            .map_err(|e| js_err("reading the answer", e))?;
        let done = Reflect::get(&next, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(body);
        }
        let chunk: Uint8Array = Reflect::get(&next, &"value".into())
            .and_then(|v| v.dyn_into())
            .map_err(|e| js_err("reading the answer", e))?;
        if body.len() + chunk.length() as usize > limit {
            // Stop the download; its answer is thrown away.
            let _ = reader.cancel();
            return Err(crate::too_large(limit));
        }
        body.extend_from_slice(&chunk.to_vec());
    }
}
