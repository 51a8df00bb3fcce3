//! The names of what `lb-source` creates, derived from the host namespace.

use super::NETNS_PREFIX;

/// The names of what one host's `lb-source` creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The private namespace (`psrc-<hash>`), under `/run/netns`.
    pub netns: String,
    /// The host's end of the veth pair (`psrc<hash>`).
    pub host_if: String,
    /// The private namespace's end.
    pub peer_if: String,
    pub host_mac: String,
    pub peer_mac: String,
}

impl Names {
    /// Names derived from the host namespace's inode: stable across restarts of the agent (so a
    /// crashed agent's leftovers are found again) and distinct for every host namespace on the
    /// machine (the lab runs one per node, all sharing `/run/netns`).
    pub fn for_host(inode: u64) -> Names {
        let hash = fnv1a(&inode.to_le_bytes());
        let h = format!("{:08x}", hash as u32);
        let b = h.as_bytes();
        let pair = |i: usize| std::str::from_utf8(&b[i..i + 2]).unwrap_or("00").to_owned();
        // Locally administered unicast MACs (second-lowest bit of the first byte set).
        let mac =
            |first: &str| format!("{first}:{}:{}:{}:{}:00", pair(0), pair(2), pair(4), pair(6));
        Names {
            netns: format!("{NETNS_PREFIX}{h}"),
            host_if: format!("psrc{h}"),
            peer_if: "eth0".to_owned(),
            host_mac: mac("02"),
            peer_mac: mac("06"),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
