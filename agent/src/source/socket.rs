//! Sockets made inside another network namespace.
//!
//! A socket belongs for life to the namespace its creator was in at `socket(2)`; everything after
//! (bind, connect, I/O, the tokio reactor) works from any thread. So the factory enters the
//! namespace on the calling thread, makes the socket, and returns at once: `setns`, `socket`,
//! `setns`, with nothing else running on the thread in between. That is two system calls more
//! than a node-source probe and no thread hop; the node path does not go through here at all.
//!
//! IPv6 stream and datagram sockets are also bound to the namespace's IPv6 source, when it has
//! one ([`SocketFactory::with_ipv6_source`]): a link-local source means nothing without its
//! interface, so the bind carries the veth's scope id, which also pins the socket to the veth.
//! The port is left to `connect` (`IP_BIND_ADDRESS_NO_PORT`), so ports are shared across
//! destinations as for unbound sockets. IPv4 sockets are not bound: the namespace's first IPv4
//! address is the kernel's own choice. A prober that binds an IPv6 socket itself cannot use the
//! factory (a socket is bound once).

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

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
    /// The IPv4 source (the first IPv4 LB source), if any: what raw SYN probes leave from.
    source: Option<Ipv4Addr>,
    /// What IPv6 stream and datagram sockets are bound to (port 0), if anything.
    ipv6: Option<SocketAddrV6>,
}

impl SocketFactory {
    /// A factory for the namespace at `path` (e.g. `/run/netns/NAME`), to be used from threads
    /// in the calling thread's namespace.
    pub fn open(name: &str, path: &Path, source: Option<Ipv4Addr>) -> Result<SocketFactory> {
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
            ipv6: None,
        })
    }

    /// Binds the IPv6 stream and datagram sockets made from now on to `addr`, scoped to
    /// `interface` (a name inside the namespace) when `addr` is link-local.
    pub fn with_ipv6_source(mut self, addr: Ipv6Addr, interface: &str) -> Result<SocketFactory> {
        let scope = if addr.is_unicast_link_local() {
            self.interface_index(interface)
                .map_err(|source| Error::Socket {
                    what: format!(
                        "scope of lb-source address {addr}: index of {interface} in {}",
                        self.name
                    ),
                    source,
                })?
        } else {
            0
        };
        self.ipv6 = Some(SocketAddrV6::new(addr, 0, 0, scope));
        Ok(self)
    }

    /// What IPv6 sockets are bound to (address and scope id), if anything.
    pub fn ipv6_source(&self) -> Option<SocketAddrV6> {
        self.ipv6
    }

    /// The index of `interface` inside the namespace.
    fn interface_index(&self, interface: &str) -> io::Result<u32> {
        self.inside(|| nix::net::if_::if_nametoindex(interface).map_err(io::Error::from))
    }

    /// The namespace's name, for messages and labels.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address IPv4 probes leave from (the first IPv4 LB source).
    pub fn source(&self) -> Option<Ipv4Addr> {
        self.source
    }

    /// The address probes to `target` leave from: the IPv6 source for IPv6 targets, the
    /// IPv4 source for IPv4 ones.
    pub fn source_for(&self, target: IpAddr) -> Option<IpAddr> {
        match target {
            IpAddr::V6(_) => self.ipv6.map(|a| IpAddr::V6(*a.ip())),
            IpAddr::V4(_) => self.source.map(IpAddr::V4),
        }
    }

    /// Creates a socket inside the namespace.
    pub fn socket(
        &self,
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
    ) -> io::Result<Socket> {
        let socket = self.inside(|| Socket::new(domain, ty, protocol))?;
        if let Some(bind) = self.ipv6.filter(|_| domain == Domain::IPV6 && binds(ty)) {
            setsockopt(&socket, sockopt::IpBindAddressNoPort, &true).map_err(io::Error::from)?;
            socket.bind(&SockAddr::from(bind))?;
        }
        Ok(socket)
    }

    /// Runs `f` on the calling thread inside the namespace, and returns to the thread's own.
    fn inside<T>(&self, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        setns(&self.target, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let made = f();
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

/// Whether sockets of type `ty` get the source bound: stream and datagram ones (probes, route
/// lookups), not raw ones (they write their own headers).
fn binds(ty: Type) -> bool {
    let base = libc::c_int::from(ty) & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    base == libc::SOCK_STREAM || base == libc::SOCK_DGRAM
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::*;
    use crate::netns::{NETNS_DIR, NetNs, can_run_privileged_test};

    const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x1234, 0x5678, 0x9abc);

    fn local(socket: &Socket) -> Option<SocketAddr> {
        socket.local_addr().ok()?.as_socket()
    }

    #[test]
    fn ipv6_sockets_bind_to_the_scoped_source_and_ipv4_and_raw_sockets_stay_unbound() {
        if !can_run_privileged_test(
            "ipv6_sockets_bind_to_the_scoped_source_and_ipv4_and_raw_sockets_stay_unbound",
        ) {
            return;
        }
        let ns = NetNs::create(&format!("psock-test-{}", std::process::id())).expect("netns");
        for args in [
            "link add d0 type veth peer name d1",
            "link set d0 up",
            "addr add fe80::1234:5678:9abc/64 dev d0 nodad",
        ] {
            let args: Vec<&str> = args.split_whitespace().collect();
            ns.exec("ip", &args).expect("ip");
        }
        let path = Path::new(NETNS_DIR).join(ns.name());
        let v4 = Ipv4Addr::new(168, 63, 129, 16);
        let factory = SocketFactory::open(ns.name(), &path, Some(v4))
            .and_then(|f| f.with_ipv6_source(LINK_LOCAL, "d0"))
            .expect("factory");
        let bound = factory.ipv6_source().expect("bound");
        assert_eq!(*bound.ip(), LINK_LOCAL);
        assert_ne!(bound.scope_id(), 0);
        assert_eq!(
            factory.source_for(IpAddr::from([10, 0, 0, 4])),
            Some(IpAddr::V4(v4)),
            "IPv4 targets"
        );
        assert_eq!(
            factory.source_for("fd00::4".parse().unwrap()),
            Some(IpAddr::V6(LINK_LOCAL))
        );

        let stream = factory
            .socket(Domain::IPV6, Type::STREAM.nonblocking(), None)
            .expect("stream");
        assert_eq!(
            local(&stream),
            Some(SocketAddr::V6(bound)),
            "bound, port left to connect"
        );
        let v4_stream = factory
            .socket(Domain::IPV4, Type::STREAM, None)
            .expect("v4");
        assert_eq!(
            local(&v4_stream),
            Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        );
        let raw = factory
            .socket(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .expect("raw");
        assert_eq!(
            local(&raw).map(|a| a.ip()),
            Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );

        let err = SocketFactory::open(ns.name(), &path, None)
            .and_then(|f| f.with_ipv6_source(LINK_LOCAL, "nope0"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fe80::1234:5678:9abc") && err.contains("nope0"),
            "{err}"
        );
    }
}
