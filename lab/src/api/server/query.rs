//! The query parameters of list, watch and delete requests.

use std::time::Duration;

use super::status::ApiError;

/// How a list or watch interprets `resourceVersion` (`resourceVersionMatch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VersionMatch {
    /// Not given: the version is a lower bound for lists, a starting point for watches.
    #[default]
    Unset,
    NotOlderThan,
    Exact,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub watch: bool,
    /// `resourceVersion`; empty when not given.
    pub resource_version: String,
    pub version_match: VersionMatch,
    pub limit: Option<usize>,
    /// `continue`; empty when not given.
    pub continue_token: String,
    pub label_selector: String,
    pub field_selector: String,
    pub allow_bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
    pub grace_period: Option<i64>,
    /// `includeObject` of table requests: `None`, `Metadata` (the default) or `Object`.
    pub include_object: String,
    /// `dryRun=All`: the lab's store cannot try a write without making it, so such writes are
    /// refused rather than made.
    pub dry_run: bool,
}

impl Query {
    /// Parses a URL query; unknown parameters are ignored (as kube-apiserver ignores them).
    pub fn parse(query: &str) -> Result<Query, ApiError> {
        let mut q = Query::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match &*key {
                "watch" => q.watch = boolean(&key, &value)?,
                "resourceVersion" => q.resource_version = value,
                "resourceVersionMatch" => {
                    q.version_match = match &*value {
                        "" => VersionMatch::Unset,
                        "NotOlderThan" => VersionMatch::NotOlderThan,
                        "Exact" => VersionMatch::Exact,
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                            )));
                        }
                    }
                }
                // `limit=0` is no limit, as in Kubernetes.
                "limit" => q.limit = Some(number::<usize>(&key, &value)?).filter(|l| *l > 0),
                "continue" => q.continue_token = value,
                "labelSelector" => q.label_selector = value,
                "fieldSelector" => q.field_selector = value,
                "allowWatchBookmarks" => q.allow_bookmarks = boolean(&key, &value)?,
                "sendInitialEvents" => q.send_initial_events = boolean(&key, &value)?,
                "timeoutSeconds" => {
                    q.timeout = Some(Duration::from_secs(number(&key, &value)?));
                }
                "gracePeriodSeconds" => q.grace_period = Some(number(&key, &value)?),
                "includeObject" => q.include_object = value,
                "dryRun" => q.dry_run = !value.is_empty(),
                _ => {}
            }
        }
        Ok(q)
    }

    /// The `resourceVersion` as a revision; `None` when not given or `0` ("any version").
    pub fn revision(&self) -> Result<Option<u64>, ApiError> {
        match &*self.resource_version {
            "" | "0" => Ok(None),
            rv => rv.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid resource version {rv:?}: not a number"))
            }),
        }
    }
}

/// Go's `strconv.ParseBool`, which kube-apiserver uses for boolean parameters.
fn boolean(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" | "" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "{key}: invalid boolean {other:?}"
        ))),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{key}: invalid number {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_as_clients_encode_them() {
        let q = Query::parse(
            "watch=1&resourceVersion=42&allowWatchBookmarks=true&timeoutSeconds=290\
             &labelSelector=app%20in%20(web%2Cdb)&fieldSelector=spec.nodeName%3Dnode-1&limit=0",
        )
        .unwrap();
        assert!(q.watch && q.allow_bookmarks);
        assert_eq!(q.revision().unwrap(), Some(42));
        assert_eq!(q.timeout, Some(Duration::from_secs(290)));
        assert_eq!(q.label_selector, "app in (web,db)");
        assert_eq!(q.field_selector, "spec.nodeName=node-1");
        assert_eq!(q.limit, None);
        let q = Query::parse("resourceVersion=0&resourceVersionMatch=Exact&limit=5").unwrap();
        assert_eq!(q.revision().unwrap(), None);
        assert_eq!(q.version_match, VersionMatch::Exact);
        assert_eq!(q.limit, Some(5));
    }

    #[test]
    fn malformed_parameters_are_bad_requests_naming_the_parameter() {
        for bad in [
            "watch=maybe",
            "limit=-1",
            "timeoutSeconds=x",
            "resourceVersionMatch=Newest",
        ] {
            let err = Query::parse(bad).unwrap_err();
            assert_eq!(err.code, 400, "{bad}");
            let key = bad.split('=').next().unwrap();
            assert!(err.message.contains(key), "{bad}: {err}");
        }
        let err = Query::parse("resourceVersion=abc")
            .unwrap()
            .revision()
            .unwrap_err();
        assert!(err.message.contains("abc"));
    }
}
