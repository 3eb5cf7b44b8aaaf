//! Inputs shared by the benchmarks.
#![allow(dead_code)]

pub mod cluster;
pub mod proc;
pub mod serve;

pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(v)
}

/// The captured Secret CREATE (tests/admission/) carrying a 2-certificate chain and its key:
/// about 6.7 KB, the request both benchmarks measure.
pub fn review_body() -> Vec<u8> {
    let path = format!(
        "{}/tests/admission/secret-create-live-v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["request"]["object"]["data"] = serde_json::json!({
        "tls.crt": b64(&fixture("certs/chain/fullchain.pem")),
        "tls.key": b64(&fixture("certs/chain/leaf.key")),
    });
    v["request"]["object"]["metadata"]["annotations"] = serde_json::json!({});
    serde_json::to_vec(&v).unwrap()
}
