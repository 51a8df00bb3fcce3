//! Lists: consistent pages at one revision, as etcd serves them to kube-apiserver.
//!
//! A paged list stays at the revision of its first page. The store keeps only the present, so a
//! past revision is rebuilt by undoing the recorded events after it; once the store's history no
//! longer reaches back to a continue token's revision, the token has expired (410), exactly as
//! when etcd has compacted it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::query::{Query, VersionMatch};
use super::route::Target;
use super::status::ApiError;
use crate::api::resource::Resource;
use crate::api::selector::Selector;
use crate::api::store::{EventType, Store, StoreError};

/// How long a list for a resourceVersion newer than the store's waits for it (kube-apiserver's
/// watch cache waits 3 s before answering "Too large resource version").
pub const FUTURE_VERSION_WAIT: Duration = Duration::from_secs(3);

/// The message kube-apiserver gives for an expired continue token.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. \
     You can start a new list without the continue parameter.";

type Key = (String, String);

/// Where the next page of a list starts: after `start`, at `revision`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    #[serde(rename = "rv")]
    pub revision: u64,
    /// The namespace and name of the last object of the previous page.
    pub start: Key,
}

impl ContinueToken {
    /// Opaque to clients: hex of a small JSON object.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        json.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(token: &str) -> Result<ContinueToken, ApiError> {
        let invalid = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
        if !token.len().is_multiple_of(2) || !token.is_ascii() {
            return Err(invalid());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
    #[serde(rename = "continue", skip_serializing_if = "String::is_empty")]
    continue_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_item_count: Option<usize>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a> {
    kind: String,
    api_version: String,
    metadata: ListMeta,
    items: Vec<&'a Value>,
}

/// The objects of one list response, before they are rendered.
#[derive(Debug)]
pub struct Page {
    pub revision: u64,
    pub items: Vec<Arc<Value>>,
    pub continue_token: Option<ContinueToken>,
    pub remaining: Option<usize>,
}

impl Page {
    fn list_meta(&self) -> ListMeta {
        ListMeta {
            resource_version: self.revision.to_string(),
            continue_token: self
                .continue_token
                .as_ref()
                .map(ContinueToken::encode)
                .unwrap_or_default(),
            remaining_item_count: self.remaining,
        }
    }

    /// The list's `metadata`: resourceVersion, continue, remainingItemCount.
    pub fn metadata(&self) -> Value {
        serde_json::to_value(self.list_meta()).unwrap_or_default()
    }

    /// The `PodList`, `DeploymentList`, ... as JSON.
    pub fn to_json(&self, resource: Resource) -> Vec<u8> {
        let list = List {
            kind: format!("{}List", resource.kind()),
            api_version: resource.api_version(),
            metadata: self.list_meta(),
            items: self.items.iter().map(|o| &**o).collect(),
        };
        serde_json::to_vec(&list).unwrap_or_default()
    }
}

/// One page of the objects of `target` that `selector` selects.
pub async fn list(
    store: &Store,
    target: &Target,
    query: &Query,
    selector: &Selector,
) -> Result<Page, ApiError> {
    let token = match &*query.continue_token {
        "" => None,
        token => Some(ContinueToken::decode(token)?),
    };
    let revision = match (&token, query.revision()?, query.version_match) {
        (Some(_), Some(_), _) => {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        (Some(token), None, _) => token.revision,
        (None, Some(rv), VersionMatch::Exact) => {
            wait_for(store, rv).await?;
            rv
        }
        (None, Some(rv), _) => {
            wait_for(store, rv).await?;
            store.revision()
        }
        (None, None, _) => store.revision(),
    };
    let all = at_revision(store, target.resource, revision).map_err(|e| match (&token, e) {
        (Some(_), StoreError::Gone { .. }) => ApiError::expired(CONTINUE_EXPIRED),
        (_, e) => ApiError::from_store(e, target.resource, ""),
    })?;
    let start = token.map(|t| t.start);
    let mut selected = all
        .into_iter()
        .filter(|(key, _)| start.as_ref().is_none_or(|s| key > s))
        .filter(|((namespace, name), object)| {
            target.namespace.as_ref().is_none_or(|ns| ns == namespace)
                && target.name.as_ref().is_none_or(|n| n == name)
                && selector.matches(object)
        });
    let limit = query.limit.unwrap_or(usize::MAX);
    let page: Vec<(Key, Arc<Value>)> = selected.by_ref().take(limit).collect();
    let rest = selected.count();
    let continue_token = (rest > 0).then(|| ContinueToken {
        revision,
        start: page.last().map(|(k, _)| k.clone()).unwrap_or_default(),
    });
    Ok(Page {
        revision,
        items: page.into_iter().map(|(_, o)| o).collect(),
        continue_token,
        // Kubernetes counts the rest only when no selector filters it.
        remaining: (rest > 0 && selector.is_empty()).then_some(rest),
    })
}

/// Waits (a bounded time) until the store reaches `revision`.
async fn wait_for(store: &Store, revision: u64) -> Result<(), ApiError> {
    let mut revisions = store.revisions();
    let reached = tokio::time::timeout(
        FUTURE_VERSION_WAIT,
        revisions.wait_for(|current| *current >= revision),
    )
    .await;
    match reached {
        Ok(Ok(_)) => Ok(()),
        _ => Err(ApiError::new(
            504,
            "Timeout",
            format!(
                "Too large resource version: {revision}, current: {}",
                store.revision()
            ),
        )),
    }
}

/// Every object of `resource` as it was at `revision`, keyed and ordered by namespace and name.
pub fn at_revision(
    store: &Store,
    resource: Resource,
    revision: u64,
) -> Result<BTreeMap<Key, Arc<Value>>, StoreError> {
    let (objects, listed) = store.list(resource, None);
    let mut state: BTreeMap<Key, Arc<Value>> =
        objects.into_iter().map(|o| (object_key(&o), o)).collect();
    if revision >= listed {
        return Ok(state);
    }
    // The list reflects every event up to `listed`; undo those after `revision`, newest first.
    let (events, _) = store.watch_from(revision)?;
    for event in events
        .iter()
        .rev()
        .filter(|e| e.resource == resource && e.revision <= listed)
    {
        let key = object_key(&event.object);
        match (event.kind, &event.previous) {
            (EventType::Added, _) | (_, None) => state.remove(&key),
            (EventType::Modified | EventType::Deleted, Some(previous)) => {
                state.insert(key, previous.clone())
            }
        };
    }
    Ok(state)
}

/// The namespace (empty for cluster-scoped objects) and name of a stored object.
pub fn object_key(object: &Value) -> Key {
    let text = |field: &str| {
        object["metadata"][field]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    (text("namespace"), text("name"))
}

#[cfg(test)]
mod tests;
