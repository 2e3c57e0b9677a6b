//! Routes registered from the endpoint descriptions of `ecash_core::api`.
//! A handler's answer type names its endpoint ([`Answer`], [`Cached`] or
//! [`Reply`] of `E`), and [`Routes::add`] registers it at `E`'s method and
//! path: a server names endpoints, never paths, and the compiler checks that
//! a JSON handler answers the endpoint's response type. [`Routes::check`]
//! refuses a table that misses a described endpoint or serves one that is not
//! described; the servers run it before they listen.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, ResponseError, web};
use ecash_core::api::{Content, Endpoint, EndpointInfo, Infos, Method};

use crate::error::HttpError;

/// An answer that names the endpoint it answers.
pub trait Served: Responder {
    /// The endpoint.
    type Endpoint: Endpoint;
    /// Whether the answer is the endpoint's JSON response.
    const JSON: bool;
}

/// The typed JSON answer of endpoint `E`: its response, with its status.
pub struct Answer<E: Endpoint>(pub E::Response);

impl<E: Endpoint> Responder for Answer<E> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        match serde_json::to_vec(&self.0) {
            Ok(body) => HttpResponse::build(status(E::INFO.status))
                .content_type("application/json")
                .body(body),
            Err(_) => HttpError::internal("could not encode the answer").error_response(),
        }
    }
}

impl<E: Endpoint> Served for Answer<E> {
    type Endpoint = E;
    const JSON: bool = true;
}

/// A JSON answer of `E` already encoded (a key set or spent list built once
/// for every client), with how long clients may cache it.
pub struct Cached<E: Endpoint> {
    json: Arc<String>,
    max_age: u64,
    endpoint: PhantomData<E>,
}

impl<E: Endpoint> Cached<E> {
    /// `json` must be the encoding of an `E::Response`; `max_age` in seconds.
    pub fn new(json: Arc<String>, max_age: u64) -> Self {
        Self {
            json,
            max_age,
            endpoint: PhantomData,
        }
    }
}

impl<E: Endpoint> Responder for Cached<E> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        HttpResponse::build(status(E::INFO.status))
            .insert_header((
                actix_web::http::header::CACHE_CONTROL,
                format!("public, max-age={}", self.max_age),
            ))
            .content_type("application/json")
            .body(self.json.as_str().to_owned())
    }
}

impl<E: Endpoint> Served for Cached<E> {
    type Endpoint = E;
    const JSON: bool = true;
}

/// The answer of an endpoint that is not JSON: a page, a file, text, a redirect.
pub struct Reply<E: Endpoint>(pub HttpResponse, PhantomData<E>);

impl<E: Endpoint> Reply<E> {
    /// `response` as `E`'s answer.
    pub fn new(response: HttpResponse) -> Self {
        Self(response, PhantomData)
    }
}

impl<E: Endpoint> Responder for Reply<E> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.0
    }
}

impl<E: Endpoint> Served for Reply<E> {
    type Endpoint = E;
    const JSON: bool = false;
}

/// The status of a description as actix's type.
pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn method(m: Method) -> actix_web::Route {
    match m {
        Method::Get => web::get(),
        Method::Post => web::post(),
    }
}

type Register = Arc<dyn Fn(actix_web::Resource) -> actix_web::Resource + Send + Sync>;

/// A server's route table.
#[derive(Default, Clone)]
pub struct Routes {
    routes: Vec<(EndpointInfo, bool, Register)>,
}

impl Routes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves the endpoint `handler`'s answer type names, at its method and path.
    pub fn add<H, Args, R>(&mut self, handler: H) -> &mut Self
    where
        R: Served + 'static,
        H: Handler<Args, Output = Result<R, HttpError>> + Clone + Send + Sync + 'static,
        Args: FromRequest + 'static,
    {
        let info = <R::Endpoint as Endpoint>::INFO;
        let register: Register = Arc::new(move |r: actix_web::Resource| {
            r.route(method(info.method).to(handler.clone()))
        });
        self.routes.push((info, R::JSON, register));
        self
    }

    /// The descriptions of the routes in the table.
    pub fn infos(&self) -> Vec<EndpointInfo> {
        self.routes.iter().map(|(i, _, _)| *i).collect()
    }

    /// Refuses a table that is not exactly the endpoints `list` describes:
    /// one missing, one extra, one twice, or a JSON endpoint answered as
    /// something else (or the reverse).
    pub fn check(&self, list: fn(&mut Infos)) -> Result<(), String> {
        let described = ecash_core::api::infos(list);
        let mut seen = std::collections::HashSet::new();
        for (i, json, _) in &self.routes {
            let name = format!("{} {}", i.method.as_str(), i.path);
            if *json != (i.content == Content::Json) {
                return Err(format!(
                    "{name} is described as {:?} but answered {}",
                    i.content,
                    if *json { "as JSON" } else { "otherwise" }
                ));
            }
            if !seen.insert((i.method, i.path)) {
                return Err(format!("{name} is routed twice"));
            }
            if !described.contains(i) {
                return Err(format!("{name} is routed but not described"));
            }
        }
        for d in &described {
            if !seen.contains(&(d.method, d.path)) {
                return Err(format!(
                    "{} {} is described but not routed",
                    d.method.as_str(),
                    d.path
                ));
            }
        }
        Ok(())
    }

    /// Registers every route (one resource per path, each method a route of it).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let mut by_path: BTreeMap<&str, Vec<&Register>> = BTreeMap::new();
        for (info, _, reg) in &self.routes {
            by_path.entry(info.path).or_default().push(reg);
        }
        for (path, regs) in by_path {
            let resource = regs.into_iter().fold(web::resource(path), |r, reg| reg(r));
            cfg.service(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecash_core::api;

    async fn health() -> Result<Answer<api::Health>, HttpError> {
        Ok(Answer(ecash_core::messages::Health {
            status: "ok".into(),
        }))
    }

    async fn metrics() -> Result<Reply<api::Metrics>, HttpError> {
        Ok(Reply::new(HttpResponse::Ok().body("x")))
    }

    async fn keys_as_text() -> Result<Reply<api::Keys>, HttpError> {
        Ok(Reply::new(HttpResponse::Ok().body("x")))
    }

    async fn item() -> Result<Reply<api::ItemPage>, HttpError> {
        Ok(Reply::new(HttpResponse::Ok().body("x")))
    }

    fn two(v: &mut Infos) {
        use ecash_core::api::Visitor;
        v.visit::<api::Health>();
        v.visit::<api::Metrics>();
    }

    #[test]
    fn a_table_must_be_exactly_the_description() {
        let mut r = Routes::new();
        r.add(health);
        assert!(
            r.check(two)
                .unwrap_err()
                .contains("/metrics is described but not routed")
        );
        r.add(metrics);
        assert_eq!(r.check(two), Ok(()));
        let mut extra = r.clone();
        extra.add(item);
        assert!(
            extra
                .check(two)
                .unwrap_err()
                .contains("is routed but not described")
        );
        let mut twice = r.clone();
        twice.add(health);
        assert!(twice.check(two).unwrap_err().contains("twice"));
        let mut wrong = Routes::new();
        wrong.add(keys_as_text);
        assert!(
            wrong
                .check(api::bank)
                .unwrap_err()
                .contains("answered otherwise")
        );
    }

    #[actix_web::test]
    async fn routes_answer_at_their_described_paths() {
        let mut r = Routes::new();
        r.add(health).add(metrics);
        let app =
            actix_web::test::init_service(actix_web::App::new().configure(|c| r.configure(c)))
                .await;
        let req = actix_web::test::TestRequest::get()
            .uri("/healthz")
            .to_request();
        let resp = actix_web::test::call_service(&app, req).await;
        assert_eq!(resp.status(), 200);
        let req = actix_web::test::TestRequest::post()
            .uri("/healthz")
            .to_request();
        let resp = actix_web::test::call_service(&app, req).await;
        assert_eq!(resp.status(), 405, "another method of a described path");
    }
}
