//! Relay connections: cursors, page sizes, paging over records sorted by id, and the bulk
//! operation's paging hook.

use std::sync::{Arc, Mutex};

use async_graphql::{Context, Error, ErrorExtensions, Result};
use base64::Engine;

use crate::sim::Sim;

/// Set by a bulk operation's run: the root connection pages from `after` in pages of `size` and
/// reports where the next page starts; nested connections have no size limit.
#[derive(Debug, Clone)]
pub(crate) struct BulkPage {
    pub after: Option<u64>,
    pub size: usize,
    pub next: Arc<Mutex<Option<u64>>>,
}

/// An opaque cursor, base64 JSON like Shopify's (`{"last_id":…,"last_value":…}`).
pub(crate) fn encode_cursor(id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"last_id\":{id},\"last_value\":\"{id}\"}}"))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<u64> {
    let invalid = || Error::new(format!("Invalid cursor: {cursor}")).extend_with(|_, e| e.set("code", "BAD_REQUEST"));
    let bytes = base64::engine::general_purpose::STANDARD.decode(cursor).map_err(|_| invalid())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    value.get("last_id").and_then(serde_json::Value::as_u64).ok_or_else(invalid)
}

/// Arguments of a connection field.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
    pub reverse: bool,
}

/// One page of a connection, resolved to record indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Paged {
    pub rows: Vec<usize>,
    pub has_next: bool,
    pub has_previous: bool,
}

fn bad_request(message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", "BAD_REQUEST"))
}

/// Resolves a connection's page. `root` marks a query-root connection (the one a bulk operation
/// pages through); nested connections are unlimited inside a bulk operation.
pub(crate) fn paginate(
    ctx: &Context<'_>,
    args: &PageArgs,
    root: bool,
    len: usize,
    id: impl Fn(usize) -> u64,
    keep: impl Fn(usize) -> bool,
) -> Result<Paged> {
    let sim = ctx.data::<Arc<Sim>>()?;
    let bulk = ctx.data_opt::<BulkPage>();
    let (size, after, before, backwards) = match bulk {
        Some(b) if root => (b.size, b.after, None, false),
        Some(_) => (usize::MAX, None, None, false),
        None => {
            let max = sim.config.shopify.max_page as i32;
            let (n, backwards) = match (args.first, args.last) {
                (Some(_), Some(_)) => return Err(bad_request("Pass either first or last, not both.")),
                (Some(n), None) => (n, false),
                (None, Some(n)) => (n, true),
                (None, None) => return Err(bad_request("you must provide one of first or last")),
            };
            if !(0..=max).contains(&n) {
                return Err(bad_request(format!("The page size must be between 0 and {max}.")));
            }
            let after = args.after.as_deref().map(decode_cursor).transpose()?;
            let before = args.before.as_deref().map(decode_cursor).transpose()?;
            (n as usize, after, before, backwards != args.reverse)
        }
    };
    // Ids ascend with the index, so the cursor window is a range found by binary search.
    let start = after.map_or(0, |a| partition(len, &id, |x| x <= a));
    let end = before.map_or(len, |b| partition(len, &id, |x| x < b));
    let mut rows = Vec::new();
    let mut more = false;
    let window = start..end.max(start);
    let order: Box<dyn Iterator<Item = usize>> = if backwards { Box::new(window.rev()) } else { Box::new(window) };
    for i in order {
        if !keep(i) {
            continue;
        }
        if rows.len() == size {
            more = true;
            break;
        }
        rows.push(i);
    }
    if let (Some(b), true) = (bulk, root) {
        *b.next.lock().unwrap_or_else(|e| e.into_inner()) = if more { rows.last().map(|&i| id(i)) } else { None };
    }
    let has_previous = if backwards { before.is_some() } else { after.is_some() };
    Ok(Paged { rows, has_next: more, has_previous })
}

/// Number of leading indices in `0..len` whose id satisfies `before` (ids ascend with the index).
fn partition(len: usize, id: &impl Fn(usize) -> u64, before: impl Fn(u64) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(id(mid)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Declares a connection type over a node type with `edges`, `nodes` and `pageInfo`.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(Clone)]
        pub(crate) struct $conn {
            pub items: Vec<(String, $node)>,
            pub page_info: crate::shopify::objects::PageInfo,
        }

        #[derive(Clone, async_graphql::SimpleObject)]
        pub(crate) struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[async_graphql::Object]
        impl $conn {
            async fn edges(&self) -> Vec<$edge> {
                self.items.iter().map(|(cursor, node)| $edge { cursor: cursor.clone(), node: node.clone() }).collect()
            }

            async fn nodes(&self) -> Vec<$node> {
                self.items.iter().map(|(_, node)| node.clone()).collect()
            }

            async fn page_info(&self) -> &crate::shopify::objects::PageInfo {
                &self.page_info
            }
        }

        impl $conn {
            pub(crate) fn new(paged: &crate::shopify::connection::Paged, items: Vec<(u64, $node)>) -> Self {
                let items: Vec<(String, $node)> =
                    items.into_iter().map(|(id, node)| (crate::shopify::connection::encode_cursor(id), node)).collect();
                let page_info = crate::shopify::objects::PageInfo {
                    has_next_page: paged.has_next,
                    has_previous_page: paged.has_previous,
                    start_cursor: items.first().map(|i| i.0.clone()),
                    end_cursor: items.last().map(|i| i.0.clone()),
                };
                $conn { items, page_info }
            }
        }
    };
}

pub(crate) use connection;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(123_456)).ok(), Some(123_456));
        assert!(decode_cursor("not-a-cursor").is_err());
        assert!(decode_cursor(&base64::engine::general_purpose::STANDARD.encode("{}")).is_err());
    }
}
