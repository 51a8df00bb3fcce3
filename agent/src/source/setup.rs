//! Builds and removes `lb-source` on the host (the calling thread's network namespace), running
//! the commands of [`super::plan`].

use std::fs::File;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sched::{CloneFlags, setns};

use super::caps;
use super::plan::{
    Command, LbSourceConfig, MAX_LEFTOVER_JUMPS, Names, Plan, ReturnPath, return_path,
};
use super::socket::{SocketFactory, THREAD_NETNS};
use crate::error::{Error, Result};
use crate::netns::{self, NETNS_DIR, NetNs, NetnsError};

/// A running `lb-source`: the private namespace, the veth pair, the routes, rules and iptables
/// chains. Dropping it removes them all (from the host namespace it was created in, whichever
/// thread drops it); [`LbSource::remove`] does the same and reports failures.
#[derive(Debug)]
pub struct LbSource {
    plan: Plan,
    /// The host namespace, entered again to tear down.
    host: File,
    netns: Option<NetNs>,
}

impl LbSource {
    /// Sets `lb-source` up in the calling thread's namespace, after removing what a crashed
    /// agent left there. Blocking: it runs a few dozen `ip` and `iptables` commands.
    pub fn create(config: LbSourceConfig) -> Result<LbSource> {
        config.validate()?;
        if let Some(v6) = config.ipv6_addresses().next()
            && !super::ipv6_enabled()
        {
            return Err(Error::SourceConfig {
                field: "lb-source address".into(),
                value: v6.to_string(),
                message: format!(
                    "IPv6 is off on this node ({} is absent or not 0): leave the IPv6 source out \
                     or turn IPv6 on",
                    super::IPV6_DISABLED_SYSCTL
                ),
            });
        }
        caps::require("lb-source", &caps::LB_SOURCE)?;
        let host = File::open(THREAD_NETNS).map_err(|source| Error::Read {
            path: THREAD_NETNS.into(),
            source,
        })?;
        let inode = host
            .metadata()
            .map(|m| m.ino())
            .map_err(|source| Error::Read {
                path: THREAD_NETNS.into(),
                source,
            })?;
        let plan = Plan::new(config, inode);
        cleanup(&plan);
        let netns = NetNs::create(&plan.names.netns).map_err(|source| Error::SourceSetup {
            namespace: plan.names.netns.clone(),
            step: "create the namespace".into(),
            source,
        })?;
        let mut source = LbSource {
            plan,
            host,
            netns: Some(netns),
        };
        // On error `source` is dropped, which removes whatever was made.
        source.build()?;
        Ok(source)
    }

    fn build(&mut self) -> Result<()> {
        let plan = &self.plan;
        run_all(plan, &plan.links())?;
        for (key, value) in plan.sysctls() {
            let path = PathBuf::from("/proc/sys").join(&key);
            // IPv6 may be disabled on the host altogether: then there is nothing to quieten.
            if key.starts_with("net/ipv6") && !path.exists() {
                continue;
            }
            write_sysctl(&key, value)?;
        }
        run_all(plan, &plan.routes())?;
        run_all(plan, &plan.iptables())?;
        // Answers the host itself sends (a probe of the node's own port) are routed once before
        // the mark moves them to the veth: without any route to the source that first lookup
        // fails. Nodes have a default route; say so where there is none.
        let marked = plan
            .config
            .addresses
            .iter()
            .filter(|a| return_path(a) == ReturnPath::Marked);
        for source in marked {
            let text = source.to_string();
            if netns::run("ip", &["route", "get", &text]).is_err() {
                tracing::warn!(source = %text, "no route to the LB source in the main table: \
                    probes answered by the host itself will time out");
            }
        }
        Ok(())
    }

    pub fn names(&self) -> &Names {
        &self.plan.names
    }

    pub fn config(&self) -> &LbSourceConfig {
        &self.plan.config
    }

    /// Where the private namespace is mounted.
    pub fn netns_path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.plan.names.netns)
    }

    /// A factory for probe sockets inside the private namespace: IPv4 probes leave from the
    /// first IPv4 source, IPv6 probes from the first IPv6 source (bound, with the veth's scope
    /// when link-local); use it from threads of the host namespace.
    pub fn socket_factory(&self) -> Result<Arc<SocketFactory>> {
        let names = &self.plan.names;
        let config = &self.plan.config;
        let v4 = config.addresses.iter().find_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        });
        let mut factory = SocketFactory::open(&names.netns, &self.netns_path(), v4)?;
        if let Some(v6) = config.ipv6_addresses().next() {
            factory = factory.with_ipv6_source(v6, &names.peer_if)?;
        }
        Ok(Arc::new(factory))
    }

    /// Removes everything now; the namespace is gone when the last socket made in it closes.
    pub fn remove(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        let Some(netns) = self.netns.take() else {
            return Ok(());
        };
        let plan = self.plan.clone();
        let host = self.host.try_clone().map_err(|source| Error::Read {
            path: THREAD_NETNS.into(),
            source,
        })?;
        let namespace = plan.names.netns.clone();
        // The dropping thread may be in another namespace (the lab drops from outside the
        // node): the commands run on a thread that entered the host namespace.
        let joined = std::thread::Builder::new()
            .name("psrc-teardown".into())
            .spawn(move || -> Result<()> {
                setns(&host, CloneFlags::CLONE_NEWNET).map_err(|source| Error::SourceSetup {
                    namespace: plan.names.netns.clone(),
                    step: "enter the host namespace to tear down".into(),
                    source: NetnsError::Enter {
                        name: "host".into(),
                        source,
                    },
                })?;
                cleanup(&plan);
                Ok(())
            })
            .map_err(|source| Error::Socket {
                what: format!("teardown thread for {namespace}"),
                source,
            })?
            .join();
        drop(netns);
        match joined {
            Ok(result) => result,
            Err(_) => Err(Error::Socket {
                what: format!("teardown of {namespace}"),
                source: std::io::Error::other("the teardown thread panicked"),
            }),
        }
    }
}

impl Drop for LbSource {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::warn!(error = %e, "could not remove lb-source");
        }
    }
}

/// Where the node's `/proc/sys/net` is mounted writable when the container's own `/proc/sys` is
/// read-only (as container runtimes mount it for every unprivileged container); see
/// manifests/components/lb-source.
pub const HOST_PROC_SYS: &str = "/host/proc/sys";

/// Writes a sysctl of the agent's own network namespace (net sysctls follow the writer's
/// namespace, whichever procfs mount is used): through `/proc/sys`, or through
/// [`HOST_PROC_SYS`] where `/proc/sys` is read-only.
fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = PathBuf::from("/proc/sys").join(key);
    match std::fs::write(&path, value) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => {
            let host = PathBuf::from(HOST_PROC_SYS).join(key);
            std::fs::write(&host, value).map_err(|source| Error::Socket {
                what: format!(
                    "sysctl {key}={value} (/proc/sys is read-only; mount the node's /proc/sys/net at {HOST_PROC_SYS}/net)"
                ),
                source,
            })
        }
        Err(source) => Err(Error::Socket {
            what: format!("sysctl {key}={value}"),
            source,
        }),
    }
}

fn run_all(plan: &Plan, commands: &[Command]) -> Result<()> {
    for (program, args) in commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        netns::run(program, &args).map_err(|source| Error::SourceSetup {
            namespace: plan.names.netns.clone(),
            step: format!("{program} {}", args.join(" ")),
            source,
        })?;
    }
    Ok(())
}

/// Removes whatever exists of `plan` in the calling thread's namespace; missing pieces are fine.
pub(super) fn cleanup(plan: &Plan) {
    for (program, args) in plan.repeated_cleanup() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for _ in 0..MAX_LEFTOVER_JUMPS {
            if netns::run(program, &args).is_err() {
                break;
            }
        }
    }
    for (program, args) in plan.cleanup() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = netns::run(program, &args);
    }
    let leftover = Path::new(NETNS_DIR).join(&plan.names.netns);
    if leftover.exists() {
        let _ = netns::run("ip", &["netns", "delete", &plan.names.netns]);
    }
}
