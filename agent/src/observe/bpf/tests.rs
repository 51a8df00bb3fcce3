use proptest::prelude::*;

use super::*;

/// Runs a program as the kernel would, for the opcodes these programs use; `None` on a load past
/// the packet (which the kernel treats as reject).
fn run(prog: &[Insn], pkt: &[u8], ifindex: u32) -> Option<u32> {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let byte = |at: usize| pkt.get(at).copied().map(u32::from);
    let half = |at: usize| Some((byte(at)? << 8) | byte(at + 1)?);
    let word = |at: usize| Some((half(at)? << 16) | half(at + 2)?);
    loop {
        let i = prog[pc];
        pc += 1;
        let k = i.k as usize;
        match i.code {
            LD_W_ABS if i.k == AD_IFINDEX => a = ifindex,
            LD_W_ABS => a = word(k)?,
            LD_H_ABS => a = half(k)?,
            LD_B_ABS => a = byte(k)?,
            LD_H_IND => a = half(x as usize + k)?,
            LD_B_IND => a = byte(x as usize + k)?,
            LDX_B_MSH => x = (byte(k)? & 0xf) * 4,
            AND_K => a &= i.k,
            JA => pc += k,
            JEQ_K | JGT_K | JGE_K | JSET_K => {
                let hit = match i.code {
                    JEQ_K => a == i.k,
                    JGT_K => a > i.k,
                    JGE_K => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += usize::from(if hit { i.jt } else { i.jf });
            }
            RET_K => return Some(i.k),
            other => panic!("opcode {other:#x} not emulated"),
        }
    }
}

fn ipv4_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[9] = 6;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[32] = 0x50;
    p[33] = flags;
    p
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const RST: u8 = 0x04;

#[test]
fn the_syn_filter_takes_syn_acks_and_resets_to_our_ports_only() {
    let prog = syn_replies(61000, 61511);
    let to = |port, flags| {
        run(
            &prog,
            &ipv4_tcp([10, 0, 0, 1], [10, 0, 0, 2], 80, port, flags),
            1,
        )
    };
    assert_eq!(to(61000, SYN | ACK), Some(SYN_REPLY_SNAPLEN));
    assert_eq!(to(61511, RST | ACK), Some(SYN_REPLY_SNAPLEN));
    assert_eq!(to(61511, RST), Some(SYN_REPLY_SNAPLEN));
    assert_eq!(to(61512, SYN | ACK), Some(0), "above the range");
    assert_eq!(to(60999, SYN | ACK), Some(0), "below the range");
    assert_eq!(to(61200, ACK), Some(0), "a plain ACK");
    assert_eq!(to(61200, SYN), Some(0), "a SYN");
}

proptest! {
    #[test]
    fn the_syn_filter_agrees_with_its_definition(port in any::<u16>(), flags in any::<u8>(), ihl in 5u8..=15) {
        let prog = syn_replies(61000, 61511);
        let mut pkt = ipv4_tcp([1, 2, 3, 4], [5, 6, 7, 8], 443, port, flags);
        // IP options shift the TCP header.
        let extra = usize::from(ihl - 5) * 4;
        pkt.splice(20..20, std::iter::repeat_n(0u8, extra));
        pkt[0] = 0x40 | ihl;
        let wanted = (61000..=61511).contains(&port) && (flags & RST != 0 || flags & (SYN | ACK) == SYN | ACK);
        prop_assert_eq!(run(&prog, &pkt, 1), Some(if wanted { SYN_REPLY_SNAPLEN } else { 0 }));
    }

    #[test]
    fn the_lb_filter_takes_tcp_from_or_to_a_source_network_on_a_watched_interface(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), ifindex in 1u32..6, proto_tcp in any::<bool>(),
    ) {
        let nets: Vec<Net> = vec![(0xa83f_8110, 0xffff_ffff), (0x0ae0_ff00, 0xffff_ff00)];
        let prog = lb_traffic(&[2, 4], &nets, 2048).unwrap();
        let mut ip = ipv4_tcp(src, dst, 1234, 80, SYN);
        if !proto_tcp {
            ip[9] = 17;
        }
        let inside = |a: [u8; 4]| nets.iter().any(|(n, m)| u32::from_be_bytes(a) & m == *n);
        let wanted = [2, 4].contains(&ifindex) && proto_tcp && (inside(src) || inside(dst));
        prop_assert_eq!(run(&prog, &ethernet(&ip), ifindex), Some(if wanted { 2048 } else { 0 }));
    }
}

#[test]
fn the_lb_filter_without_interfaces_watches_all_and_rejects_other_ethertypes() {
    let prog = lb_traffic(&[], &[(0xa83f_8110, u32::MAX)], 512).unwrap();
    let ip = ipv4_tcp([168, 63, 129, 16], [10, 224, 0, 4], 50000, 80, SYN);
    assert_eq!(run(&prog, &ethernet(&ip), 77), Some(512));
    let mut arp = ethernet(&ip);
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(run(&prog, &arp, 77), Some(0));
}

#[test]
fn too_many_interfaces_for_a_bpf_jump_is_refused_not_mis_assembled() {
    let many: Vec<u32> = (1..=300).collect();
    assert!(lb_traffic(&many, &[(0, 0)], 64).is_none());
}
