//! TCP segments as the raw SYN prober sends them and as it and the observer read them (pnet's
//! packet types, so no byte offsets are written by hand).

use std::net::Ipv4Addr;

use pnet_packet::Packet;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags, TcpOption, TcpPacket};

/// The MSS a SYN announces: Ethernet's, as a Linux client's SYN does.
pub const SYN_MSS: u16 = 1460;
/// Window a SYN announces (Linux's initial receive window for a 1460-byte MSS).
pub const SYN_WINDOW: u16 = 64240;
/// A SYN with the MSS option: 20 bytes of header and 4 of option.
const SYN_LEN: usize = 24;

/// A SYN from `src:sport` to `dst:dport` with sequence number `seq`, checksummed; the kernel adds
/// the IP header.
pub fn syn(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, seq: u32) -> Vec<u8> {
    let mut buf = vec![0u8; SYN_LEN];
    if let Some(mut p) = MutableTcpPacket::new(&mut buf) {
        p.set_source(sport);
        p.set_destination(dport);
        p.set_sequence(seq);
        p.set_data_offset((SYN_LEN / 4) as u8);
        p.set_flags(TcpFlags::SYN);
        p.set_window(SYN_WINDOW);
        p.set_options(&[TcpOption::mss(SYN_MSS)]);
        let sum = tcp::ipv4_checksum(&p.to_immutable(), &src, &dst);
        p.set_checksum(sum);
    }
    buf
}

/// One TCP segment as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// TCP flags (`TcpFlags`).
    pub flags: u8,
    pub payload: &'a [u8],
}

impl Segment<'_> {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }

    /// A SYN-ACK or RST answering our SYN with sequence `seq`.
    pub fn answers(&self, seq: u32) -> Option<Answer> {
        let acks_syn = self.has(TcpFlags::ACK) && self.ack == seq.wrapping_add(1);
        if self.has(TcpFlags::RST) && (acks_syn || !self.has(TcpFlags::ACK)) {
            Some(Answer::Rst)
        } else if self.has(TcpFlags::SYN | TcpFlags::ACK) && acks_syn {
            Some(Answer::SynAck)
        } else {
            None
        }
    }
}

/// How a target answered a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    SynAck,
    Rst,
}

/// Reads an IPv4 packet carrying TCP; `None` for anything else, a fragment or a truncated one.
pub fn parse_ipv4(buf: &[u8]) -> Option<Segment<'_>> {
    let ip = Ipv4Packet::new(buf)?;
    if ip.get_version() != 4
        || ip.get_next_level_protocol() != IpNextHeaderProtocols::Tcp
        || ip.get_fragment_offset() != 0
    {
        return None;
    }
    let header = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length()).clamp(header, buf.len());
    let tcp_bytes = buf.get(header..total)?;
    let tcp = TcpPacket::new(tcp_bytes)?;
    let offset = usize::from(tcp.get_data_offset()) * 4;
    let payload = tcp_bytes.get(offset..).unwrap_or(&[]);
    Some(Segment {
        src: ip.get_source(),
        dst: ip.get_destination(),
        sport: tcp.get_source(),
        dport: tcp.get_destination(),
        seq: tcp.get_sequence(),
        ack: tcp.get_acknowledgement(),
        flags: tcp.get_flags(),
        payload,
    })
}

/// Reads an Ethernet frame carrying IPv4 TCP.
pub fn parse_ethernet(frame: &[u8]) -> Option<Segment<'_>> {
    let eth = pnet_packet::ethernet::EthernetPacket::new(frame)?;
    if eth.get_ethertype() != pnet_packet::ethernet::EtherTypes::Ipv4 {
        return None;
    }
    let header = frame.len() - eth.payload().len();
    parse_ipv4(&frame[header..])
}

#[cfg(test)]
mod tests {
    use pnet_packet::ipv4::MutableIpv4Packet;

    use super::*;

    /// Wraps a TCP segment in an IPv4 header, as the kernel hands it to a raw socket.
    fn in_ipv4(src: Ipv4Addr, dst: Ipv4Addr, tcp: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 20 + tcp.len()];
        let mut ip = MutableIpv4Packet::new(&mut buf).unwrap();
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length((20 + tcp.len()) as u16);
        ip.set_ttl(64);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
        ip.set_source(src);
        ip.set_destination(dst);
        ip.set_payload(tcp);
        buf
    }

    #[test]
    fn a_built_syn_parses_back_with_a_valid_checksum() {
        let (src, dst) = (Ipv4Addr::new(10, 224, 0, 4), Ipv4Addr::new(10, 244, 0, 2));
        let seg = syn(src, 61003, dst, 8080, 0xdead_beef);
        let tcp = TcpPacket::new(&seg).unwrap();
        assert_eq!(tcp.get_checksum(), tcp::ipv4_checksum(&tcp, &src, &dst));
        assert_eq!(tcp.get_flags(), TcpFlags::SYN);
        let ip = in_ipv4(src, dst, &seg);
        let parsed = parse_ipv4(&ip).unwrap();
        assert_eq!((parsed.src, parsed.dst), (src, dst));
        assert_eq!(
            (parsed.sport, parsed.dport, parsed.seq),
            (61003, 8080, 0xdead_beef)
        );
        assert!(parsed.payload.is_empty());
    }

    #[test]
    fn answers_must_acknowledge_our_sequence_number() {
        let table = [
            (TcpFlags::SYN | TcpFlags::ACK, 101, Some(Answer::SynAck)),
            (TcpFlags::SYN | TcpFlags::ACK, 7, None),
            (TcpFlags::RST | TcpFlags::ACK, 101, Some(Answer::Rst)),
            (TcpFlags::RST | TcpFlags::ACK, 7, None),
            (TcpFlags::RST, 0, Some(Answer::Rst)),
            (TcpFlags::ACK, 101, None),
        ];
        for (flags, ack, wanted) in table {
            let s = Segment {
                src: Ipv4Addr::LOCALHOST,
                dst: Ipv4Addr::LOCALHOST,
                sport: 80,
                dport: 61000,
                seq: 5,
                ack,
                flags,
                payload: &[],
            };
            assert_eq!(s.answers(100), wanted, "flags {flags:#x} ack {ack}");
        }
    }

    #[test]
    fn garbage_fragments_and_other_protocols_are_not_segments() {
        assert!(parse_ipv4(&[]).is_none());
        assert!(parse_ipv4(&[0x45; 10]).is_none());
        let mut udp = in_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, &[0; 20]);
        udp[9] = 17;
        assert!(parse_ipv4(&udp).is_none());
        let mut frag = in_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, &[0; 20]);
        frag[7] = 8;
        assert!(parse_ipv4(&frag).is_none());
        assert!(parse_ethernet(&[0; 13]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let _ = parse_ipv4(&bytes);
            let _ = parse_ethernet(&bytes);
        }
    }
}
