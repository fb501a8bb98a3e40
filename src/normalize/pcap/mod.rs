//! Packet captures (classic pcap and pcapng) → flow and protocol events.
//!
//! [`parse_document`] reads a whole capture and emits:
//!
//! * one event per **conversation** (flow): protocol + both endpoints, canonicalized so both
//!   directions are one conversation, with the *initiator* (sender of the first packet seen)
//!   as `src_*`. Fields: `src_ip`, `src_port`, `dst_ip`, `dst_port`, `protocol`
//!   (`tcp`/`udp`/`icmp`/`icmpv6`/`ip-<n>`), `packets_out`/`packets_in` and `bytes_out`/`bytes_in`
//!   (out = initiator → responder; bytes are captured frames' original wire lengths),
//!   `tcp_flags` (union, `SYN,ACK,FIN,RST,PSH,URG,ECE,CWR` order), `duration` (seconds),
//!   `last_seen` (RFC 3339), `truncated_packets` (when non-zero), `icmp_type`/`icmp_code`.
//!   Logsource `product: pcap, category: firewall`: SigmaHQ's `firewall` category is the one
//!   whose rules are product-less and written on exactly these names (`src_ip`, `dst_ip`,
//!   `dst_port`), whereas every SigmaHQ `network_connection` rule is bound to a host product
//!   (windows/linux/macos) with Sysmon names and so could never route to capture events.
//!   No `action`/`blocked` field is invented: a capture shows traffic, not a firewall verdict.
//! * one event per **DNS message** (query or response; UDP and TCP on 53, mDNS 5353, LLMNR
//!   5355): `query`, `record_type`, `answer` (list of strings; TXT data as text), `rcode`
//!   (responses), `dns_id`, `dns_response`, `query_length`, `label_count`, `answer_count`.
//!   Logsource `product: pcap, category: dns` (the SigmaHQ dns-category field names).
//!   Messages without a question (e.g. unsolicited mDNS announcements) are not reported.
//! * one event per **HTTP request head** (first TCP segment of a request, any port):
//!   proxy-category names `cs-method`, `cs-host`, `c-uri`, `cs-uri-query`/`c-uri-query`,
//!   `c-uri-extension`, `c-useragent`/`cs-user-agent`, `cs-referer`, `cs-cookie`, plus plain
//!   `method`, `host`, `uri`, `user_agent`, `referer`, `http_version`.
//!   Logsource `product: pcap, category: proxy`.
//! * one event per **TLS ClientHello**: `tls_sni` (also as Zeek's `server_name`),
//!   `tls_version` (highest offered), `tls_client_version`, `tls_cipher_count`, `tls_alpn`,
//!   `tls_ja3` (JA3 input string, unhashed), `tls_partial`. Logsource `product: pcap,
//!   category: tls` (no SigmaHQ category exists; rules can target it by that name).
//!
//! Protocol events also carry the packet's `src_ip`, `src_port`, `dst_ip`, `dst_port`,
//! `protocol`.
//!
//! **Host**: `event.host` is the initiator's IP for flows and the client's IP for protocol
//! events (DNS query sender / response receiver, HTTP and TLS client): the machine whose
//! behaviour the event describes, which is what a triage case groups by.
//!
//! **Order and index**: all events are sorted by time — a flow by its first packet, a protocol
//! event by its packet — ties broken by capture order with a flow before the protocol events of
//! its own first packet. A [`ParseError`] sits where the capture broke (after the events of the
//! packets before it). `origin.index` is the item's 0-based position in the returned vector,
//! errors included, so event ids are stable for a given capture.
//!
//! **Robustness**: link types Ethernet (802.1Q / QinQ via etherparse), raw IPv4/IPv6, Linux
//! cooked SLL and SLL2, BSD null/loop; other link types are counted as undecoded. Snaplen-cut
//! packets are counted and decoded as far as they go. A corrupt pcapng block yields one
//! positioned error and reading continues with the next block when its length is usable; a
//! corrupt classic-pcap record header ends the file (the format has no resynchronization point).
//! Parsing never panics (property-tested). Container reading lives in `capture.rs`; the flow
//! table in [`flows`]; protocol decoders in [`dns`], [`http`], [`tls`].
//!
//! **Bounded memory**: at most [`MAX_FLOWS`] conversations are tracked at once; idle flows
//! (no packet for [`FLOW_IDLE_TIMEOUT_SECS`]) are flushed while reading.
//!
//! Not done: TCP stream reassembly (HTTP/TLS/DNS-over-TCP read from single segments), IP
//! defragmentation (IPv4 non-first fragments are attributed to their flow's ports by IP id;
//! IPv6 ones to a port-less flow), DNS authority/additional sections.

mod capture;
pub mod dns;
pub mod flows;
pub mod http;
pub mod tls;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use serde_json::Value;

use super::{Format, ParseError, Position};
use crate::event::{Event, Fields, LogSource, Origin};
use capture::{RawPacket, Sink, read_capture};
use flows::{Endpoint, Flow, FlowTable, PacketInfo};

/// Most conversations tracked at once; beyond this the least recently active are flushed.
pub const MAX_FLOWS: usize = 1_000_000;
/// A flow with no packet for this long is finished (a later packet starts a new flow).
pub const FLOW_IDLE_TIMEOUT_SECS: i64 = 600;
/// IPv4 fragment ids remembered for port attribution before the map is reset.
const MAX_FRAG_IDS: usize = 65_536;

/// Whether `head` starts a capture this module reads: classic pcap (both byte orders,
/// microsecond and nanosecond magics) or a pcapng section header block.
pub fn sniff(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(
            [0xD4, 0xC3, 0xB2, 0xA1]
                | [0xA1, 0xB2, 0xC3, 0xD4]
                | [0x4D, 0x3C, 0xB2, 0xA1]
                | [0xA1, 0xB2, 0x3C, 0x4D]
                | [0x0A, 0x0D, 0x0D, 0x0A]
        )
    )
}

/// What a capture contained (for reports and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets (records / packet blocks) read.
    pub packets: u64,
    /// Packets whose captured length is below their original length (snaplen).
    pub truncated: u64,
    /// Packets without a decodable IPv4/IPv6 header (ARP, 802.11, unknown link types, …).
    pub undecoded: u64,
    pub flows: u64,
    pub dns: u64,
    pub http: u64,
    pub tls: u64,
    pub errors: u64,
    /// Flows flushed early because the flow table was full.
    pub evicted_flows: u64,
}

/// Parses a whole capture: one event per conversation/flow, plus one per DNS query/answer,
/// per HTTP request, per TLS ClientHello, ordered by time (see the module docs for ordering,
/// `origin.index`, fields and logsources).
pub fn parse_document(
    bytes: &[u8],
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> Vec<Result<Event, ParseError>> {
    parse_document_with_stats(bytes, source, input, received).0
}

/// [`parse_document`], also returning what the capture contained.
pub fn parse_document_with_stats(
    bytes: &[u8],
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> (Vec<Result<Event, ParseError>>, CaptureStats) {
    let mut an = Analyzer::new();
    read_capture(bytes, &mut an);
    let evicted = an.flows.evicted;
    let mut stats = an.stats.clone();
    let mut pending = an.pending;
    for f in an.flows.finish() {
        stats.flows += 1;
        pending.push(flow_pending(&f));
    }
    stats.evicted_flows = evicted;
    // Stable sort: equal keys keep insertion (capture) order.
    pending.sort_by_key(|p| (p.time_ns, p.seq, p.kind));
    let mut out = Vec::with_capacity(pending.len());
    for (i, p) in pending.into_iter().enumerate() {
        let index = i as u64;
        out.push(match p.item {
            Item::Event {
                fields,
                host,
                category,
            } => {
                let origin = Origin {
                    input: input.clone(),
                    source: source.clone(),
                    index,
                };
                let mut ev = Event::new(origin, received, fields);
                if let Some(t) = p.time_ns {
                    ev.time = DateTime::from_timestamp_nanos(t);
                }
                ev.host = Some(host);
                ev.logsource = LogSource::new(Some("pcap"), Some(category), None);
                Ok(ev)
            }
            Item::Error { offset, reason } => Err(ParseError {
                format: Format::Pcap,
                input: input.clone(),
                file: source.clone(),
                position: Position::Byte(offset),
                reason,
                raw: None,
            }),
        });
    }
    tracing::debug!(source = %source, ?stats, "pcap parsed");
    (out, stats)
}

/// Something to emit, before ordering.
struct Pending {
    /// `None` sorts first (errors before any packet).
    time_ns: Option<i64>,
    seq: u64,
    /// 0 = flow, 1 = protocol event, 2 = error.
    kind: u8,
    item: Item,
}

enum Item {
    Event {
        fields: Fields,
        host: String,
        category: &'static str,
    },
    Error {
        offset: u64,
        reason: String,
    },
}

/// A decoded packet's network and transport view.
struct Decoded<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    tcp_flags: u8,
    payload: &'a [u8],
    icmp: Option<(u8, u8)>,
    tcp: bool,
}

fn slice_link(linktype: u16, data: &[u8]) -> Option<LaxSlicedPacket<'_>> {
    match linktype {
        1 => LaxSlicedPacket::from_ethernet(data).ok(),
        101 | 12 | 14 | 228 | 229 => LaxSlicedPacket::from_ip(data).ok(),
        0 | 108 => LaxSlicedPacket::from_ip(data.get(4..)?).ok(),
        113 => {
            let proto = u16::from_be_bytes([*data.get(14)?, *data.get(15)?]);
            Some(LaxSlicedPacket::from_ether_type(
                EtherType(proto),
                data.get(16..)?,
            ))
        }
        276 => {
            let proto = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
            Some(LaxSlicedPacket::from_ether_type(
                EtherType(proto),
                data.get(20..)?,
            ))
        }
        _ => None,
    }
}

/// IPv4 fragment identity → transport ports of its first fragment.
type FragKey = (IpAddr, IpAddr, u16, u8);

fn decode<'a>(
    linktype: u16,
    data: &'a [u8],
    frags: &mut HashMap<FragKey, (u16, u16)>,
) -> Option<Decoded<'a>> {
    let pkt = slice_link(linktype, data)?;
    let mut frag_info = None;
    let (src, dst, payload) = match pkt.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            if v4.payload().fragmented {
                frag_info = Some((h.identification(), h.fragments_offset().value() == 0));
            }
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let mut d = Decoded {
        src,
        dst,
        proto: payload.ip_number.0,
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        payload: &[],
        icmp: None,
        tcp: false,
    };
    match &pkt.transport {
        Some(TransportSlice::Tcp(t)) => {
            d.sport = t.source_port();
            d.dport = t.destination_port();
            d.tcp_flags = t.header_slice().get(13).copied().unwrap_or(0);
            d.payload = t.payload();
            d.tcp = true;
        }
        Some(TransportSlice::Udp(u)) => {
            d.sport = u.source_port();
            d.dport = u.destination_port();
            d.payload = u.payload();
        }
        Some(TransportSlice::Icmpv4(i)) => d.icmp = Some((i.type_u8(), i.code_u8())),
        Some(TransportSlice::Icmpv6(i)) => d.icmp = Some((i.type_u8(), i.code_u8())),
        _ => {
            // Fragments (and cut transport headers): attribute to ports when possible.
            if matches!(d.proto, 6 | 17) {
                let key = frag_info.map(|(id, _)| (src, dst, id, d.proto));
                let p = payload.payload;
                match (frag_info, key) {
                    (Some((_, true)), Some(key)) if p.len() >= 4 => {
                        d.sport = u16::from_be_bytes([p[0], p[1]]);
                        d.dport = u16::from_be_bytes([p[2], p[3]]);
                        if frags.len() >= MAX_FRAG_IDS {
                            frags.clear();
                        }
                        frags.insert(key, (d.sport, d.dport));
                    }
                    (Some((_, false)), Some(key)) => {
                        if let Some(&(s, t)) = frags.get(&key) {
                            d.sport = s;
                            d.dport = t;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Some(d)
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        2 => "igmp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        132 => "sctp".into(),
        _ => format!("ip-{p}"),
    }
}

const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

struct Analyzer {
    flows: FlowTable,
    stats: CaptureStats,
    pending: Vec<Pending>,
    frags: HashMap<FragKey, (u16, u16)>,
    seq: u64,
    last_time: Option<i64>,
}

impl Analyzer {
    fn new() -> Self {
        Self {
            flows: FlowTable::new(MAX_FLOWS, FLOW_IDLE_TIMEOUT_SECS * 1_000_000_000),
            stats: CaptureStats::default(),
            pending: Vec::new(),
            frags: HashMap::new(),
            seq: 0,
            last_time: None,
        }
    }

    fn emit(&mut self, time_ns: i64, category: &'static str, host: IpAddr, fields: Fields) {
        self.pending.push(Pending {
            time_ns: Some(time_ns),
            seq: self.seq,
            kind: 1,
            item: Item::Event {
                fields,
                host: host.to_string(),
                category,
            },
        });
    }

    fn dns(&mut self, d: &Decoded<'_>, time_ns: i64) {
        if d.tcp {
            let mut rest = d.payload;
            while rest.len() >= 14 {
                let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let end = (2 + n).min(rest.len());
                self.dns_message(d, &rest[2..end], time_ns);
                rest = &rest[end..];
            }
        } else {
            self.dns_message(d, d.payload, time_ns);
        }
    }

    fn dns_message(&mut self, d: &Decoded<'_>, msg: &[u8], time_ns: i64) {
        let Some(m) = dns::parse(msg) else { return };
        let Some(query) = m.query else { return };
        let mut f = base_fields(d);
        f.insert("query_length", query.chars().count() as u64);
        f.insert("label_count", m.labels as u64);
        f.insert("query", query);
        f.insert("record_type", dns::type_string(m.qtype));
        f.insert("dns_id", m.id);
        f.insert("dns_response", m.response);
        if m.opcode != 0 {
            f.insert("dns_opcode", m.opcode);
        }
        if m.response {
            f.insert("rcode", dns::rcode_name(m.rcode));
            f.insert("answer_count", m.answer_count);
            if !m.answers.is_empty() {
                f.insert(
                    "answer",
                    Value::Array(m.answers.into_iter().map(Value::String).collect()),
                );
                f.insert(
                    "answer_types",
                    Value::Array(
                        m.answer_types
                            .iter()
                            .map(|t| Value::String((*t).into()))
                            .collect(),
                    ),
                );
                f.insert(
                    "ttls",
                    Value::Array(m.ttls.into_iter().map(Value::from).collect()),
                );
            }
        }
        if m.truncated {
            f.insert("dns_truncated", true);
        }
        let client = if m.response { d.dst } else { d.src };
        self.stats.dns += 1;
        self.emit(time_ns, "dns", client, f);
    }

    fn http(&mut self, d: &Decoded<'_>, time_ns: i64) -> bool {
        let Some(r) = http::parse(d.payload) else {
            return false;
        };
        let mut f = base_fields(d);
        f.insert("cs-method", r.method.clone());
        f.insert("c-uri", r.uri.clone());
        if let Some(q) = r.query() {
            f.insert("cs-uri-query", q);
            f.insert("c-uri-query", q);
        }
        if let Some(e) = r.extension() {
            f.insert("c-uri-extension", e);
        }
        f.insert("c-uri-stem", r.path());
        if let Some(h) = &r.host {
            f.insert("cs-host", h.clone());
            f.insert("host", h.clone());
        }
        if let Some(ua) = &r.user_agent {
            f.insert("c-useragent", ua.clone());
            f.insert("cs-user-agent", ua.clone());
            f.insert("user_agent", ua.clone());
        }
        if let Some(rf) = &r.referer {
            f.insert("cs-referer", rf.clone());
            f.insert("referer", rf.clone());
        }
        if let Some(c) = &r.cookie {
            f.insert("cs-cookie", c.clone());
        }
        if let Some(ct) = &r.content_type {
            f.insert("content_type", ct.clone());
        }
        if let Some(n) = r.content_length {
            f.insert("content_length", n);
        }
        f.insert("http_version", r.version);
        f.insert("method", r.method);
        f.insert("uri", r.uri);
        self.stats.http += 1;
        self.emit(time_ns, "proxy", d.src, f);
        true
    }

    fn tls(&mut self, d: &Decoded<'_>, time_ns: i64) {
        let Some(h) = tls::parse(d.payload) else {
            return;
        };
        let mut f = base_fields(d);
        if let Some(sni) = h.sni {
            f.insert("server_name", sni.clone());
            f.insert("tls_sni", sni);
        }
        f.insert("tls_version", tls::version_name(h.max_version));
        f.insert("tls_client_version", tls::version_name(h.legacy_version));
        f.insert("tls_cipher_count", h.cipher_count as u64);
        if !h.alpn.is_empty() {
            f.insert(
                "tls_alpn",
                Value::Array(h.alpn.into_iter().map(Value::String).collect()),
            );
        }
        f.insert("tls_ja3", h.ja3);
        if h.partial {
            f.insert("tls_partial", true);
        }
        self.stats.tls += 1;
        self.emit(time_ns, "tls", d.src, f);
    }
}

fn base_fields(d: &Decoded<'_>) -> Fields {
    let mut f = Fields::new();
    f.insert("src_ip", d.src.to_string());
    f.insert("src_port", d.sport);
    f.insert("dst_ip", d.dst.to_string());
    f.insert("dst_port", d.dport);
    f.insert("protocol", proto_name(d.proto));
    f
}

impl Sink for Analyzer {
    fn packet(&mut self, p: RawPacket<'_>) {
        self.seq += 1;
        self.stats.packets += 1;
        let time_ns = p.time_ns.or(self.last_time).unwrap_or(0);
        self.last_time = Some(time_ns);
        let truncated = (p.data.len() as u64) < u64::from(p.orig_len);
        self.stats.truncated += u64::from(truncated);
        let Some(d) = decode(p.linktype, p.data, &mut self.frags) else {
            self.stats.undecoded += 1;
            return;
        };
        self.flows.add(&PacketInfo {
            proto: d.proto,
            src: Endpoint {
                ip: d.src,
                port: d.sport,
            },
            dst: Endpoint {
                ip: d.dst,
                port: d.dport,
            },
            time_ns,
            seq: self.seq,
            wire_len: u64::from(p.orig_len),
            tcp_flags: d.tcp_flags,
            truncated,
            icmp: d.icmp,
        });
        for f in self.flows.drain_finished() {
            self.stats.flows += 1;
            self.pending.push(flow_pending(&f));
        }
        if d.payload.is_empty() {
            return;
        }
        if (d.proto == 17 || d.tcp)
            && (DNS_PORTS.contains(&d.sport) || DNS_PORTS.contains(&d.dport))
        {
            self.dns(&d, time_ns);
        } else if d.tcp && !self.http(&d, time_ns) {
            self.tls(&d, time_ns);
        }
    }

    fn error(&mut self, offset: usize, reason: String) {
        self.stats.errors += 1;
        self.pending.push(Pending {
            time_ns: self.last_time,
            seq: self.seq,
            kind: 2,
            item: Item::Error {
                offset: offset as u64,
                reason,
            },
        });
    }
}

fn flow_pending(f: &Flow) -> Pending {
    let mut fields = Fields::new();
    let ports = matches!(f.proto, 6 | 17 | 132);
    fields.insert("src_ip", f.initiator.ip.to_string());
    if ports {
        fields.insert("src_port", f.initiator.port);
    }
    fields.insert("dst_ip", f.responder.ip.to_string());
    if ports {
        fields.insert("dst_port", f.responder.port);
    }
    fields.insert("protocol", proto_name(f.proto));
    fields.insert("packets_out", f.packets_out);
    fields.insert("packets_in", f.packets_in);
    fields.insert("bytes_out", f.bytes_out);
    fields.insert("bytes_in", f.bytes_in);
    if f.proto == 6 {
        fields.insert("tcp_flags", flows::flags_string(f.tcp_flags));
    }
    if let Some((t, c)) = f.icmp {
        fields.insert("icmp_type", t);
        fields.insert("icmp_code", c);
    }
    let dur_ns = f.last_ns.saturating_sub(f.first_ns);
    fields.insert("duration", dur_ns as f64 / 1e9);
    fields.insert(
        "last_seen",
        DateTime::from_timestamp_nanos(f.last_ns)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    );
    if f.truncated_packets > 0 {
        fields.insert("truncated_packets", f.truncated_packets);
    }
    Pending {
        time_ns: Some(f.first_ns),
        seq: f.first_seq,
        kind: 0,
        item: Item::Event {
            fields,
            host: f.initiator.ip.to_string(),
            category: "firewall",
        },
    }
}
