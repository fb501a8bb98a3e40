//! Fuzz target: a packet capture (pcap or pcapng) through flow, DNS, HTTP and TLS analysis.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let _ = normalize::parse(record(Payload::Document {
        format: normalize::Format::Pcap,
        bytes: data.to_vec(),
    }));
});
