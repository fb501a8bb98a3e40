//! Fuzz target: a Windows event XML document (Sysmon, Event Viewer exports) through the XML parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let doc = normalize::decode_text(data).into_owned();
    let _ = normalize::parse(record(Payload::WinXml(doc)));
});
