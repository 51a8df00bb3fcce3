//! Classic BPF programs that the kernel runs on every packet before it reaches our sockets, so
//! the raw SYN prober and the observer wake up only for packets they want. Attached with
//! socket2's `attach_filter` (`SO_ATTACH_FILTER`), which needs no unsafe code here.

use socket2::{SockFilter, Socket};

/// One BPF instruction, kept in our own type so tests can read and run programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LD_B_IND: u16 = 0x50;
const LDX_B_MSH: u16 = 0xb1;
const AND_K: u16 = 0x54;
const JA: u16 = 0x05;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
/// Ancillary data: `SKF_AD_OFF + SKF_AD_IFINDEX`, the packet's interface.
const AD_IFINDEX: u32 = 0xffff_f000 + 8;

/// Jump targets while assembling.
#[derive(Clone, Copy, Debug)]
enum To {
    Next,
    /// Over this many instructions.
    Skip(u8),
    Accept,
    Reject,
}

/// A program under construction: every jump goes to the next instruction or to the shared
/// accept/reject returns at the end.
struct Asm(Vec<(u16, To, To, u32)>);

impl Asm {
    fn op(&mut self, code: u16, k: u32) {
        self.0.push((code, To::Next, To::Next, k));
    }

    fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.0.push((code, jt, jf, k));
    }

    /// Resolves the jumps; `None` when one is longer than a BPF jump can be (255).
    fn finish(self, accept_len: u32) -> Option<Vec<Insn>> {
        let n = self.0.len();
        let (reject, accept) = (n, n + 1);
        let offset = |i: usize, to: To| -> Option<u8> {
            let target = match to {
                To::Next => return Some(0),
                To::Skip(n) => return Some(n),
                To::Reject => reject,
                To::Accept => accept,
            };
            u8::try_from(target - i - 1).ok()
        };
        let mut out = Vec::with_capacity(n + 2);
        for (i, (code, jt, jf, k)) in self.0.into_iter().enumerate() {
            if code == JA {
                let k = match jt {
                    To::Reject => reject - i - 1,
                    To::Accept => accept - i - 1,
                    To::Next => 0,
                    To::Skip(n) => usize::from(n),
                };
                out.push(Insn {
                    code,
                    jt: 0,
                    jf: 0,
                    k: u32::try_from(k).ok()?,
                });
            } else {
                out.push(Insn {
                    code,
                    jt: offset(i, jt)?,
                    jf: offset(i, jf)?,
                    k,
                });
            }
        }
        out.push(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: 0,
        });
        out.push(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: accept_len,
        });
        Some(out)
    }
}

/// For a raw `IPPROTO_TCP` socket (packets start at the IP header): SYN-ACKs and RSTs to a local
/// port in `first..=last`, truncated to their headers.
pub fn syn_replies(first: u16, last: u16) -> Vec<Insn> {
    let mut a = Asm(Vec::new());
    a.op(LDX_B_MSH, 0); // X = IP header length
    a.op(LD_H_IND, 2); // TCP destination port
    a.jump(JGE_K, u32::from(first), To::Next, To::Reject);
    a.jump(JGT_K, u32::from(last), To::Reject, To::Next);
    a.op(LD_B_IND, 13); // TCP flags
    a.jump(JSET_K, 0x04, To::Accept, To::Next); // RST
    a.op(AND_K, 0x12);
    a.jump(JEQ_K, 0x12, To::Accept, To::Reject); // SYN and ACK
    // Short and fixed: it always assembles.
    a.finish(SYN_REPLY_SNAPLEN).unwrap_or_default()
}

/// Bytes of a SYN reply the prober needs: IP and TCP headers with options.
pub const SYN_REPLY_SNAPLEN: u32 = 128;

/// An IPv4 network to match: `(network, mask)` in host byte order.
pub type Net = (u32, u32);

/// For an `AF_PACKET` socket on Ethernet: IPv4 TCP frames on one of `ifindexes` from or to one
/// of `nets`, truncated to `snaplen`. `None` when the lists are too long for BPF's jumps.
pub fn lb_traffic(ifindexes: &[u32], nets: &[Net], snaplen: u32) -> Option<Vec<Insn>> {
    let mut a = Asm(Vec::new());
    if !ifindexes.is_empty() {
        a.op(LD_W_ABS, AD_IFINDEX);
        // A match jumps over the remaining comparisons and the reject after them.
        for (i, ifindex) in ifindexes.iter().enumerate() {
            let skip = u8::try_from(ifindexes.len() - i).ok()?;
            a.jump(JEQ_K, *ifindex, To::Skip(skip), To::Next);
        }
        a.jump(JA, 0, To::Reject, To::Next);
    }
    a.op(LD_H_ABS, 12);
    a.jump(JEQ_K, 0x0800, To::Next, To::Reject);
    a.op(LD_B_ABS, 23);
    a.jump(JEQ_K, 6, To::Next, To::Reject);
    for offset in [26, 30] {
        for (net, mask) in nets {
            a.op(LD_W_ABS, offset);
            a.op(AND_K, *mask);
            a.jump(JEQ_K, net & mask, To::Accept, To::Next);
        }
    }
    a.jump(JA, 0, To::Reject, To::Next);
    a.finish(snaplen)
}

/// Attaches `prog` to `socket`: from now on the kernel drops what it rejects.
pub fn attach(socket: &Socket, prog: &[Insn]) -> std::io::Result<()> {
    let filters: Vec<SockFilter> = prog
        .iter()
        .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect();
    socket.attach_filter(&filters)
}

#[cfg(test)]
mod tests;
