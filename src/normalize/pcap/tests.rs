//! Tests for the capture parser: captures built in code (classic pcap and pcapng writers over
//! etherparse-built frames), property tests, and a corpus run over the shared capture set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use etherparse::{LinuxSllPacketType, PacketBuilder, VlanId};
use proptest::prelude::*;

const C4: [u8; 4] = [192, 168, 1, 10];
const S4: [u8; 4] = [93, 184, 216, 34];
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// 2024-05-01T10:00:00Z
const T0: u32 = 1_714_557_600;

/// One packet for a capture writer: (time in µs after T0, frame bytes, original length).
type Pkt = (u64, Vec<u8>, u32);

fn pkt(us: u64, frame: Vec<u8>) -> Pkt {
    let n = frame.len() as u32;
    (us, frame, n)
}

/// A little-endian microsecond classic pcap.
fn pcap(linktype: u32, packets: &[Pkt]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&linktype.to_le_bytes());
    for (us, data, orig) in packets {
        f.extend_from_slice(&(T0 + (us / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&orig.to_le_bytes());
        f.extend_from_slice(data);
    }
    f
}

fn ng_block(out: &mut Vec<u8>, btype: u32, body: &[u8]) {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    out.extend_from_slice(&btype.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&len.to_le_bytes());
}

/// A little-endian pcapng with one interface at nanosecond resolution.
fn pcapng(linktype: u16, packets: &[Pkt]) -> Vec<u8> {
    let mut f = Vec::new();
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    ng_block(&mut f, 0x0A0D_0D0A, &shb);
    let mut idb = linktype.to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&0u32.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]); // if_tsresol = 10^-9
    idb.extend_from_slice(&[0, 0, 0, 0]);
    ng_block(&mut f, 1, &idb);
    for (us, data, orig) in packets {
        let ts = (u64::from(T0) * 1_000_000 + us) * 1000;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&orig.to_le_bytes());
        epb.extend_from_slice(data);
        ng_block(&mut f, 6, &epb);
    }
    f
}

fn tcp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, flags: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(src, dst, 64)
        .tcp(sp, dp, 1000, 64000);
    for c in flags.chars() {
        b = match c {
            'S' => b.syn(),
            'A' => b.ack(1),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            _ => b,
        };
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn udp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(src, dst, 64)
        .udp(sp, dp)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn run(bytes: &[u8]) -> (Vec<Result<Event, ParseError>>, CaptureStats) {
    parse_document_with_stats(
        bytes,
        &Arc::from("t.pcap"),
        &Arc::from("test"),
        DateTime::from_timestamp(0, 0).unwrap(),
    )
}

fn events(bytes: &[u8]) -> Vec<Event> {
    let (out, _) = run(bytes);
    out.into_iter().map(|r| r.unwrap()).collect()
}

fn cat<'a>(evs: &'a [Event], c: &str) -> Vec<&'a Event> {
    evs.iter()
        .filter(|e| e.logsource.category.as_deref() == Some(c))
        .collect()
}

fn s(e: &Event, k: &str) -> String {
    e.fields
        .get_str(k)
        .unwrap_or_else(|| panic!("no field {k} in {:?}", e.fields))
        .into_owned()
}

#[test]
fn sniffs_all_magics() {
    for m in [
        [0xD4, 0xC3, 0xB2, 0xA1],
        [0xA1, 0xB2, 0xC3, 0xD4],
        [0x4D, 0x3C, 0xB2, 0xA1],
        [0xA1, 0xB2, 0x3C, 0x4D],
        [0x0A, 0x0D, 0x0D, 0x0A],
    ] {
        assert!(sniff(&m));
        assert_eq!(super::super::sniff(&m), Some(Format::Pcap));
    }
    assert!(!sniff(b"{\"a\":1}"));
    assert!(!sniff(b"\xD4\xC3"));
    let (out, stats) = run(b"hello world, not a capture");
    assert_eq!(out.len(), 1);
    assert_eq!(stats.errors, 1);
    assert_eq!(out[0].as_ref().unwrap_err().position, Position::Byte(0));
}

#[test]
fn big_endian_nanosecond_pcap() {
    let frame = udp4(C4, S4, 1, 2, b"x");
    let mut f = Vec::new();
    f.extend_from_slice(&0xA1B2_3C4Du32.to_be_bytes());
    f.extend_from_slice(&2u16.to_be_bytes());
    f.extend_from_slice(&4u16.to_be_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(&T0.to_be_bytes());
    f.extend_from_slice(&123_456_789u32.to_be_bytes());
    f.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    f.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    f.extend_from_slice(&frame);
    assert!(sniff(&f));
    let evs = events(&f);
    assert_eq!(evs.len(), 1);
    assert_eq!(
        evs[0].time.to_rfc3339(),
        "2024-05-01T10:00:00.123456789+00:00"
    );
}

#[test]
fn tcp_conversation_with_http_get() {
    let get = b"GET /dl/payload.exe?id=7 HTTP/1.1\r\nHost: evil.example\r\nUser-Agent: Mozilla/5.0 Test\r\nReferer: http://ref.example/\r\n\r\n";
    let cap = pcap(
        1,
        &[
            pkt(0, tcp4(C4, S4, 50000, 80, "S", b"")),
            pkt(1_000, tcp4(S4, C4, 80, 50000, "SA", b"")),
            pkt(2_000, tcp4(C4, S4, 50000, 80, "AP", get)),
            pkt(
                5_000,
                tcp4(S4, C4, 80, 50000, "AFP", b"HTTP/1.1 200 OK\r\n\r\n"),
            ),
            pkt(1_502_000, tcp4(C4, S4, 50000, 80, "AF", b"")),
        ],
    );
    let evs = events(&cap);
    assert_eq!(evs.len(), 2);
    let flow = &evs[0];
    assert_eq!(flow.logsource.category.as_deref(), Some("firewall"));
    assert_eq!(flow.logsource.product.as_deref(), Some("pcap"));
    assert_eq!(flow.host.as_deref(), Some("192.168.1.10"));
    assert_eq!(flow.time.to_rfc3339(), "2024-05-01T10:00:00+00:00");
    assert_eq!(s(flow, "src_ip"), "192.168.1.10");
    assert_eq!(s(flow, "dst_ip"), "93.184.216.34");
    assert_eq!(s(flow, "src_port"), "50000");
    assert_eq!(s(flow, "dst_port"), "80");
    assert_eq!(s(flow, "protocol"), "tcp");
    assert_eq!(s(flow, "packets_out"), "3");
    assert_eq!(s(flow, "packets_in"), "2");
    assert_eq!(s(flow, "tcp_flags"), "SYN,ACK,FIN,PSH");
    assert_eq!(s(flow, "duration"), "1.502");
    let out_bytes = 54 + (54 + get.len()) + 54;
    assert_eq!(s(flow, "bytes_out"), out_bytes.to_string());
    let http = &evs[1];
    assert_eq!(http.origin.index, 1);
    assert_eq!(http.logsource.category.as_deref(), Some("proxy"));
    assert_eq!(http.host.as_deref(), Some("192.168.1.10"));
    assert_eq!(s(http, "cs-method"), "GET");
    assert_eq!(s(http, "c-uri"), "/dl/payload.exe?id=7");
    assert_eq!(s(http, "cs-uri-query"), "id=7");
    assert_eq!(s(http, "c-uri-extension"), "exe");
    assert_eq!(s(http, "cs-host"), "evil.example");
    assert_eq!(s(http, "c-useragent"), "Mozilla/5.0 Test");
    assert_eq!(s(http, "cs-referer"), "http://ref.example/");
    assert_eq!(s(http, "method"), "GET");
    assert_eq!(s(http, "user_agent"), "Mozilla/5.0 Test");
    assert_eq!(http.time.to_rfc3339(), "2024-05-01T10:00:00.002+00:00");
}

#[test]
fn ipv6_dns_query_and_answer_in_pcapng() {
    let c6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let s6 = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
    ];
    let q = dns::tests::build(0x1234, false, "www.example.com", 28, &[]);
    let mut aaaa = vec![0x20, 0x01, 0x0d, 0xb8];
    aaaa.extend_from_slice(&[0; 11]);
    aaaa.push(0x80);
    let a = dns::tests::build(0x1234, true, "www.example.com", 28, &[(28, aaaa)]);
    let frame = |src, dst, sp, dp, p: &[u8]| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(src, dst, 64)
            .udp(sp, dp)
            .write(&mut v, p)
            .unwrap();
        v
    };
    let cap = pcapng(
        1,
        &[
            pkt(10, frame(c6, s6, 40001, 53, &q)),
            pkt(20_010, frame(s6, c6, 53, 40001, &a)),
        ],
    );
    let evs = events(&cap);
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[0].logsource.category.as_deref(), Some("firewall"));
    assert_eq!(s(&evs[0], "protocol"), "udp");
    assert_eq!(s(&evs[0], "src_ip"), "2001:db8::1");
    assert_eq!(evs[0].time.to_rfc3339(), "2024-05-01T10:00:00.000010+00:00");
    let d = cat(&evs, "dns");
    assert_eq!(d.len(), 2);
    assert_eq!(s(d[0], "query"), "www.example.com");
    assert_eq!(s(d[0], "record_type"), "AAAA");
    assert_eq!(s(d[0], "dns_response"), "false");
    assert_eq!(s(d[0], "query_length"), "15");
    assert_eq!(s(d[0], "label_count"), "3");
    assert!(d[0].fields.get("answer").is_none());
    assert_eq!(s(d[1], "rcode"), "NOERROR");
    assert_eq!(d[1].fields.get("answer").unwrap()[0], "2001:db8::80");
    for e in &d {
        assert_eq!(e.host.as_deref(), Some("2001:db8::1"));
    }
    let idx: Vec<u64> = evs.iter().map(|e| e.origin.index).collect();
    assert_eq!(idx, vec![0, 1, 2]);
}

#[test]
fn vlan_and_qinq_frames_decode() {
    let mut single = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(VlanId::try_new(10).unwrap())
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1111, 2222)
        .write(&mut single, b"x")
        .unwrap();
    let mut double = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .double_vlan(VlanId::try_new(100).unwrap(), VlanId::try_new(20).unwrap())
        .ipv4([10, 0, 1, 1], [10, 0, 1, 2], 64)
        .tcp(3333, 445, 1, 100)
        .syn()
        .write(&mut double, b"")
        .unwrap();
    let (out, stats) = run(&pcap(1, &[pkt(0, single), pkt(1, double)]));
    assert_eq!(stats.undecoded, 0);
    let evs: Vec<Event> = out.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(evs.len(), 2);
    assert_eq!(s(&evs[0], "dst_ip"), "10.0.0.2");
    assert_eq!(s(&evs[1], "dst_port"), "445");
    assert_eq!(s(&evs[1], "tcp_flags"), "SYN");
}

#[test]
fn tls_client_hello_sni() {
    let hello = tls::tests::client_hello("c2.bad.example", true);
    let cap = pcap(
        1,
        &[
            pkt(0, tcp4(C4, S4, 51000, 443, "S", b"")),
            pkt(100, tcp4(C4, S4, 51000, 443, "AP", &hello)),
        ],
    );
    let evs = events(&cap);
    let t = cat(&evs, "tls");
    assert_eq!(t.len(), 1);
    assert_eq!(s(t[0], "tls_sni"), "c2.bad.example");
    assert_eq!(s(t[0], "tls_version"), "TLS 1.3");
    assert_eq!(s(t[0], "tls_cipher_count"), "3");
    assert_eq!(s(t[0], "dst_port"), "443");
    assert_eq!(t[0].host.as_deref(), Some("192.168.1.10"));
}

#[test]
fn truncated_packets_are_counted_and_decoded() {
    let q = dns::tests::build(9, false, "cut.example.net", 16, &[]);
    let full = udp4(C4, S4, 5353, 53, &q);
    let orig = full.len() as u32;
    // Snaplen 50: the UDP header survives, the DNS question does not.
    let cut = full[..50].to_vec();
    let cap = pcap(1, &[(0, cut, orig), pkt(10, udp4(C4, S4, 5353, 53, &q))]);
    let (out, stats) = run(&cap);
    assert_eq!(stats.packets, 2);
    assert_eq!(stats.truncated, 1);
    assert_eq!(stats.errors, 0);
    let evs: Vec<Event> = out.into_iter().map(|r| r.unwrap()).collect();
    let flow = &cat(&evs, "firewall")[0];
    assert_eq!(s(flow, "truncated_packets"), "1");
    assert_eq!(s(flow, "bytes_out"), (2 * orig).to_string());
    assert_eq!(cat(&evs, "dns").len(), 1);
}

#[test]
fn cooked_and_raw_link_types() {
    let mut sll = Vec::new();
    PacketBuilder::linux_sll(LinuxSllPacketType::OUTGOING, 6, [2, 0, 0, 0, 0, 1, 0, 0])
        .ipv4(C4, S4, 64)
        .udp(1000, 2000)
        .write(&mut sll, b"a")
        .unwrap();
    let mut raw = Vec::new();
    PacketBuilder::ipv4(C4, S4, 64)
        .udp(1000, 2001)
        .write(&mut raw, b"a")
        .unwrap();
    // SLL2: protocol (2), reserved (2), ifindex (4), hatype (2), pkttype, addrlen, addr (8).
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 4, 6];
    sll2.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0, 0]);
    sll2.extend_from_slice(&raw);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&raw);
    for (lt, frame) in [(113, sll), (101, raw.clone()), (276, sll2), (0, null)] {
        let evs = events(&pcap(lt, &[pkt(0, frame)]));
        assert_eq!(evs.len(), 1, "linktype {lt}");
        assert_eq!(s(&evs[0], "src_ip"), "192.168.1.10", "linktype {lt}");
        assert_eq!(s(&evs[0], "protocol"), "udp");
    }
    let (_, stats) = run(&pcap(105, &[pkt(0, vec![0; 40])]));
    assert_eq!(stats.undecoded, 1);
}

#[test]
fn corrupt_pcap_record_is_a_positioned_error() {
    let mut cap = pcap(1, &[pkt(0, udp4(C4, S4, 1, 2, b"x"))]);
    let bad_at = cap.len();
    cap.extend_from_slice(&T0.to_le_bytes());
    cap.extend_from_slice(&0u32.to_le_bytes());
    cap.extend_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    cap.extend_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    cap.extend_from_slice(&[0; 40]);
    let (out, stats) = run(&cap);
    assert_eq!(stats.packets, 1);
    assert_eq!(out.len(), 2);
    let err = out[1].as_ref().unwrap_err();
    assert_eq!(err.position, Position::Byte(bad_at as u64));
    assert_eq!(err.format, Format::Pcap);
    assert_eq!(out[0].as_ref().unwrap().origin.index, 0);
    // A record cut by the end of the file.
    let full = pcap(
        1,
        &[
            pkt(0, udp4(C4, S4, 1, 2, b"x")),
            pkt(1, udp4(C4, S4, 1, 2, b"y")),
        ],
    );
    let (out, stats) = run(&full[..full.len() - 5]);
    assert_eq!((stats.packets, stats.errors), (1, 1));
    assert!(
        out.last()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .reason
            .contains("ends inside")
    );
}

#[test]
fn pcapng_bad_trailer_continues_and_bad_length_stops() {
    let packets = [
        pkt(0, udp4(C4, S4, 1, 2, b"a")),
        pkt(1, udp4(C4, S4, 3, 4, b"b")),
        pkt(2, udp4(C4, S4, 5, 6, b"c")),
    ];
    let good = pcapng(1, &packets);
    // Locate the second EPB: SHB (28) + IDB (32) + first EPB.
    let first_epb = 28 + 32;
    let len1 = u32::from_le_bytes(good[first_epb + 4..first_epb + 8].try_into().unwrap()) as usize;
    let second = first_epb + len1;
    let len2 = u32::from_le_bytes(good[second + 4..second + 8].try_into().unwrap()) as usize;
    let mut bad_trailer = good.clone();
    bad_trailer[second + len2 - 4] ^= 0xFF;
    let (out, stats) = run(&bad_trailer);
    assert_eq!((stats.packets, stats.errors), (3, 1));
    assert_eq!(
        out.iter().find_map(|r| r.as_ref().err()).unwrap().position,
        Position::Byte(second as u64)
    );
    let mut bad_len = good.clone();
    bad_len[second + 4..second + 8].copy_from_slice(&7u32.to_le_bytes());
    let (_, stats) = run(&bad_len);
    assert_eq!((stats.packets, stats.errors), (1, 1));
}

#[test]
fn icmp_flow_has_no_ports_and_events_follow_time_order() {
    let mut echo = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(C4, S4, 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, b"ping")
        .unwrap();
    // Out-of-order capture: the UDP packet is written first but is later in time.
    let cap = pcap(1, &[pkt(5_000, udp4(C4, S4, 7, 8, b"u")), pkt(0, echo)]);
    let evs = events(&cap);
    assert_eq!(s(&evs[0], "protocol"), "icmp");
    assert!(evs[0].fields.get("dst_port").is_none());
    assert_eq!(s(&evs[0], "icmp_type"), "8");
    assert_eq!(s(&evs[1], "protocol"), "udp");
    assert!(evs.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(
        evs.iter()
            .enumerate()
            .all(|(i, e)| e.origin.index == i as u64)
    );
}

#[test]
fn dns_over_tcp_with_length_prefix() {
    let q = dns::tests::build(5, false, "axfr.example", 252, &[]);
    let mut seg = (q.len() as u16).to_be_bytes().to_vec();
    seg.extend_from_slice(&q);
    let evs = events(&pcap(1, &[pkt(0, tcp4(C4, S4, 40000, 53, "AP", &seg))]));
    let d = cat(&evs, "dns");
    assert_eq!(d.len(), 1);
    assert_eq!(s(d[0], "record_type"), "AXFR");
    assert_eq!(s(d[0], "protocol"), "tcp");
}

#[test]
fn ipv4_fragments_keep_their_ports() {
    use etherparse::{IpFragOffset, Ipv4Header};
    let mk = |offset: u16, more: bool, payload: &[u8]| {
        let mut h =
            Ipv4Header::new(payload.len() as u16, 64, etherparse::IpNumber::UDP, C4, S4).unwrap();
        h.identification = 77;
        h.more_fragments = more;
        h.fragment_offset = IpFragOffset::try_new(offset).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut v = Vec::new();
        h.write(&mut v).unwrap();
        v.extend_from_slice(payload);
        v
    };
    let mut first = 4000u16.to_be_bytes().to_vec();
    first.extend_from_slice(&53u16.to_be_bytes());
    first.extend_from_slice(&[0; 12]);
    let cap = pcap(
        101,
        &[pkt(0, mk(0, true, &first)), pkt(1, mk(2, false, &[1; 8]))],
    );
    let evs = events(&cap);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(s(&evs[0], "dst_port"), "53");
    assert_eq!(s(&evs[0], "packets_out"), "2");
}

fn sample_capture() -> Vec<u8> {
    let q = dns::tests::build(1, true, "a.b.example", 16, &[(16, b"\x05hello".to_vec())]);
    pcap(
        1,
        &[
            pkt(0, udp4(C4, S4, 1234, 53, &q)),
            pkt(
                1,
                tcp4(C4, S4, 1, 80, "AP", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
            ),
            pkt(
                2,
                tcp4(
                    C4,
                    S4,
                    2,
                    443,
                    "AP",
                    &tls::tests::client_hello("x.y", false),
                ),
            ),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = run(&bytes);
        let mut with_magic = vec![0xD4, 0xC3, 0xB2, 0xA1];
        with_magic.extend_from_slice(&bytes);
        let _ = run(&with_magic);
        let mut ng = vec![0x0A, 0x0D, 0x0D, 0x0A];
        ng.extend_from_slice(&bytes);
        let _ = run(&ng);
        let _ = dns::parse(&bytes);
        let _ = tls::parse(&bytes);
        let _ = http::parse(&bytes);
    }

    #[test]
    fn mutated_captures_never_panic(
        ng in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
        cut in any::<usize>(),
    ) {
        let mut cap = sample_capture();
        if ng {
            let evs = events(&cap);
            prop_assert!(!evs.is_empty());
            cap = pcapng(1, &[pkt(0, udp4(C4, S4, 1234, 53, &dns::tests::build(1, false, "q.example", 16, &[]))),
                pkt(1, tcp4(C4, S4, 2, 443, "AP", &tls::tests::client_hello("x.y", true)))]);
        }
        for (at, b) in edits {
            let n = cap.len();
            cap[at % n] = b;
        }
        let cut = cut % (cap.len() + 1);
        let (out, _) = run(&cap[..cut]);
        for (i, r) in out.iter().enumerate() {
            if let Ok(e) = r {
                prop_assert_eq!(e.origin.index, i as u64);
            }
        }
    }
}

/// The shared capture set, if present.
fn shared_pcap_dir() -> Option<std::path::PathBuf> {
    crate::testutil::shared("data/pcap").filter(|p| p.join("ground_truth.csv").is_file())
}

#[test]
fn corpus_matches_ground_truth() {
    let Some(dir) = shared_pcap_dir() else {
        eprintln!("note: shared pcap corpus absent; corpus test skipped");
        return;
    };
    let truth = std::fs::read_to_string(dir.join("ground_truth.csv")).unwrap();
    let mut lines = truth.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file_col, bytes_col) = (col("file"), col("bytes"));
    let mut total = CaptureStats::default();
    let (mut total_bytes, mut files) = (0usize, 0usize);
    let mut txt_queries = 0usize;
    let mut txt_answers = 0usize;
    let mut txt_iex = false;
    let mut parse_time = std::time::Duration::ZERO;
    eprintln!(
        "{:<70} {:>7} {:>6} {:>5} {:>5} {:>4} {:>5} {:>5} {:>4}",
        "file", "packets", "flows", "dns", "http", "tls", "trunc", "undec", "err"
    );
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        let rel = cols[file_col];
        let expected_bytes: usize = cols[bytes_col].parse().unwrap();
        let bytes = std::fs::read(dir.join(rel)).unwrap();
        // ground_truth.csv states each capture's size exactly.
        assert_eq!(
            bytes.len(),
            expected_bytes,
            "{rel}: size differs from ground truth"
        );
        assert!(sniff(&bytes), "{rel}: not sniffed as a capture");
        let started = std::time::Instant::now();
        let (out, st) = run(&bytes);
        parse_time += started.elapsed();
        files += 1;
        total_bytes += bytes.len();
        for e in out.iter().filter_map(|r| r.as_ref().err()) {
            eprintln!("  {rel}: {e}");
        }
        assert!(st.packets > 0, "{rel}: no packets");
        assert_eq!(
            out.len() as u64,
            st.flows + st.dns + st.http + st.tls + st.errors,
            "{rel}"
        );
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, r)| r.as_ref().map_or(true, |e| e.origin.index == i as u64))
        );
        let evs: Vec<&Event> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert!(
            evs.windows(2).all(|w| w[0].time <= w[1].time),
            "{rel}: order"
        );
        if rel.contains("cmds_over_dns_txt") {
            for e in &evs {
                if e.fields.get_str("record_type").as_deref() == Some("TXT") {
                    if e.fields.get_str("dns_response").as_deref() == Some("false") {
                        txt_queries += 1;
                    } else if let Some(a) = e.fields.get("answer") {
                        txt_answers += 1;
                        txt_iex |= a.to_string().to_ascii_lowercase().contains("iex $str");
                    }
                }
            }
            eprintln!(
                "  TXT queries {txt_queries}, TXT answers {txt_answers}; sample: {:?}",
                evs.iter()
                    .find(|e| e.fields.get("answer").is_some())
                    .map(|e| (e.fields.get_str("query"), e.fields.get("answer")))
            );
        }
        eprintln!(
            "{:<70} {:>7} {:>6} {:>5} {:>5} {:>4} {:>5} {:>5} {:>4}",
            rel.chars()
                .rev()
                .take(70)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>(),
            st.packets,
            st.flows,
            st.dns,
            st.http,
            st.tls,
            st.truncated,
            st.undecoded,
            st.errors
        );
        total.packets += st.packets;
        total.flows += st.flows;
        total.dns += st.dns;
        total.http += st.http;
        total.tls += st.tls;
        total.truncated += st.truncated;
        total.undecoded += st.undecoded;
        total.errors += st.errors;
    }
    let secs = parse_time.as_secs_f64().max(1e-9);
    eprintln!(
        "TOTAL files {files}, bytes {total_bytes}: {total:?}\nparse throughput ({} build, in-memory, events built): {:.1} MB/s, {:.0} packets/s",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        total_bytes as f64 / 1e6 / secs,
        total.packets as f64 / secs
    );
    assert!(
        txt_queries > 0,
        "DNS-TXT tunnelling capture yielded no TXT queries"
    );
    assert!(
        txt_answers > 0,
        "DNS-TXT tunnelling capture yielded no TXT answers"
    );
    assert!(
        txt_iex,
        "the TXT command channel's `iex` stager was not decoded"
    );
}
