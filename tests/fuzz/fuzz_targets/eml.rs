//! Fuzz target: one email message (.eml, with or without an mbox envelope) through the email parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let _ = normalize::parse(record(Payload::Document {
        format: normalize::Format::Eml,
        bytes: data.to_vec(),
    }));
});
