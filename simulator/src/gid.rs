//! Shopify global ids (`gid://shopify/Customer/123`).

/// `gid://shopify/{kind}/{id}`.
pub(crate) fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of a gid of the given kind (query strings such as `?v=1` are ignored).
pub(crate) fn parse_gid(text: &str, kind: &str) -> Option<u64> {
    let rest = text.strip_prefix("gid://shopify/")?.strip_prefix(kind)?.strip_prefix('/')?;
    let digits = rest.split('?').next()?;
    digits.parse().ok()
}

/// The kind of a gid (`Customer` in `gid://shopify/Customer/1`).
pub(crate) fn gid_kind(text: &str) -> Option<&str> {
    text.strip_prefix("gid://shopify/")?.split('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gids_round_trip_and_reject_other_kinds() {
        assert_eq!(parse_gid(&gid("Customer", 42), "Customer"), Some(42));
        assert_eq!(parse_gid("gid://shopify/Customer/42", "Product"), None);
        assert_eq!(parse_gid("gid://shopify/Customer/x", "Customer"), None);
        assert_eq!(parse_gid("42", "Customer"), None);
        assert_eq!(gid_kind("gid://shopify/ProductVariant/1"), Some("ProductVariant"));
    }
}
