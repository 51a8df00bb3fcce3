//! Running the network tools inside a namespace: iproute2 batches, iptables, sysctls.
//!
//! Every command names its namespace explicitly (`ip -n`, `ip netns exec`), whichever thread runs
//! it, so a mistake can never program the root namespace.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sched::{CloneFlags, setns};
use probesim_agent::netns::NETNS_DIR;

use super::{NetError, Result};

/// The tools the lab's network needs, with the Debian package of each.
pub const TOOLS: [(&str, &str); 4] = [
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("iptables-restore", "iptables"),
    ("iptables-save", "iptables"),
];

/// `Ok` when root and every tool of [`TOOLS`] are there; otherwise what is missing and how to
/// install it.
pub fn check_tools() -> std::result::Result<(), String> {
    probesim_agent::netns::check_privileges()?;
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the lab's network needs {}: apt-get install -y {}",
            missing.join(", "),
            missing.join(" ")
        ))
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|dir| Path::new(dir).join(tool).is_file())
}

fn package_of(program: &str) -> &'static str {
    TOOLS
        .iter()
        .find(|(tool, _)| *tool == program)
        .map_or("iproute2", |(_, package)| package)
}

/// Runs `ip -n namespace args` and returns its output.
pub(crate) fn ip(namespace: &str, args: &[&str]) -> Result<String> {
    let mut full = vec!["-n", namespace];
    full.extend_from_slice(args);
    run(namespace, "ip", &full, None)
}

/// Runs iproute2 commands (one per line, without the leading `ip`) in `namespace` as one batch.
pub(crate) fn ip_batch(namespace: &str, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let input = lines.join("\n") + "\n";
    run(
        namespace,
        "ip",
        &["-n", namespace, "-batch", "-"],
        Some(&input),
    )
    .map(drop)
}

/// Runs `program args` inside `namespace` (`ip netns exec`), with `input` on its standard input,
/// without blocking the runtime's thread.
pub(crate) async fn exec_in_async(
    namespace: &str,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String> {
    let mut full = vec!["netns", "exec", namespace, program];
    full.extend_from_slice(args);
    let command = describe(program, args);
    let mut child = tokio::process::Command::new("ip")
        .args(&full)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| NetError::Spawn {
            command: command.clone(),
            package: package_of("ip"),
            source,
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        // A failed write shows up as the command's own error below.
        let _ = stdin.write_all(text.as_bytes()).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| NetError::Spawn {
            command: command.clone(),
            package: package_of(program),
            source,
        })?;
    finish(namespace, command, program, &out)
}

fn run(namespace: &str, program: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let command = describe(program, args);
    let spawn_err = |source| NetError::Spawn {
        command: command.clone(),
        package: package_of(program),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    finish(namespace, command, program, &out)
}

fn describe(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

fn finish(namespace: &str, command: String, program: &str, out: &Output) -> Result<String> {
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if stderr.contains("No such file or directory") && stderr.contains("exec of") {
        stderr.push_str(&format!(
            " (install it with: apt-get install {})",
            package_of(program)
        ));
    }
    Err(NetError::Command {
        namespace: namespace.to_owned(),
        command,
        stderr,
    })
}

/// Sets sysctls (`net/ipv4/ip_forward` style keys) in `namespace`: a short-lived thread enters it
/// and writes `/proc/sys`, which shows the writing thread's namespace.
pub(crate) fn sysctl(namespace: &str, settings: &[(String, &str)]) -> Result<()> {
    let path = PathBuf::from(NETNS_DIR).join(namespace);
    let name = namespace.to_owned();
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.clone(), (*v).to_owned()))
        .collect();
    let err = |key: &str, source| NetError::Sysctl {
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        source,
    };
    let file = File::open(&path).map_err(|e| err("(namespace)", e))?;
    let handle = std::thread::Builder::new()
        .name(format!("sysctl-{name}"))
        .spawn(
            move || -> std::result::Result<(), (String, std::io::Error)> {
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| ("(setns)".to_owned(), std::io::Error::from(e)))?;
                for (key, value) in &settings {
                    std::fs::write(Path::new("/proc/sys").join(key), value)
                        .map_err(|e| (key.clone(), e))?;
                }
                Ok(())
            },
        )
        .map_err(|e| err("(thread)", e))?;
    match handle.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err((key, source))) => Err(err(&key, source)),
        Err(_) => Err(err("(thread)", std::io::Error::other("panicked"))),
    }
}
