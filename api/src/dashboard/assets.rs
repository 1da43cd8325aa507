//! The embedded files of the dashboard.
//!
//! The page references its assets as `/assets/<name>?v=<fingerprint>`, where the fingerprint is a
//! hash of every asset's content. Assets can then be cached for good (`immutable`) while a new
//! build is picked up at the next load of the page, which itself is never cached.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::http::ApiError;

/// An embedded file.
pub struct Asset {
    /// Its name under `/assets/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its content.
    pub body: &'static str,
}

/// Every file under `/assets/`.
pub const ASSETS: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_str!("../../assets/app.css") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_str!("../../assets/app.js") },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", body: include_str!("../../assets/favicon.svg") },
    Asset {
        name: "locations.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/locations.js"),
    },
    Asset {
        name: "schedules.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/schedules.js"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/console.js"),
    },
    Asset {
        name: "webhooks.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/webhooks.js"),
    },
];

/// The page, with `{{v}}` where the fingerprint goes.
const INDEX_TEMPLATE: &str = include_str!("../../assets/index.html");

/// Only the page's own files run or load: no inline script, no third-party origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The page with its fingerprint filled in, built once.
static INDEX: LazyLock<String> = LazyLock::new(|| INDEX_TEMPLATE.replace("{{v}}", &fingerprint()));

/// A short hash of every asset; `DefaultHasher::new()` has fixed keys, so it is stable within a
/// build, which is all cache busting needs.
fn fingerprint() -> String {
    let mut h = DefaultHasher::new();
    for a in ASSETS {
        a.name.hash(&mut h);
        a.body.hash(&mut h);
    }
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// The page as served: what [`index`] answers.
pub fn index_html() -> &'static str {
    &INDEX
}

fn with_headers(body: &'static str, content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `GET /`: the dashboard.
pub async fn index() -> Response {
    let mut response = with_headers(index_html(), "text/html; charset=utf-8", "no-cache");
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `GET /assets/{name}`: an embedded file, or 404 in the envelope.
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let asset = ASSETS.iter().find(|a| a.name == name).ok_or_else(|| {
        ApiError::NotFound(format!("no dashboard asset named {:?}", name.chars().take(64).collect::<String>()))
    })?;
    Ok(with_headers(asset.body, asset.content_type, "public, max-age=31536000, immutable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_references_its_assets_with_the_fingerprint_and_keeps_no_placeholder() {
        let page = index_html();
        assert!(!page.contains("{{"), "an unfilled placeholder is left in the page");
        let v = fingerprint();
        for name in ["app.css", "app.js", "favicon.svg", "locations.js", "console.js", "webhooks.js"] {
            assert!(page.contains(&format!("/assets/{name}?v={v}")), "{name} is not referenced with ?v={v}");
        }
    }

    #[test]
    fn the_page_declares_utf8_before_any_text() {
        let page = index_html();
        let meta = page.find(r#"<meta charset="utf-8">"#).expect("a UTF-8 meta tag");
        assert!(meta < page.find("<title>").expect("a title"));
    }
}
