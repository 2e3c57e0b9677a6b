//! OpenAPI 3.1 documents generated from the endpoint descriptions
//! ([`crate::api`]) and the JSON Schemas of the protocol types, so the
//! document says exactly what the server routes and the client sends.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::api::{BODY_ERRORS, COMMON_ERRORS, Content, Endpoint, Infos, RequestBody, Visitor};
use crate::error::{ApiError, ErrorCode};

/// Builds a document while it visits every endpoint of a party.
pub struct Builder {
    generator: SchemaGenerator,
    paths: Map<String, Value>,
}

impl Default for Builder {
    fn default() -> Self {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
        });
        Self {
            generator: settings.into_generator(),
            paths: Map::new(),
        }
    }
}

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

impl Visitor for Builder {
    fn visit<E: Endpoint>(&mut self) {
        let info = E::INFO;
        let mut op = Map::new();
        op.insert("operationId".into(), json!(info.id));
        op.insert("summary".into(), json!(info.summary));
        if !info.description.is_empty() {
            op.insert("description".into(), json!(info.description));
        }
        let mut params: Vec<Value> = info
            .params
            .iter()
            .map(|p| {
                json!({"name": p.name, "in": "path", "required": true,
                       "description": p.description, "schema": {"type": "string"}})
            })
            .collect();
        params.extend(info.headers.iter().map(|p| {
            json!({"name": p.name, "in": "header", "required": true,
                   "description": p.description, "schema": {"type": "string"}})
        }));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if info.body == RequestBody::Json {
            let schema = schema_of::<E::Request>(&mut self.generator);
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema}}}),
            );
        }
        let ok = match info.content {
            Content::Json => {
                let schema = schema_of::<E::Response>(&mut self.generator);
                json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
            }
            Content::Html => text("a page", "text/html"),
            Content::Text => text("text", "text/plain"),
            Content::File => text("the file, typed by its name", "*/*"),
            Content::Redirect => json!({
                "description": "See Other: the page to go to",
                "headers": {"Location": {"schema": {"type": "string"}}}
            }),
        };
        let mut responses = Map::new();
        responses.insert(info.status.to_string(), ok);
        let error = schema_of::<ApiError>(&mut self.generator);
        let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
        let body_errors: &[ErrorCode] = if info.body == RequestBody::Json {
            BODY_ERRORS
        } else {
            &[]
        };
        for code in info.errors.iter().chain(COMMON_ERRORS).chain(body_errors) {
            let codes = by_status.entry(code.http_status()).or_default();
            if !codes.contains(&code.as_str()) {
                codes.push(code.as_str());
            }
        }
        for (status, codes) in by_status {
            responses.insert(
                status.to_string(),
                json!({
                    "description": format!("error {{code, message}} with code {}", codes.join(", ")),
                    "content": {"application/json": {"schema": error.clone()}}
                }),
            );
        }
        op.insert("responses".into(), Value::Object(responses));
        let path = self
            .paths
            .entry(info.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = path {
            methods.insert(info.method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
    }
}

fn text(what: &str, media: &str) -> Value {
    json!({"description": what, "content": {media: {"schema": {"type": "string"}}}})
}

/// The OpenAPI document of the endpoints `list` visits.
pub fn document(title: &str, description: &str, list: fn(&mut Builder)) -> Value {
    let mut b = Builder::default();
    list(&mut b);
    let schemas = b.generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "paths": Value::Object(b.paths),
        "components": {"schemas": Value::Object(schemas)},
    })
}

/// `(method, path)` of every operation in a document, sorted.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.iter())
        .flat_map(|(p, ops)| {
            ops.as_object()
                .into_iter()
                .flat_map(move |o| o.keys().map(move |m| (m.to_ascii_uppercase(), p.clone())))
        })
        .collect();
    out.sort();
    out
}

/// `(method, path)` of every endpoint `list` visits, sorted.
pub fn described(list: fn(&mut Infos)) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::api::infos(list)
        .into_iter()
        .map(|i| (i.method.as_str().to_owned(), i.path.to_owned()))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn documents_describe_every_endpoint_and_every_reference_resolves() {
        for (list, infos) in [
            (
                crate::api::bank as fn(&mut Builder),
                crate::api::bank as fn(&mut Infos),
            ),
            (crate::api::merchant, crate::api::merchant),
        ] {
            let doc = document("t", "d", list);
            assert_eq!(operations(&doc), described(infos));
            let mut all = Vec::new();
            refs(&doc, &mut all);
            assert!(!all.is_empty());
            for r in all {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("foreign reference {r}"));
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "{r} does not resolve"
                );
            }
        }
        let bank = document("t", "d", crate::api::bank);
        let withdraw = &bank["paths"]["/withdraw"]["post"];
        assert_eq!(withdraw["operationId"], "withdraw");
        assert!(
            withdraw["responses"]["402"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("insufficient_funds"))
        );
        assert!(
            withdraw["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some()
        );
        let schemas = &bank["components"]["schemas"];
        assert_eq!(schemas["Bytes32"]["maxLength"], 43);
        assert!(
            bank["paths"].get("/api/pay/{payreq_id}").is_none(),
            "no shop routes"
        );
    }
}
