//! Server-side printing: the `Table` kubectl asks for (`Accept: ...;as=Table;g=meta.k8s.io`), so
//! `kubectl get pods -w` shows READY and STATUS (Terminating) during a lab's rollouts, as
//! against a real cluster. Clients that ask for plain JSON get plain JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::list::Page;
use crate::api::resource::Resource;

mod columns;

/// How a client wants objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Object,
    Table(Include),
}

/// What each row of a table carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    Nothing,
    Metadata,
    Object,
}

impl Form {
    /// The form the `Accept` header asks for; `include_object` is the query parameter.
    pub fn negotiate(accept: &str, include_object: &str) -> Form {
        let table = accept.split(',').any(|media| {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            params.contains(&"as=Table")
                && params.contains(&"g=meta.k8s.io")
                && params.contains(&"v=v1")
        });
        if !table {
            return Form::Object;
        }
        Form::Table(match include_object {
            "None" => Include::Nothing,
            "Object" => Include::Object,
            _ => Include::Metadata,
        })
    }
}

/// A column of a table, as `columnDefinitions` describes it.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    /// Shown only with `-o wide`.
    pub wide: bool,
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    wide: false,
};
const AGE: Column = Column {
    name: "Age",
    kind: "string",
    wide: false,
};

/// A table of `objects`; `headers` adds the column definitions (a watch sends them once).
pub fn table(
    resource: Resource,
    objects: &[&Value],
    include: Include,
    headers: bool,
    now: SystemTime,
) -> Value {
    let definitions: Vec<Value> = if headers {
        ordered(resource, &NAME, columns::of(resource).0.iter(), &AGE)
            .into_iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.kind,
                    "format": if c.name == "Name" { "name" } else { "" },
                    "description": "",
                    "priority": i32::from(c.wide),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| row(resource, object, include, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// Name, the kind's columns, Age, then the wide columns, as kube-apiserver orders them.
fn ordered<T>(resource: Resource, name: T, middle: impl Iterator<Item = T>, age: T) -> Vec<T> {
    let (columns, _) = columns::of(resource);
    let (mut normal, mut wide) = (vec![name], Vec::new());
    for (column, item) in columns.iter().zip(middle) {
        if column.wide {
            wide.push(item);
        } else {
            normal.push(item);
        }
    }
    normal.push(age);
    normal.extend(wide);
    normal
}

fn row(resource: Resource, object: &Value, include: Include, now: SystemTime) -> Value {
    let (_, cells) = columns::of(resource);
    let name = object["metadata"]["name"].clone();
    let age = json!(age(&object["metadata"]["creationTimestamp"], now));
    let cells = ordered(resource, name, cells(object).into_iter(), age);
    let mut row = json!({"cells": cells});
    match include {
        Include::Nothing => {}
        Include::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object["metadata"],
            });
        }
        Include::Object => row["object"] = object.clone(),
    }
    row
}

/// A list page as a table, with the list's resourceVersion and continue token.
pub fn page(resource: Resource, page: &Page, include: Include, now: SystemTime) -> Value {
    let objects: Vec<&Value> = page.items.iter().map(|o| &**o).collect();
    let mut value = table(resource, &objects, include, true, now);
    value["metadata"] = page.metadata();
    value
}

/// Age as kubectl prints it (`45s`, `3m12s`, `5h`, `2d3h`, ...); `<unknown>` without a time.
fn age(created: &Value, now: SystemTime) -> String {
    let created = created
        .as_str()
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
    let Some(created) = created else {
        return "<unknown>".to_owned();
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    human_duration(now - created.as_second())
}

/// kubectl's `HumanDuration` of a number of seconds.
fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    let y = d / 365;
    match () {
        () if s < 120 => format!("{s}s"),
        () if m < 10 && s % 60 == 0 => format!("{m}m"),
        () if m < 10 => format!("{m}m{}s", s % 60),
        () if m < 180 => format!("{m}m"),
        () if h < 8 && m % 60 == 0 => format!("{h}h"),
        () if h < 8 => format!("{h}h{}m", m % 60),
        () if h < 48 => format!("{h}h"),
        () if h < 192 && h % 24 == 0 => format!("{d}d"),
        () if h < 192 => format!("{d}d{}h", h % 24),
        () if y < 2 => format!("{d}d"),
        () if y < 8 && d % 365 == 0 => format!("{y}y"),
        () if y < 8 => format!("{y}y{}d", d % 365),
        () => format!("{y}y"),
    }
}

#[cfg(test)]
mod tests;
