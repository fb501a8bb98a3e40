//! Fuzz target: one EVTX chunk (up to 64 KiB of arbitrary bytes) through the EVTX parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    let chunk = normalize::evtx::EvtxChunk {
        data: data.to_vec(),
        first_index: 0,
        chunk_number: 0,
    };
    let _ = normalize::parse(record(Payload::EvtxChunk(chunk)));
});
