//! Bounded conversation (flow) table.
//!
//! A flow is keyed by protocol and the two endpoints in canonical order, so both directions of
//! a conversation share one entry; the *initiator* is the sender of the first packet seen. Each
//! entry counts packets and wire bytes per direction, the union of TCP flags and first/last
//! packet times.
//!
//! Memory is bounded: at most `max_flows` entries are tracked. Flows idle for longer than
//! `idle_timeout_ns` are flushed by periodic sweeps, and when the table is full the least
//! recently active eighth is flushed at once (amortized O(1) per packet). A TCP SYN (without
//! ACK) arriving on a flow that already saw FIN or RST starts a new flow (port reuse). A flushed
//! conversation that resumes later becomes a new flow whose initiator is the resuming sender.

use std::collections::HashMap;
use std::net::IpAddr;

/// TCP flag bits as they appear in byte 13 of the TCP header.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// Renders a flag union as `SYN,ACK,FIN,RST,PSH,URG,ECE,CWR` (present flags, in that order).
pub fn flags_string(f: u8) -> String {
    const ORDER: [(u8, &str); 8] = [
        (SYN, "SYN"),
        (ACK, "ACK"),
        (FIN, "FIN"),
        (RST, "RST"),
        (PSH, "PSH"),
        (URG, "URG"),
        (ECE, "ECE"),
        (CWR, "CWR"),
    ];
    let mut s = String::new();
    for (bit, name) in ORDER {
        if f & bit != 0 {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(name);
        }
    }
    s
}

/// One side of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// Canonical flow key: `a <= b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub proto: u8,
    pub a: Endpoint,
    pub b: Endpoint,
}

impl FlowKey {
    /// The canonical key of a packet from `src` to `dst`.
    pub fn new(proto: u8, src: Endpoint, dst: Endpoint) -> Self {
        if src <= dst {
            Self {
                proto,
                a: src,
                b: dst,
            }
        } else {
            Self {
                proto,
                a: dst,
                b: src,
            }
        }
    }
}

/// A conversation's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub proto: u8,
    pub initiator: Endpoint,
    pub responder: Endpoint,
    /// Nanoseconds since the Unix epoch.
    pub first_ns: i64,
    pub last_ns: i64,
    /// Capture order of the first packet (tie-break for ordering).
    pub first_seq: u64,
    pub packets_out: u64,
    pub packets_in: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub tcp_flags: u8,
    pub truncated_packets: u64,
    /// ICMP type and code of the first packet (ICMP flows only).
    pub icmp: Option<(u8, u8)>,
}

/// One packet's contribution to a flow.
#[derive(Debug, Clone, Copy)]
pub struct PacketInfo {
    pub proto: u8,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub time_ns: i64,
    pub seq: u64,
    pub wire_len: u64,
    pub tcp_flags: u8,
    pub truncated: bool,
    pub icmp: Option<(u8, u8)>,
}

/// The flow table; finished flows are handed out through [`FlowTable::drain_finished`].
#[derive(Debug)]
pub struct FlowTable {
    flows: HashMap<FlowKey, Flow>,
    finished: Vec<Flow>,
    max_flows: usize,
    idle_timeout_ns: i64,
    last_sweep_ns: i64,
    /// Flows flushed early because the table was full.
    pub evicted: u64,
}

impl FlowTable {
    pub fn new(max_flows: usize, idle_timeout_ns: i64) -> Self {
        Self {
            flows: HashMap::new(),
            finished: Vec::new(),
            max_flows: max_flows.max(1),
            idle_timeout_ns,
            last_sweep_ns: i64::MIN,
            evicted: 0,
        }
    }

    /// Number of flows currently tracked.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Accounts one packet.
    pub fn add(&mut self, p: &PacketInfo) {
        if self.last_sweep_ns == i64::MIN {
            self.last_sweep_ns = p.time_ns;
        } else if p.time_ns.saturating_sub(self.last_sweep_ns) > self.idle_timeout_ns / 4 {
            self.sweep_idle(p.time_ns);
            self.last_sweep_ns = p.time_ns;
        }
        let key = FlowKey::new(p.proto, p.src, p.dst);
        let restart = self.flows.get(&key).is_some_and(|f| {
            (p.tcp_flags & (SYN | ACK) == SYN && f.tcp_flags & (FIN | RST) != 0)
                || p.time_ns.saturating_sub(f.last_ns) > self.idle_timeout_ns
        });
        if restart && let Some(old) = self.flows.remove(&key) {
            self.finished.push(old);
        }
        if !self.flows.contains_key(&key) && self.flows.len() >= self.max_flows {
            self.evict_oldest();
        }
        let flow = self.flows.entry(key).or_insert_with(|| Flow {
            proto: p.proto,
            initiator: p.src,
            responder: p.dst,
            first_ns: p.time_ns,
            last_ns: p.time_ns,
            first_seq: p.seq,
            packets_out: 0,
            packets_in: 0,
            bytes_out: 0,
            bytes_in: 0,
            tcp_flags: 0,
            truncated_packets: 0,
            icmp: p.icmp,
        });
        if p.src == flow.initiator {
            flow.packets_out += 1;
            flow.bytes_out += p.wire_len;
        } else {
            flow.packets_in += 1;
            flow.bytes_in += p.wire_len;
        }
        flow.tcp_flags |= p.tcp_flags;
        flow.truncated_packets += u64::from(p.truncated);
        flow.first_ns = flow.first_ns.min(p.time_ns);
        flow.last_ns = flow.last_ns.max(p.time_ns);
    }

    fn sweep_idle(&mut self, now_ns: i64) {
        let timeout = self.idle_timeout_ns;
        let finished = &mut self.finished;
        self.flows.retain(|_, f| {
            let keep = now_ns.saturating_sub(f.last_ns) <= timeout;
            if !keep {
                finished.push(f.clone());
            }
            keep
        });
    }

    fn evict_oldest(&mut self) {
        let n = (self.flows.len() / 8).max(1);
        let mut lasts: Vec<i64> = self.flows.values().map(|f| f.last_ns).collect();
        let idx = n.min(lasts.len()) - 1;
        let (_, cutoff, _) = lasts.select_nth_unstable(idx);
        let cutoff = *cutoff;
        let mut budget = n;
        let finished = &mut self.finished;
        let mut evicted = 0;
        self.flows.retain(|_, f| {
            if budget > 0 && f.last_ns <= cutoff {
                budget -= 1;
                evicted += 1;
                finished.push(f.clone());
                false
            } else {
                true
            }
        });
        self.evicted += evicted;
    }

    /// Flows finished so far (idle, evicted, restarted), leaving the table as is.
    pub fn drain_finished(&mut self) -> Vec<Flow> {
        std::mem::take(&mut self.finished)
    }

    /// Ends the capture: every remaining flow is finished and returned with the others.
    pub fn finish(mut self) -> Vec<Flow> {
        let mut out = std::mem::take(&mut self.finished);
        out.extend(self.flows.into_values());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port,
        }
    }

    fn pkt(src: Endpoint, dst: Endpoint, t: i64, flags: u8) -> PacketInfo {
        PacketInfo {
            proto: 6,
            src,
            dst,
            time_ns: t,
            seq: t as u64,
            wire_len: 60,
            tcp_flags: flags,
            truncated: false,
            icmp: None,
        }
    }

    #[test]
    fn both_directions_are_one_flow() {
        let mut t = FlowTable::new(10, 1_000);
        let (c, s) = (ep(9, 40000), ep(1, 80));
        t.add(&pkt(c, s, 1, SYN));
        t.add(&pkt(s, c, 2, SYN | ACK));
        t.add(&pkt(c, s, 3, ACK | FIN));
        let flows = t.finish();
        assert_eq!(flows.len(), 1);
        let f = &flows[0];
        assert_eq!(f.initiator, c);
        assert_eq!((f.packets_out, f.packets_in), (2, 1));
        assert_eq!((f.bytes_out, f.bytes_in), (120, 60));
        assert_eq!(flags_string(f.tcp_flags), "SYN,ACK,FIN");
        assert_eq!((f.first_ns, f.last_ns), (1, 3));
    }

    #[test]
    fn idle_flows_flush_and_table_is_bounded() {
        let mut t = FlowTable::new(4, 100);
        for i in 0..20u8 {
            t.add(&pkt(ep(i, 1000), ep(200, 53), i64::from(i), 0));
            assert!(t.len() <= 4);
        }
        assert!(t.evicted > 0);
        t.add(&pkt(ep(1, 1000), ep(200, 53), 10_000, 0));
        assert_eq!(t.len(), 1);
        assert_eq!(t.finish().len(), 21);
    }

    #[test]
    fn syn_after_fin_starts_new_flow() {
        let mut t = FlowTable::new(10, 1_000_000);
        let (c, s) = (ep(9, 40000), ep(1, 80));
        t.add(&pkt(c, s, 1, SYN));
        t.add(&pkt(c, s, 2, FIN | ACK));
        t.add(&pkt(c, s, 3, SYN));
        assert_eq!(t.finish().len(), 2);
    }
}
