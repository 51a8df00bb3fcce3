//! IPv4 prefixes, as Kubernetes writes them (`10.244.1.0/24`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 prefix; the address is stored with its host bits cleared.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an IPv4 prefix like 10.244.0.0/16")]
pub struct CidrParseError {
    pub text: String,
}

impl Ipv4Cidr {
    /// The prefix of `addr` with `len` bits (`len` above 32 is taken as 32).
    pub const fn new(addr: Ipv4Addr, len: u8) -> Ipv4Cidr {
        let len = if len > 32 { 32 } else { len };
        let bits = addr.to_bits() & mask(len);
        Ipv4Cidr {
            network: Ipv4Addr::from_bits(bits),
            len,
        }
    }

    /// A single address (`/32`).
    pub const fn host(addr: Ipv4Addr) -> Ipv4Cidr {
        Ipv4Cidr::new(addr, 32)
    }

    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(self) -> u8 {
        self.len
    }

    pub fn contains(self, addr: Ipv4Addr) -> bool {
        addr.to_bits() & mask(self.len) == self.network.to_bits()
    }

    /// Whether `other` lies wholly inside this prefix.
    pub fn covers(self, other: Ipv4Cidr) -> bool {
        other.len >= self.len && self.contains(other.network)
    }

    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The `n`th address of the prefix (0 is the network address), if it is inside.
    pub fn nth(self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.len));
        (u64::from(n) < size).then(|| Ipv4Addr::from_bits(self.network.to_bits() + n))
    }

    /// How many addresses the prefix holds.
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }
}

const fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;

    /// `a.b.c.d/len`, or a bare address as `/32`. Host bits must be clear, as the API server
    /// requires of `ipBlock.cidr` and `podCIDR`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || CidrParseError {
            text: text.to_owned(),
        };
        let (addr, len) = match text.trim().split_once('/') {
            Some((addr, len)) => (addr, len.parse::<u8>().map_err(|_| err())?),
            None => (text.trim(), 32),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| err())?;
        if len > 32 {
            return Err(err());
        }
        let cidr = Ipv4Cidr::new(addr, len);
        if cidr.network != addr {
            return Err(err());
        }
        Ok(cidr)
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = CidrParseError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Ipv4Cidr> for String {
    fn from(cidr: Ipv4Cidr) -> String {
        cidr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes_and_bare_addresses_and_rejects_host_bits() {
        let cidr: Ipv4Cidr = "10.244.1.0/24".parse().unwrap();
        assert_eq!(cidr.network(), Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(cidr.prefix_len(), 24);
        assert_eq!(cidr.to_string(), "10.244.1.0/24");
        assert_eq!(
            "168.63.129.16".parse::<Ipv4Cidr>().unwrap(),
            Ipv4Cidr::host(Ipv4Addr::new(168, 63, 129, 16))
        );
        assert_eq!("0.0.0.0/0".parse::<Ipv4Cidr>().unwrap().size(), 1 << 32);
        for bad in ["10.244.1.1/24", "10.244.1.0/33", "10.244.1/24", "x/8", ""] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn containment_and_overlap_follow_the_prefix_bits() {
        let pods: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        let node: Ipv4Cidr = "10.244.3.0/24".parse().unwrap();
        assert!(pods.contains(Ipv4Addr::new(10, 244, 3, 7)));
        assert!(!pods.contains(Ipv4Addr::new(10, 245, 0, 1)));
        assert!(pods.covers(node) && !node.covers(pods));
        assert!(pods.overlaps(node) && node.overlaps(pods));
        assert!(!node.overlaps("10.244.4.0/24".parse().unwrap()));
        assert_eq!(node.nth(5), Some(Ipv4Addr::new(10, 244, 3, 5)));
        assert_eq!(node.nth(256), None);
        assert!(
            "0.0.0.0/0"
                .parse::<Ipv4Cidr>()
                .unwrap()
                .contains(Ipv4Addr::BROADCAST)
        );
    }
}
