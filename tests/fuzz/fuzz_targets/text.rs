//! Fuzz target: one raw text line through the text parser, and the format sniffer on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let _ = normalize::sniff(data);
    let line = String::from_utf8_lossy(data).into_owned();
    let _ = normalize::parse(record(Payload::Line {
        format: normalize::Format::Text,
        line,
    }));
});
