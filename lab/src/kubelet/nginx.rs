//! Real nginx (Debian's package) as a pod's application, for scenarios that ask for it
//! (`server: nginx` on an app port): the same routes as the built-in server, rendered as nginx
//! `return` locations, nginx started inside the pod's network namespace.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::apps::{AnswerSpec, AppPort, AppProtocol, ConnSpec};

/// How long nginx may take to listen after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a port cannot run on nginx.
pub fn unsupported(port: &AppPort) -> Option<String> {
    if port.protocol != AppProtocol::Http {
        return Some(format!(
            "port {}: nginx serves plain HTTP only in the lab",
            port.port
        ));
    }
    if port.connection != ConnSpec::Serve {
        return Some(format!(
            "port {}: nginx cannot emulate connection behaviour {:?}",
            port.port, port.connection
        ));
    }
    let delayed = port
        .routes
        .values()
        .chain(&port.default)
        .any(|a| matches!(a, AnswerSpec::Full { delay: Some(d), .. } if !d.is_zero()));
    delayed.then(|| format!("port {}: nginx answers cannot be delayed", port.port))
}

/// The nginx configuration for one port: exact-path `return`s, the default for the rest.
pub fn config(dir: &std::path::Path, addr: SocketAddr, port: &AppPort) -> String {
    let d = dir.display();
    let mut locations = String::new();
    for (path, answer) in &port.routes {
        let _ = writeln!(locations, "    location = {path} {{ {} }}", ret(answer));
    }
    let default = port.default.clone().unwrap_or(AnswerSpec::Status(200));
    let _ = writeln!(locations, "    location / {{ {} }}", ret(&default));
    format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         server {{\n    listen {addr};\n{locations}  }}\n}}\n"
    )
}

fn ret(answer: &AnswerSpec) -> String {
    let a = answer.answer();
    if a.body.is_empty() {
        format!("return {};", a.status)
    } else {
        format!(
            "return {} \"{}\";",
            a.status,
            a.body.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

/// A running nginx; dropping it stops it (SIGTERM, then SIGKILL) and removes its files.
#[derive(Debug)]
pub struct Nginx {
    child: Mutex<Child>,
    dir: PathBuf,
    addr: SocketAddr,
    netns: String,
}

impl Nginx {
    /// Starts nginx in network namespace `netns` on `addr` and waits until it listens (checked
    /// from the calling thread's namespace, the node's).
    pub fn start(netns: &str, addr: SocketAddr, port: &AppPort) -> Result<Nginx, String> {
        if let Some(why) = unsupported(port) {
            return Err(why);
        }
        let dir = std::env::temp_dir().join(format!(
            "probesim-lab-nginx-{}-{netns}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, addr, port))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", netns, "nginx", "-q", "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "nginx could not be started ({e}); install it with: apt-get install -y nginx"
                )
            })?;
        let nginx = Nginx {
            child: Mutex::new(child),
            dir,
            addr,
            netns: netns.to_owned(),
        };
        nginx.wait_listening()?;
        Ok(nginx)
    }

    fn wait_listening(&self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self
                .child
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_wait()
            {
                let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                return Err(format!(
                    "nginx in {} exited ({status}): {}",
                    self.netns,
                    log.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "nginx in {} did not listen on {} within {START_TIMEOUT:?}",
            self.netns, self.addr
        ))
    }

    /// Sends `signal` to the nginx master (`ip netns exec` execs it, so the child is nginx).
    fn signal(&self, signal: Signal) {
        let child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// Graceful shutdown (SIGQUIT): nginx closes its listening socket and finishes what it has.
    pub fn stop_accepting(&self) {
        self.signal(Signal::SIGQUIT);
    }

    /// New answers: the configuration rewritten and reloaded (SIGHUP).
    pub fn set(&self, port: &AppPort) {
        if unsupported(port).is_some() {
            return;
        }
        if std::fs::write(
            self.dir.join("nginx.conf"),
            config(&self.dir, self.addr, port),
        )
        .is_ok()
        {
            self.signal(Signal::SIGHUP);
        }
    }

    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.signal(Signal::SIGTERM);
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_become_exact_locations_and_the_default_the_rest() {
        let port: AppPort = serde_yaml_ng::from_str(
            "{port: 80, server: nginx, routes: {/healthz: {status: 200, body: 'o\"k'}}, default: 404}",
        )
        .unwrap();
        let conf = config(
            std::path::Path::new("/tmp/x"),
            "10.244.0.2:80".parse().unwrap(),
            &port,
        );
        assert!(conf.contains("listen 10.244.0.2:80;"), "{conf}");
        assert!(
            conf.contains("location = /healthz { return 200 \"o\\\"k\"; }"),
            "{conf}"
        );
        assert!(conf.contains("location / { return 404; }"), "{conf}");
        assert!(conf.contains("pid /tmp/x/nginx.pid;"));
        let delayed: AppPort =
            serde_yaml_ng::from_str("{port: 80, server: nginx, default: {delay: 1s}}").unwrap();
        assert!(unsupported(&delayed).unwrap().contains("cannot be delayed"));
    }
}
