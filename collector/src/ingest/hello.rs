//! An agent's hello, checked and turned into [`AgentInfo`].

use std::sync::Arc;
use std::time::SystemTime;

use probesim_agent::stream::wire::enums::cloud_from_wire;
use probesim_proto::v1;

use crate::model::AgentInfo;

/// The agent's id is `<node>/<instance>`; both must be present and free of `/`.
pub fn agent_info(hello: &v1::Hello, connected_at: SystemTime) -> Result<AgentInfo, String> {
    for (field, value) in [("node", &hello.node), ("instance", &hello.instance)] {
        if value.is_empty() {
            return Err(format!("hello.{field}: missing"));
        }
        if value.contains('/') || value.len() > 253 {
            return Err(format!(
                "hello.{field}: {value:?}: not a node name or instance id"
            ));
        }
    }
    let cloud = if hello.cloud == v1::Cloud::Unspecified as i32 {
        None
    } else {
        Some(cloud_from_wire(hello.cloud, || "hello.cloud".to_owned()).map_err(|e| e.to_string())?)
    };
    Ok(AgentInfo {
        id: Arc::from(format!("{}/{}", hello.node, hello.instance)),
        node: hello.node.clone(),
        cloud,
        k8s_version: hello.k8s_version.clone(),
        what_if_versions: hello.what_if_versions.clone(),
        build: hello.build.clone(),
        connected_at,
    })
}
