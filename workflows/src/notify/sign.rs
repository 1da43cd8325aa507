//! The signature of an outgoing notification: HMAC-SHA256, keyed with `DONGBO_NOTIFY_SECRET`,
//! over `<timestamp>.<raw body>`, sent as `X-Dongbo-Signature: sha256=<lower-case hex>` beside
//! `X-Dongbo-Timestamp: <unix seconds>`. Signing the timestamp with the body lets a receiver
//! refuse a replayed delivery (one whose timestamp is old) as well as a forged one.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Dongbo-Signature";
/// The header carrying the timestamp (unix seconds) that was signed.
pub const TIMESTAMP_HEADER: &str = "X-Dongbo-Timestamp";

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `"{timestamp}.{body}"`).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `header` is the signature of `body` at `timestamp` (compared in constant time).
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else { return false };
    let Some(given) = decode_hex(hex) else { return false };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else { return false };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently with Python's `hmac` module.
        let body = br#"{"event":"job.failed"}"#;
        assert_eq!(
            signature(b"Jefe", 1_733_450_000, body),
            "sha256=d8e9b36eb54b98abaaaf75a21c25fb1d34b5393c511666102e8f16a90b13ebcd"
        );
        let sig = signature(b"Jefe", 1, b"{}");
        assert!(verify(b"Jefe", 1, b"{}", &sig));
        assert!(!verify(b"Jefe", 2, b"{}", &sig), "another timestamp");
        assert!(!verify(b"Jefe", 1, b"{ }", &sig), "another body");
        assert!(!verify(b"jefe", 1, b"{}", &sig), "another secret");
        assert!(!verify(b"Jefe", 1, b"{}", "sha256=zz"), "malformed");
    }
}
