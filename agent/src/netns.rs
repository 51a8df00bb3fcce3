//! Network namespaces: created with iproute2 (`ip netns add`, so `ip netns` and the lab's tools
//! see them) and entered with `setns(2)` on a dedicated thread, whose sockets then live in the
//! namespace.
//!
//! A thread that entered a namespace runs its own current-thread tokio runtime; nothing else
//! ever runs on it, so no other task's sockets end up in the wrong namespace.

use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

/// Where iproute2 keeps the bind mounts of named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("`{command}` could not be started: {source} (is iproute2 installed?)")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("cannot open network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {name}: {source} (needs CAP_SYS_ADMIN)")]
    Enter {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error("cannot start a thread for network namespace {name}: {source}")]
    Thread {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs a command and returns its standard output, or an error carrying its standard error.
pub fn run(program: &str, args: &[&str]) -> Result<String, NetnsError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| NetnsError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetnsError::Command {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// A named network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates the namespace (replacing a leftover of the same name) with its loopback up.
    pub fn create(name: &str) -> Result<NetNs, NetnsError> {
        if PathBuf::from(NETNS_DIR).join(name).exists() {
            let _ = run("ip", &["netns", "delete", name]);
        }
        run("ip", &["netns", "add", name])?;
        let ns = NetNs {
            name: name.to_owned(),
        };
        ns.exec("ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String, NetnsError> {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `f` on a new thread inside the namespace, on a current-thread tokio runtime, and
    /// returns its output when it finishes.
    pub fn spawn<F, Fut, T>(&self, f: F) -> Result<JoinHandle<Result<T, NetnsError>>, NetnsError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let name = self.name.clone();
        let path = PathBuf::from(NETNS_DIR).join(&name);
        let file = File::open(&path).map_err(|source| NetnsError::Open { path, source })?;
        std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
                    name: name.clone(),
                    source,
                })?;
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| NetnsError::Thread { name, source })?;
                Ok(rt.block_on(f()))
            })
            .map_err(|source| NetnsError::Thread {
                name: self.name.clone(),
                source,
            })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Whoever removed it first (a teardown that deletes by name) did the work.
        if !PathBuf::from(NETNS_DIR).join(&self.name).exists() {
            return;
        }
        if let Err(e) = run("ip", &["netns", "delete", &self.name]) {
            tracing::warn!(namespace = %self.name, error = %e, "could not delete network namespace");
        }
    }
}

/// Whether this process can create network namespaces; `Err` says what is missing.
pub fn check_privileges() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces".into(),
        );
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err("needs the `ip` command: apt-get install iproute2".into()),
    }
}

/// For tests that need network namespaces: `true` when they can run. Otherwise it says why on
/// standard error and returns `false`, except under `CI=true`, where a test that cannot run is a
/// failure, not a skip.
pub fn can_run_privileged_test(test: &str) -> bool {
    test_may_run(test, check_privileges())
}

/// `true` when `ready` is `Ok`; otherwise says on standard error why `test` is skipped, or fails
/// it under `CI=true`, where a test that cannot run is a failure, not a skip.
pub fn test_may_run(test: &str, ready: Result<(), String>) -> bool {
    match ready {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test} cannot run under CI: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            false
        }
    }
}
