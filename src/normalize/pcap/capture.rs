//! Capture containers: classic pcap (both byte orders, µs and ns magics) and pcapng
//! (sections of either byte order, interface descriptions with `if_tsresol`/`if_tsoffset`,
//! enhanced, simple and obsolete packet blocks).
//!
//! The reader walks the file once and hands every packet (link type, time, captured bytes,
//! original length) or positioned error to a [`Sink`]. Classic pcap has no resynchronization
//! point, so a corrupt record header ends the file; pcapng blocks carry their length, so a bad
//! block is reported and skipped as long as that length is usable.

use super::sniff;

/// Captured lengths above this (and above the declared snaplen) mark a corrupt record.
const MAX_SANE_CAPLEN: u32 = 256 * 1024;

/// One captured packet handed from the container reader to the analyzer.
pub(super) struct RawPacket<'a> {
    pub linktype: u16,
    /// `None` for pcapng simple packet blocks (no timestamp): the previous packet's time.
    pub time_ns: Option<i64>,
    pub data: &'a [u8],
    pub orig_len: u32,
}

/// Receives the container reader's output.
pub(super) trait Sink {
    fn packet(&mut self, p: RawPacket<'_>);
    fn error(&mut self, offset: usize, reason: String);
}

fn rd_u16(b: &[u8], at: usize, le: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    })
}

fn rd_u32(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

/// Reads the container (classic pcap or pcapng) and feeds packets and errors to `sink`.
pub(super) fn read_capture(bytes: &[u8], sink: &mut dyn Sink) {
    match bytes.get(..4) {
        Some([0x0A, 0x0D, 0x0D, 0x0A]) => read_pcapng(bytes, sink),
        Some(_) if sniff(bytes) => read_pcap(bytes, sink),
        _ => sink.error(0, "not a pcap or pcapng capture (unknown magic)".into()),
    }
}

fn read_pcap(b: &[u8], sink: &mut dyn Sink) {
    let (le, nanos) = match b[..4] {
        [0xD4, 0xC3, 0xB2, 0xA1] => (true, false),
        [0xA1, 0xB2, 0xC3, 0xD4] => (false, false),
        [0x4D, 0x3C, 0xB2, 0xA1] => (true, true),
        _ => (false, true),
    };
    let (Some(snaplen), Some(linktype)) = (rd_u32(b, 16, le), rd_u32(b, 20, le)) else {
        sink.error(0, "pcap file header is cut short".into());
        return;
    };
    let linktype = (linktype & 0xFFFF) as u16;
    let max_caplen = snaplen.max(MAX_SANE_CAPLEN);
    let mut at = 24usize;
    while at < b.len() {
        let (Some(sec), Some(frac), Some(caplen), Some(orig)) = (
            rd_u32(b, at, le),
            rd_u32(b, at + 4, le),
            rd_u32(b, at + 8, le),
            rd_u32(b, at + 12, le),
        ) else {
            sink.error(
                at,
                format!(
                    "capture ends inside a record header ({} trailing bytes after the last record)",
                    b.len() - at
                ),
            );
            return;
        };
        if caplen > max_caplen {
            sink.error(
                at,
                format!("corrupt record header: captured length {caplen} exceeds {max_caplen}"),
            );
            return;
        }
        let start = at + 16;
        let Some(data) = b.get(start..start + caplen as usize) else {
            sink.error(
                at,
                format!(
                    "capture ends inside a record: {caplen} bytes announced, {} present",
                    b.len() - start.min(b.len())
                ),
            );
            return;
        };
        let frac_ns = if nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1000
        };
        sink.packet(RawPacket {
            linktype,
            time_ns: Some(i64::from(sec) * 1_000_000_000 + frac_ns),
            data,
            orig_len: orig.max(caplen),
        });
        at = start + caplen as usize;
    }
}

/// A pcapng interface: link type, snaplen and timestamp scale.
#[derive(Clone, Copy)]
struct Iface {
    linktype: u16,
    snaplen: u32,
    /// Timestamp units per second.
    units: u64,
    offset_secs: i64,
}

fn ts_to_ns(ts: u64, iface: &Iface) -> i64 {
    let units = u128::from(iface.units.max(1));
    let ns = u128::from(ts) * 1_000_000_000 / units;
    let ns = i64::try_from(ns).unwrap_or(i64::MAX);
    ns.saturating_add(iface.offset_secs.saturating_mul(1_000_000_000))
}

fn parse_idb(body: &[u8], le: bool) -> Option<Iface> {
    let mut iface = Iface {
        linktype: rd_u16(body, 0, le)?,
        snaplen: rd_u32(body, 4, le)?,
        units: 1_000_000,
        offset_secs: 0,
    };
    let mut at = 8;
    while let (Some(code), Some(len)) = (rd_u16(body, at, le), rd_u16(body, at + 2, le)) {
        if code == 0 {
            break;
        }
        // A malformed option list ends option parsing; the interface itself stays usable.
        let Some(val) = body.get(at + 4..at + 4 + usize::from(len)) else {
            break;
        };
        match (code, val) {
            (9, [r, ..]) => {
                let r = *r;
                iface.units = if r & 0x80 != 0 {
                    1u64.checked_shl(u32::from(r & 0x7F)).unwrap_or(0)
                } else {
                    10u64.checked_pow(u32::from(r)).unwrap_or(0)
                };
                if iface.units == 0 {
                    return None;
                }
            }
            (14, v) if v.len() == 8 => {
                let a: [u8; 8] = v.try_into().ok()?;
                iface.offset_secs = if le {
                    i64::from_le_bytes(a)
                } else {
                    i64::from_be_bytes(a)
                };
            }
            _ => {}
        }
        at += 4 + usize::from(len).div_ceil(4) * 4;
    }
    Some(iface)
}

fn read_pcapng(b: &[u8], sink: &mut dyn Sink) {
    let mut at = 0usize;
    let mut le = true;
    let mut ifaces: Vec<Iface> = Vec::new();
    while at < b.len() {
        let Some(btype_raw) = b.get(at..at + 4) else {
            sink.error(at, "capture ends inside a block header".into());
            return;
        };
        if btype_raw == [0x0A, 0x0D, 0x0D, 0x0A] {
            match b.get(at + 8..at + 12) {
                Some([0x4D, 0x3C, 0x2B, 0x1A]) => le = true,
                Some([0x1A, 0x2B, 0x3C, 0x4D]) => le = false,
                _ => {
                    sink.error(at, "section header with an invalid byte-order magic".into());
                    return;
                }
            }
            ifaces.clear();
        }
        let (Some(btype), Some(len)) = (rd_u32(b, at, le), rd_u32(b, at + 4, le)) else {
            sink.error(at, "capture ends inside a block header".into());
            return;
        };
        let len = len as usize;
        if len < 12 || !len.is_multiple_of(4) {
            sink.error(at, format!("corrupt block (type {btype:#x}): length {len}"));
            return;
        }
        let Some(block) = b.get(at..at.saturating_add(len)) else {
            sink.error(
                at,
                format!(
                    "capture ends inside a block (type {btype:#x}): {len} bytes announced, {} present",
                    b.len() - at
                ),
            );
            return;
        };
        if rd_u32(block, len - 4, le) != Some(len as u32) {
            sink.error(
                at,
                format!("block (type {btype:#x}) trailing length differs from its leading length"),
            );
        }
        let body = &block[8..len - 4];
        match btype {
            1 => match parse_idb(body, le) {
                Some(i) => ifaces.push(i),
                None => {
                    sink.error(at, "corrupt interface description block".into());
                    // Keep interface numbering aligned; packets on it are not decoded.
                    ifaces.push(Iface {
                        linktype: u16::MAX,
                        snaplen: 0,
                        units: 1_000_000,
                        offset_secs: 0,
                    });
                }
            },
            6 | 2 => {
                let iface_id = if btype == 6 {
                    rd_u32(body, 0, le)
                } else {
                    rd_u16(body, 0, le).map(u32::from)
                };
                let parsed = (|| {
                    let id = iface_id? as usize;
                    let hi = rd_u32(body, 4, le)?;
                    let lo = rd_u32(body, 8, le)?;
                    let caplen = rd_u32(body, 12, le)?;
                    let orig = rd_u32(body, 16, le)?;
                    let data = body.get(20..20 + caplen as usize)?;
                    Some((id, (u64::from(hi) << 32) | u64::from(lo), data, orig))
                })();
                match parsed {
                    Some((id, ts, data, orig)) => match ifaces.get(id) {
                        Some(iface) => sink.packet(RawPacket {
                            linktype: iface.linktype,
                            time_ns: Some(ts_to_ns(ts, iface)),
                            data,
                            orig_len: orig.max(data.len() as u32),
                        }),
                        None => {
                            sink.error(at, format!("packet block names unknown interface {id}"))
                        }
                    },
                    None => sink.error(at, format!("corrupt packet block (type {btype})")),
                }
            }
            3 => match (ifaces.first(), rd_u32(body, 0, le)) {
                (Some(iface), Some(orig)) => {
                    let mut caplen = (orig as usize).min(body.len() - 4);
                    if iface.snaplen > 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                    sink.packet(RawPacket {
                        linktype: iface.linktype,
                        time_ns: None,
                        data: &body[4..4 + caplen],
                        orig_len: orig.max(caplen as u32),
                    });
                }
                _ => sink.error(at, "simple packet block without interface".into()),
            },
            _ => {}
        }
        at += len;
    }
}
