//! Reading Kubernetes manifests: multi-document YAML or JSON, `kubectl get -o yaml` Lists, from
//! files or standard input. Kinds that do not decide what a load balancer probes are skipped.
//!
//! Every problem is reported with the source, the document, the object and the field, and all
//! problems of a run are collected so a user can fix them in one pass.

use std::fmt;
use std::io::Read;
use std::path::Path;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use crate::error::Error;
use crate::lb::Objects;

/// The name under which standard input is read and reported.
pub const STDIN_NAME: &str = "-";

/// What was read, and how many objects of other kinds were passed over.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub objects: Objects,
    pub skipped: usize,
}

/// Every problem found in the input.
#[derive(Debug)]
pub struct LoadErrors(pub Vec<Error>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// Reads every named source (`-` is standard input) into one set of objects.
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Loaded, LoadErrors> {
    let mut loaded = Loaded::default();
    let mut errors = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let (name, text) = match read_source(path) {
            Ok(text) => (path.display().to_string(), text),
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        parse_into(&name, &text, &mut loaded, &mut errors);
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Parses one source's text (YAML stream or JSON) into objects.
pub fn parse_str(source_name: &str, text: &str) -> Result<Loaded, LoadErrors> {
    let mut loaded = Loaded::default();
    let mut errors = Vec::new();
    parse_into(source_name, text, &mut loaded, &mut errors);
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadErrors(errors))
    }
}

fn read_source(path: &Path) -> Result<String, Error> {
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    if path.as_os_str() == STDIN_NAME {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(read_err)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(read_err)
    }
}

fn parse_into(source_name: &str, text: &str, loaded: &mut Loaded, errors: &mut Vec<Error>) {
    let documents = match split_documents(source_name, text) {
        Ok(docs) => docs,
        Err(e) => {
            errors.push(e);
            return;
        }
    };
    for (index, doc) in documents.into_iter().enumerate() {
        let mut ctx = Context {
            source_name,
            doc: index + 1,
            loaded,
            errors,
        };
        ctx.object(doc, "");
    }
}

/// Splits a YAML stream into documents; a source that starts like JSON is read as one JSON value
/// (JSON allows what YAML forbids, such as tabs for indentation).
fn split_documents(source_name: &str, text: &str) -> Result<Vec<Value>, Error> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let json: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| Error::Parse {
            source_name: source_name.to_owned(),
            doc: 1,
            message: format!("invalid JSON: {e}"),
        })?;
        let value = serde_yaml_ng::to_value(json).map_err(|e| Error::Parse {
            source_name: source_name.to_owned(),
            doc: 1,
            message: e.to_string(),
        })?;
        return Ok(match value {
            Value::Sequence(items) => items,
            other => vec![other],
        });
    }
    let mut docs = Vec::new();
    for (index, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = <Value as serde::Deserialize>::deserialize(de).map_err(|e| Error::Parse {
            source_name: source_name.to_owned(),
            doc: index + 1,
            message: format!("invalid YAML: {e}"),
        })?;
        docs.push(value);
    }
    Ok(docs)
}

struct Context<'a> {
    source_name: &'a str,
    doc: usize,
    loaded: &'a mut Loaded,
    errors: &'a mut Vec<Error>,
}

impl Context<'_> {
    fn parse_error(&mut self, message: String) {
        self.errors.push(Error::Parse {
            source_name: self.source_name.to_owned(),
            doc: self.doc,
            message,
        });
    }

    fn object_error(&mut self, object: String, field: String, message: String) {
        self.errors.push(Error::Object {
            source_name: self.source_name.to_owned(),
            object,
            field,
            message,
        });
    }

    /// Reads one object; `prefix` is its field path inside a List (`items[3]`).
    fn object(&mut self, value: Value, prefix: &str) {
        let map = match &value {
            Value::Null => return,
            Value::Mapping(map) => map,
            other => {
                let what = describe_value(other);
                self.parse_error(format!(
                    "{}expected a Kubernetes object (a mapping with apiVersion and kind), found {what}",
                    at(prefix)
                ));
                return;
            }
        };
        let str_field = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        let Some(kind) = str_field("kind") else {
            self.parse_error(format!("{}object has no kind", at(prefix)));
            return;
        };
        let api_version = str_field("apiVersion").unwrap_or_default();
        if kind.ends_with("List") && map.contains_key("items") {
            self.list(map.get("items").cloned(), prefix);
            return;
        }
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        match (group, kind.as_str()) {
            ("", "Service") => {
                if let Some(svc) = self.typed::<Service>(&kind, value, prefix) {
                    self.check_service(&svc);
                    self.loaded.objects.services.push(svc);
                }
            }
            ("networking.k8s.io", "Ingress") => {
                if let Some(ing) = self.typed::<Ingress>(&kind, value, prefix) {
                    self.loaded.objects.ingresses.push(ing);
                }
            }
            ("networking.k8s.io", "IngressClass") => {
                if let Some(class) = self.typed::<IngressClass>(&kind, value, prefix) {
                    self.loaded.objects.ingress_classes.push(class);
                }
            }
            ("extensions", "Ingress") => {
                let object = object_name(&kind, &value);
                self.object_error(
                    object,
                    "apiVersion".to_owned(),
                    format!(
                        "{api_version} Ingresses are not served since Kubernetes 1.22; \
                         use networking.k8s.io/v1"
                    ),
                );
            }
            _ => self.loaded.skipped += 1,
        }
    }

    fn list(&mut self, items: Option<Value>, prefix: &str) {
        match items {
            Some(Value::Sequence(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    self.object(item, &format!("{prefix}items[{i}]."));
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => {
                let what = describe_value(&other);
                self.parse_error(format!(
                    "{}items: expected a list, found {what}",
                    at(prefix)
                ));
            }
        }
    }

    fn typed<T: DeserializeOwned>(&mut self, kind: &str, value: Value, prefix: &str) -> Option<T> {
        let object = object_name(kind, &value);
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(typed) => Some(typed),
            Err(e) => {
                let field = format!("{prefix}{}", e.path());
                let field = field.trim_end_matches('.').to_owned();
                self.object_error(object, field, e.into_inner().to_string());
                None
            }
        }
    }

    /// What the API server would refuse for a Service, where the derivation needs it.
    fn check_service(&mut self, svc: &Service) {
        let object = crate::model::ObjectRef::from_meta("Service", &svc.metadata).to_string();
        if svc.metadata.name.as_deref().unwrap_or("").is_empty() {
            self.object_error(object.clone(), "metadata.name".into(), "is required".into());
        }
        let spec = svc.spec.as_ref();
        let is_lb = spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
        let no_ports = spec
            .and_then(|s| s.ports.as_ref())
            .is_none_or(Vec::is_empty);
        if is_lb && no_ports {
            self.object_error(
                object.clone(),
                "spec.ports".into(),
                "a Service of type LoadBalancer needs at least one port".into(),
            );
        }
        for (i, port) in spec
            .and_then(|s| s.ports.as_deref())
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if !(1..=65535).contains(&port.port) {
                self.object_error(
                    object.clone(),
                    format!("spec.ports[{i}].port"),
                    format!("{} is not a valid port number (1-65535)", port.port),
                );
            }
            if let Some(np) = port.node_port.filter(|np| !(1..=65535).contains(np)) {
                self.object_error(
                    object.clone(),
                    format!("spec.ports[{i}].nodePort"),
                    format!("{np} is not a valid port number (1-65535)"),
                );
            }
        }
    }
}

fn at(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{}: ", prefix.trim_end_matches('.'))
    }
}

/// `Kind/namespace/name` from an untyped object, as far as it can be read.
fn object_name(kind: &str, value: &Value) -> String {
    let meta = value.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let namespace = field("namespace").unwrap_or("default");
    let name = field("name").unwrap_or("<unnamed>");
    format!("{kind}/{namespace}/{name}")
}

fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests;
