//! Sockets made inside another network namespace.
//!
//! A socket belongs for life to the namespace its creator was in at `socket(2)`; everything after
//! (bind, connect, I/O, the tokio reactor) works from any thread. So the factory enters the
//! namespace on the calling thread, makes the socket, and returns at once: `setns`, `socket`,
//! `setns`, with nothing else running on the thread in between. That is two system calls more
//! than a node-source probe and no thread hop; the node path does not go through here at all.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};

/// The calling thread's own network namespace (not the process's: a thread may have entered
/// another one, as the lab's agents do).
pub const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Makes sockets inside one network namespace, from threads of the namespace it was opened in.
#[derive(Debug)]
pub struct SocketFactory {
    name: String,
    target: File,
    home: File,
    /// The source address sockets bind to when the probe names none, if any.
    source: Option<IpAddr>,
}

impl SocketFactory {
    /// A factory for the namespace at `path` (e.g. `/run/netns/NAME`), to be used from threads
    /// in the calling thread's namespace.
    pub fn open(name: &str, path: &Path, source: Option<IpAddr>) -> Result<SocketFactory> {
        let open = |p: &Path| {
            File::open(p).map_err(|source| Error::Read {
                path: PathBuf::from(p),
                source,
            })
        };
        Ok(SocketFactory {
            name: name.to_owned(),
            target: open(path)?,
            home: open(Path::new(THREAD_NETNS))?,
            source,
        })
    }

    /// The namespace's name, for messages and labels.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address probes leave from when they bind none.
    pub fn source(&self) -> Option<IpAddr> {
        self.source
    }

    /// Creates a socket inside the namespace.
    pub fn socket(
        &self,
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
    ) -> io::Result<Socket> {
        setns(&self.target, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let made = Socket::new(domain, ty, protocol);
        if let Err(e) = setns(&self.home, CloneFlags::CLONE_NEWNET) {
            // Practically impossible (the namespace is held open), and fatal to the thread's
            // later node-source sockets if it ever happened: say so loudly.
            tracing::error!(namespace = %self.name, error = %e,
                "could not return to the host namespace after making a socket");
            return Err(io::Error::from(e));
        }
        made
    }
}
