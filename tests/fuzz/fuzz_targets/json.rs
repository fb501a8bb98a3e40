//! Fuzz target: one NDJSON line (generic, ECS, flat Windows, CloudTrail, Zeek JSON) through the JSON parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data).into_owned();
    let _ = normalize::parse(record(Payload::Line {
        format: normalize::Format::Json,
        line,
    }));
});
