//! Fuzz target: a JSON value mapped as a CloudTrail record (direct, EventBridge or wrapped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::normalize::Payload;
use nightwatch::normalize;
use nightwatch_fuzz::record;

fuzz_target!(|data: &[u8]| {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(data) {
        let r = record(Payload::Json(serde_json::Value::Null));
        let _ = normalize::cloudtrail::event_from_record(map, r.origin, r.received);
    }
});
