//! Fuzz target: one syslog line (RFC 3164/5424, Cisco ASA, FortiGate, PAN-OS, pfSense, iptables, CEF, LEEF).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data).into_owned();
    let _ = normalize::parse(record(Payload::Line {
        format: normalize::Format::Syslog,
        line,
    }));
});
