//! The certifier's HTTP edge: one route per endpoint of
//! `ecash_core::api::certifier`, registry refusals as `{code, message}`.

use std::sync::Arc;

use actix_web::web;
use ecash_core::api;
use ecash_core::certificate::{Certification, KeySetAttestation, MintCertificate, RevocationList};
use ecash_core::messages::{CertifierInfo, Health};
use ecash_core::{Clock, ErrorCode, Signed, SignedKeySet};
use ecash_serve::{Answer, Cached, HttpError, Routes, blocking};

use crate::Settings;
use crate::registry::{Registry, RegistryError};

impl From<RegistryError> for HttpError {
    fn from(e: RegistryError) -> Self {
        let code = match &e {
            RegistryError::NotCertified(_) => ErrorCode::NotCertified,
            RegistryError::Conflict(_) => ErrorCode::KeySetConflict,
            RegistryError::BadKeySet(ecash_core::keyset::KeySetError::BadSignature) => {
                ErrorCode::BadSignature
            }
            RegistryError::BadKeySet(_) | RegistryError::Invalid(_) => ErrorCode::InvalidField,
            RegistryError::NoCertificate(_) => ErrorCode::NotFound,
            RegistryError::Db(_) | RegistryError::Corrupt(_) => {
                tracing::error!(error = %e, "registry failed");
                return HttpError::internal("the registry failed; nothing was changed");
            }
        };
        HttpError::new(code, e.to_string())
    }
}

/// What every handler shares.
pub struct State {
    /// The registry.
    pub registry: Arc<Registry>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub settings: Settings,
}

/// The API document, encoded once at start.
#[derive(Debug, Clone)]
pub struct OpenApiDoc(pub Arc<String>);

type Json<E> = Result<Answer<E>, HttpError>;

/// Every certifier route.
pub fn routes() -> Routes {
    let mut r = Routes::new();
    r.add(identity)
        .add(revocations)
        .add(mints)
        .add(attested)
        .add(attest)
        .add(healthz)
        .add(openapi);
    r
}

/// The certifier's API document, generated from the endpoint descriptions.
pub fn openapi_document() -> serde_json::Value {
    ecash_core::openapi::document(
        "Browser e-cash certifier",
        "NetCash's certifier: certificates over mints' master keys, the revoked ones, and \
         attestations of each key set a mint publishes. Every error is JSON {code, message}.",
        ecash_core::api::certifier,
    )
}

/// Runs `f` on the registry off the async workers (SQLite blocks).
async fn on_registry<T, F>(state: &web::Data<State>, f: F) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: FnOnce(&Registry, u64) -> Result<T, RegistryError> + Send + 'static,
{
    let registry = state.registry.clone();
    let now = state.clock.now();
    blocking(move || f(&registry, now)).await
}

/// `GET /certifier`
pub async fn identity(state: web::Data<State>) -> Json<api::CertifierIdentity> {
    Ok(Answer(CertifierInfo {
        name: state.settings.name.clone(),
        public_key: state.registry.public_key(),
    }))
}

/// `GET /revocations`
pub async fn revocations(state: web::Data<State>) -> Json<api::Revocations> {
    let ttl = state.settings.revocations_ttl;
    let list: Signed<RevocationList> =
        on_registry(&state, move |r, now| r.revocations(now, ttl)).await?;
    Ok(Answer(list))
}

/// `GET /mints`
pub async fn mints(state: web::Data<State>) -> Json<api::Mints> {
    let list: Vec<Signed<MintCertificate>> = on_registry(&state, |r, now| r.in_force(now)).await?;
    Ok(Answer(list))
}

/// `GET /mints/{cert_id}/key-set`
pub async fn attested(
    state: web::Data<State>,
    cert_id: web::Path<u64>,
) -> Json<api::AttestedKeySet> {
    let id = cert_id.into_inner();
    let att: Option<Signed<KeySetAttestation>> =
        on_registry(&state, move |r, now| r.attested(id, now)).await?;
    att.map(Answer).ok_or_else(|| {
        HttpError::new(
            ErrorCode::NotFound,
            format!("no key set attested for certificate {id} in force"),
        )
    })
}

/// `POST /attest`
pub async fn attest(state: web::Data<State>, body: web::Json<SignedKeySet>) -> Json<api::Attest> {
    let set = body.into_inner();
    let ttl = state.settings.revocations_ttl;
    let c: Certification = on_registry(&state, move |r, now| r.attest(&set, now, ttl)).await?;
    Ok(Answer(c))
}

/// `GET /healthz`: the registry answers.
pub async fn healthz(state: web::Data<State>) -> Json<api::Health> {
    on_registry(&state, |r, _| r.entries().map(|_| ())).await?;
    Ok(Answer(Health {
        status: "ok".into(),
    }))
}

/// `GET /openapi.json`
pub async fn openapi(doc: web::Data<OpenApiDoc>) -> Result<Cached<api::OpenApi>, HttpError> {
    Ok(Cached::new(doc.0.clone(), 300))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_document_describes_every_route() {
        let doc = super::openapi_document();
        assert_eq!(
            ecash_core::openapi::operations(&doc),
            ecash_core::openapi::described(ecash_core::api::certifier)
        );
    }
}
