//! The guard against browser-borne requests: cross-site request forgery and DNS rebinding.
//!
//! - **CSRF.** A web page on any site can make a browser send a `POST` with a `text/plain` (or
//!   form) body and no preflight. Every state-changing request (any method but `GET`, `HEAD`,
//!   `OPTIONS` and `TRACE`) must therefore carry `Content-Type: application/json` (or an
//!   `application/*+json` type), even with an empty body: a cross-site page can only send that
//!   after a CORS preflight, which this server never grants. Otherwise: 415 in the envelope.
//! - **DNS rebinding.** A page on `attacker.example` can point its own name at 127.0.0.1 and then
//!   read the unguarded loopback server as same-origin. When no API token is set, the `Host` must
//!   be a loopback name (`127.0.0.1` and the rest of 127.0.0.0/8, `[::1]`, `localhost`, any port;
//!   421 otherwise) and an `Origin`, when there is one, must be a loopback origin (403 otherwise).
//!   With a token the bearer check stands in: a rebound page has no token to send.
//!
//! Paths under [`EXEMPT_PREFIXES`] are left alone (see there).

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{header, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{OpenApi, Ref, RefOr};

use super::error::ApiError;
use super::extract::json_content_type;
use super::AppState;

/// Path prefixes the guard does not check: the vendors' webhooks (`/api/webhooks/…`), which
/// arrive from the vendors' servers under the public host name, with whatever content type the
/// vendor sends, and are authenticated by their signatures instead.
pub const EXEMPT_PREFIXES: &[&str] = &["/api/webhooks/"];

/// Middleware: refuses cross-site and rebound requests (see the module documentation).
pub(super) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Err(e) = check(&state, &req) {
        return e.into_response();
    }
    next.run(req).await
}

fn check(state: &AppState, req: &Request) -> Result<(), ApiError> {
    let path = req.uri().path();
    if EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Ok(());
    }
    if state.api_token.is_none() {
        if let Some(host) = request_host(req) {
            if !loopback_authority(host) {
                return Err(ApiError::Misdirected(format!(
                    "this server has no API token, so it only answers requests addressed to a loopback \
                     host (127.0.0.1, [::1] or localhost), not `{}`",
                    shown(host)
                )));
            }
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !loopback_origin(origin) {
                return Err(ApiError::Forbidden(format!(
                    "this server has no API token, so it only answers pages served from a loopback \
                     origin, not `{}`",
                    shown(origin)
                )));
            }
        }
    }
    if changes_state(req.method()) && !json_content_type(req.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "a state-changing request must be sent with `Content-Type: application/json`, even with \
             an empty body (this keeps other web sites from sending it through a browser)"
                .into(),
        ));
    }
    Ok(())
}

/// Whether a method may change state: everything but the safe methods of RFC 9110 §9.2.1.
fn changes_state(method: &Method) -> bool {
    ![Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

/// The host the request is addressed to: its `Host` header, else the request target's authority
/// (absolute-form). `None` when neither is given: no browser sends such a request.
fn request_host(req: &Request) -> Option<&str> {
    match req.headers().get(header::HOST) {
        Some(v) => Some(v.to_str().unwrap_or("\u{fffd}")),
        None => req.uri().authority().map(Authority::as_str),
    }
}

/// Whether an authority (`host[:port]`) names a loopback host.
fn loopback_authority(authority: &str) -> bool {
    !authority.contains('@') && authority.parse::<Authority>().is_ok_and(|a| loopback_host(a.host()))
}

/// Whether an `Origin` header names a loopback origin (`null` does not).
fn loopback_origin(origin: &str) -> bool {
    let Ok(uri) = origin.parse::<Uri>() else { return false };
    matches!(uri.scheme_str(), Some("http" | "https"))
        && uri.path_and_query().is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/")
        && uri.authority().is_some_and(|a| loopback_authority(a.as_str()))
}

/// Whether a host (name or IP literal, IPv6 in brackets) is loopback.
fn loopback_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    literal.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Adds the guard's refusals to every operation of `doc` but the exempt ones: 415 to the
/// state-changing ones, 421 and 403 to all (they apply when no token is set).
pub(super) fn document(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
            continue;
        }
        let operations = [
            (&mut item.get, false),
            (&mut item.head, false),
            (&mut item.options, false),
            (&mut item.trace, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, changes) in operations {
            let Some(operation) = operation.as_mut() else { continue };
            let responses = &mut operation.responses.responses;
            if changes {
                responses.entry("415".into()).or_insert_with(|| {
                    refusal("Not sent as `Content-Type: application/json` (required on every state-changing request)")
                });
            }
            responses.entry("421".into()).or_insert_with(|| {
                refusal("Without an API token: addressed to a host other than 127.0.0.1, [::1] or localhost")
            });
            responses
                .entry("403".into())
                .or_insert_with(|| refusal("Without an API token: sent from a page of a non-loopback origin"));
        }
    }
}

/// A refusal in the error envelope.
fn refusal(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

/// A bounded prefix of a client's value, for a message.
fn shown(value: &str) -> String {
    super::error::truncated(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_with_any_port_are_recognised() {
        for host in ["127.0.0.1", "127.0.0.1:8080", "127.8.9.1:1", "[::1]", "[::1]:8080", "localhost", "LocalHost:3000"]
        {
            assert!(loopback_authority(host), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:8080",
            "[::2]",
            "user@127.0.0.1",
            "",
        ] {
            assert!(!loopback_authority(host), "{host}");
        }
    }

    #[test]
    fn loopback_origins_are_recognised() {
        assert!(loopback_origin("http://127.0.0.1:8080"));
        assert!(loopback_origin("http://localhost"));
        assert!(loopback_origin("https://[::1]:9000"));
        assert!(!loopback_origin("null"));
        assert!(!loopback_origin("http://attacker.example"));
        assert!(!loopback_origin("file://"));
        assert!(!loopback_origin("http://127.0.0.1.attacker.example"));
    }

    #[test]
    fn only_safe_methods_skip_the_content_type_rule() {
        assert!(!changes_state(&Method::GET));
        assert!(!changes_state(&Method::HEAD));
        assert!(changes_state(&Method::POST));
        assert!(changes_state(&Method::DELETE));
        assert!(changes_state(&Method::from_bytes(b"PURGE").unwrap()));
    }
}
