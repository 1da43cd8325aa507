//! The bearer token that guards `/api`, and the rule that keeps an unguarded server on loopback.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

/// Refuses to listen beyond loopback without a token: an unguarded API on a public interface
/// would let anyone start syncs against the shops.
pub fn check_bind(addr: &SocketAddr, token: Option<&str>) -> Result<(), String> {
    let has_token = token.is_some_and(|t| !t.trim().is_empty());
    if addr.ip().is_loopback() || has_token {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr} without an API token: set DONGBO_API_TOKEN, \
             or listen on a loopback address such as 127.0.0.1"
        ))
    }
}

/// Whether a path is guarded: all of `/api` but the webhook receivers, which prove themselves by
/// the vendors' verify token and HMAC (see [`super::webhooks`]).
fn guarded(path: &str) -> bool {
    (path == "/api" || path.starts_with("/api/")) && !super::webhooks::RECEIVING_PATHS.contains(&path)
}

/// Middleware: every `/api` request must carry `Authorization: Bearer <token>` when a token is
/// configured.
pub(super) async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.api_token.as_deref().filter(|t| !t.is_empty()) else {
        return next.run(req).await;
    };
    if !guarded(req.uri().path()) {
        return next.run(req).await;
    }
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    match given {
        Some(token) if same_token(token, expected) => next.run(req).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

/// Whether two tokens are equal, in a time that depends on neither their contents nor their
/// lengths: their SHA-256 digests (always 32 bytes) are compared in constant time.
fn same_token(given: &str, expected: &str) -> bool {
    bool::from(comparand(given).ct_eq(&comparand(expected)))
}

/// What [`same_token`] compares: a fixed-length digest of the token.
fn comparand(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of a `Bearer` credential (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(addr: &str, token: Option<&str>, allowed: bool) {
        let addr: SocketAddr = addr.parse().unwrap();
        assert_eq!(check_bind(&addr, token).is_ok(), allowed, "{addr} with {token:?}");
    }

    #[test]
    fn only_loopback_may_listen_without_a_token() {
        check("127.0.0.1:8080", None, true);
        check("[::1]:8080", None, true);
        check("0.0.0.0:8080", None, false);
        check("[::]:8080", None, false);
        check("192.168.1.5:8080", Some("   "), false);
        check("0.0.0.0:8080", Some("s3cret"), true);
    }

    #[test]
    fn a_bearer_credential_is_read_whatever_the_scheme_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn tokens_are_compared_as_fixed_length_digests() {
        let expected = "s3cret-token";
        assert!(same_token(expected, expected));
        for len in 0..300 {
            let given = "s".repeat(len);
            // Whatever the length given, the bytes compared have the length of the expected's.
            assert_eq!(comparand(&given).len(), comparand(expected).len(), "length {len}");
            assert!(!same_token(&given, expected));
        }
        assert!(!same_token("s3cret-tokeN", expected));
        assert_ne!(comparand("a"), comparand("b"));
    }

    #[test]
    fn only_api_paths_are_guarded() {
        assert!(guarded("/api/jobs"));
        assert!(guarded("/api"));
        assert!(!guarded("/apix"));
        assert!(!guarded("/healthz"));
        assert!(!guarded("/api/webhooks/shopify"));
        assert!(guarded("/api/webhook-deliveries"));
    }
}
