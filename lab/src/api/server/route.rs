//! What a request path names, as kube-apiserver lays its paths out.

use crate::api::resource::Resource;

/// A served path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/version`
    Version,
    /// `/healthz`, `/readyz`, `/livez` and their sub-checks.
    Health,
    /// `/openapi/v2`: an empty schema (clients validate nothing against it).
    OpenApiV2,
    /// `/openapi/v3`: no group versions, so clients fall back to v2.
    OpenApiV3,
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: every other group.
    Groups,
    /// `/apis/GROUP`
    Group(&'static str),
    /// `/api/v1`, `/apis/GROUP/VERSION`: the resources of a group version.
    Resources { group: &'static str },
    /// A collection, an object or an object's status.
    Object(Target),
    /// `/api/v1/nodes/NAME/proxy/...`: through the control plane's tunnel to the node's kubelet.
    NodeProxy { node: String },
}

/// A part of an object with a path of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    /// `.../NAME/status`: writes change only `status`.
    Status,
    /// `.../deployments/NAME/scale`: the replica count as an `autoscaling/v1` Scale.
    Scale,
}

impl Subresource {
    fn of(resource: Resource, name: &str) -> Option<Subresource> {
        match name {
            "status" if super::discovery::has_status(resource) => Some(Subresource::Status),
            "scale" if resource == Resource::Deployment => Some(Subresource::Scale),
            _ => None,
        }
    }
}

/// The objects a request reads or writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub resource: Resource,
    /// The namespace of the path; `None` for cluster-scoped resources and lists of all namespaces.
    pub namespace: Option<String>,
    /// The object's name; `None` for the collection.
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
    /// A `/watch/` path (deprecated, still served): the request is a watch.
    pub watch_path: bool,
}

impl Route {
    /// The route of `path` (without its query), or `None` when nothing is served there.
    pub fn parse(path: &str) -> Option<Route> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            ["version"] => Some(Route::Version),
            ["healthz" | "readyz" | "livez", ..] => Some(Route::Health),
            ["openapi", "v2"] => Some(Route::OpenApiV2),
            ["openapi", "v3"] => Some(Route::OpenApiV3),
            ["api"] => Some(Route::CoreVersions),
            ["apis"] => Some(Route::Groups),
            ["apis", group] => known_group(group).map(Route::Group),
            ["api", "v1", rest @ ..] => in_group("", rest),
            ["apis", group, "v1", rest @ ..] => in_group(known_group(group)?, rest),
            _ => None,
        }
    }
}

fn known_group(group: &str) -> Option<&'static str> {
    Resource::ALL
        .into_iter()
        .map(Resource::group)
        .find(|g| !g.is_empty() && *g == group)
}

fn in_group(group: &'static str, rest: &[&str]) -> Option<Route> {
    let (watch_path, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let at = |plural: &str| Resource::at(group, "v1", plural);
    let target = |resource, namespace: Option<&str>, name: Option<&str>, subresource| {
        Some(Route::Object(Target {
            resource,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource,
            watch_path,
        }))
    };
    if let ["namespaces", namespace, plural, tail @ ..] = rest
        && let Some(resource) = at(plural).filter(|r| r.namespaced())
    {
        return match tail {
            [] => target(resource, Some(namespace), None, None),
            [name] => target(resource, Some(namespace), Some(name), None),
            [name, sub] if !watch_path => {
                let sub = Subresource::of(resource, sub)?;
                target(resource, Some(namespace), Some(name), Some(sub))
            }
            _ => None,
        };
    }
    match rest {
        [] if !watch_path => Some(Route::Resources { group }),
        [plural] => target(at(plural)?, None, None, None),
        [plural, name, tail @ ..] => {
            let resource = at(plural).filter(|r| !r.namespaced())?;
            match tail {
                [] => target(resource, None, Some(name), None),
                ["proxy", ..] if resource == Resource::Node && !watch_path => {
                    Some(Route::NodeProxy {
                        node: (*name).to_owned(),
                    })
                }
                [sub] if !watch_path => target(
                    resource,
                    None,
                    Some(name),
                    Some(Subresource::of(resource, sub)?),
                ),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(resource: Resource, namespace: Option<&str>, name: Option<&str>) -> Route {
        Route::Object(Target {
            resource,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: None,
            watch_path: false,
        })
    }

    #[test]
    fn paths_name_what_kube_apiserver_serves_there() {
        assert_eq!(Route::parse("/version"), Some(Route::Version));
        assert_eq!(Route::parse("/readyz/ping"), Some(Route::Health));
        assert_eq!(Route::parse("/openapi/v2"), Some(Route::OpenApiV2));
        assert_eq!(Route::parse("/api"), Some(Route::CoreVersions));
        assert_eq!(Route::parse("/apis/"), Some(Route::Groups));
        assert_eq!(Route::parse("/apis/apps"), Some(Route::Group("apps")));
        assert_eq!(
            Route::parse("/apis/discovery.k8s.io/v1"),
            Some(Route::Resources {
                group: "discovery.k8s.io"
            })
        );
        assert_eq!(
            Route::parse("/api/v1/pods"),
            Some(object(Resource::Pod, None, None))
        );
        assert_eq!(
            Route::parse("/api/v1/namespaces/web/pods/a"),
            Some(object(Resource::Pod, Some("web"), Some("a")))
        );
        assert_eq!(
            Route::parse("/apis/apps/v1/namespaces/web/deployments"),
            Some(object(Resource::Deployment, Some("web"), None))
        );
        assert_eq!(
            Route::parse("/api/v1/namespaces"),
            Some(object(Resource::Namespace, None, None))
        );
        assert_eq!(
            Route::parse("/api/v1/namespaces/web"),
            Some(object(Resource::Namespace, None, Some("web")))
        );
        assert_eq!(
            Route::parse("/api/v1/nodes/node-1"),
            Some(object(Resource::Node, None, Some("node-1")))
        );
        assert_eq!(
            Route::parse("/api/v1/nodes/node-1/proxy/healthz"),
            Some(Route::NodeProxy {
                node: "node-1".into()
            })
        );
    }

    #[test]
    fn status_and_legacy_watch_paths_are_marked() {
        let Some(Route::Object(t)) = Route::parse("/api/v1/namespaces/web/pods/a/status") else {
            panic!("status path not served");
        };
        assert!(t.subresource == Some(Subresource::Status) && t.name.as_deref() == Some("a"));
        let Some(Route::Object(t)) =
            Route::parse("/apis/apps/v1/namespaces/web/deployments/d/scale")
        else {
            panic!("scale path not served");
        };
        assert_eq!(t.subresource, Some(Subresource::Scale));
        let Some(Route::Object(t)) = Route::parse("/api/v1/watch/namespaces/web/pods") else {
            panic!("legacy watch path not served");
        };
        assert!(t.watch_path && t.namespace.as_deref() == Some("web"));
    }

    #[test]
    fn paths_the_server_does_not_serve_have_no_route() {
        for path in [
            "/",
            "/openapi/v3/api/v1",
            "/api/v2/pods",
            "/apis/apps/v1beta1/deployments",
            "/apis/batch/v1/jobs",
            "/api/v1/widgets",
            "/api/v1/pods/a",
            "/api/v1/namespaces/web/nodes/n",
            "/api/v1/namespaces/web/pods/a/log",
            "/api/v1/services/s/proxy",
            "/api/v1/watch",
            "/api/v1/watch/namespaces/web/pods/a/status",
            "/api/v1/namespaces/web/pods/a/scale",
            "/apis/discovery.k8s.io/v1/namespaces/web/endpointslices/a/status",
        ] {
            assert_eq!(Route::parse(path), None, "{path}");
        }
    }
}
