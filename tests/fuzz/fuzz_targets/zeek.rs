//! Fuzz target: a Zeek log (TSV with #fields/#types headers, or JSON lines) through the Zeek parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let _ = normalize::parse(record(Payload::Document {
        format: normalize::Format::Zeek,
        bytes: data.to_vec(),
    }));
});
