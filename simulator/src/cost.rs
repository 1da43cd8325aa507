//! The Shopify cost model, pure over a parsed GraphQL document.
//!
//! Rules (Shopify publishes only approximations; these are the simulator's exact ones):
//! - a scalar or enum field costs 0; `__typename` and introspection fields cost 0;
//! - an object field costs 1 plus its selection;
//! - a connection (a field whose selection holds `edges`, `nodes` or `pageInfo`) costs
//!   `2 + n × node`, where `n` is its `first`/`last` argument (0 if absent) and `node` is 1 plus
//!   the node's selection (the larger of the `edges { node }` and `nodes` paths; `edges`,
//!   `cursor` and `pageInfo` are free); nested connections multiply;
//! - each root field of a mutation costs 10, its payload selection is free.
//!
//! The *requested* cost uses the arguments; the *actual* cost walks the reply and uses the real
//! number of nodes at each connection (and 0 for an object that came back null), capped at the
//! requested cost. `@skip`/`@include` are not evaluated (the field is counted).

use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql_value::{ConstValue, Value as AstValue};
use serde_json::Value as Json;

/// Points a root mutation field costs.
pub(crate) const MUTATION_COST: u64 = 10;

/// Recursion guard for documents that have not been validated yet (fragment cycles).
const MAX_DEPTH: usize = 64;

/// The operation a request runs: by name, or the only one.
pub(crate) fn select_operation<'a>(doc: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    let mut ops = doc.operations.iter();
    match name {
        Some(name) => ops.find(|(n, _)| n.map(|n| n.as_str()) == Some(name)).map(|(_, op)| &op.node),
        None => {
            let first = ops.next()?;
            if ops.next().is_some() {
                return None;
            }
            Some(&first.1.node)
        }
    }
}

/// Names of the root fields of an operation (for request statistics).
pub(crate) fn root_fields(doc: &ExecutableDocument, op: &OperationDefinition) -> Vec<String> {
    let walker = Walker { doc, vars: &Json::Null, op };
    let mut out = Vec::new();
    walker.fields(&op.selection_set.node, 0, &mut out);
    out.into_iter().map(|f| f.name.node.to_string()).collect()
}

/// Cost before execution, from the arguments.
pub(crate) fn requested_cost(doc: &ExecutableDocument, op: &OperationDefinition, vars: &Json) -> u64 {
    Walker { doc, vars, op }.operation(None)
}

/// Cost after execution, from the reply's `data`, never above the requested cost.
pub(crate) fn actual_cost(doc: &ExecutableDocument, op: &OperationDefinition, vars: &Json, data: &Json) -> u64 {
    let walker = Walker { doc, vars, op };
    walker.operation(Some(data)).min(walker.operation(None))
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    vars: &'a Json,
    op: &'a OperationDefinition,
}

/// What the walk knows of the reply: nothing (requested cost) or the value at this place.
#[derive(Clone, Copy)]
enum Reply<'a> {
    Unknown,
    Known(Option<&'a Json>),
}

impl<'a> Reply<'a> {
    fn child(self, key: &str) -> Reply<'a> {
        match self {
            Reply::Unknown => Reply::Unknown,
            Reply::Known(v) => Reply::Known(v.and_then(|v| v.get(key))),
        }
    }

    fn is_null(self) -> bool {
        matches!(self, Reply::Known(None) | Reply::Known(Some(Json::Null)))
    }
}

impl<'a> Walker<'a> {
    fn operation(&self, data: Option<&'a Json>) -> u64 {
        let reply = match data {
            None => Reply::Unknown,
            Some(d) => Reply::Known(Some(d)),
        };
        let set = &self.op.selection_set.node;
        if self.op.ty == OperationType::Mutation {
            let mut fields = Vec::new();
            self.fields(set, 0, &mut fields);
            return fields.iter().filter(|f| !f.name.node.starts_with("__")).count() as u64 * MUTATION_COST;
        }
        self.selection(set, reply, 0)
    }

    /// The fields of a selection with fragments spread in.
    fn fields(&self, set: &'a SelectionSet, depth: usize, out: &mut Vec<&'a Field>) {
        if depth > MAX_DEPTH {
            return;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => out.push(&f.node),
                Selection::InlineFragment(frag) => self.fields(&frag.node.selection_set.node, depth + 1, out),
                Selection::FragmentSpread(spread) => {
                    if let Some(def) = self.doc.fragments.get(&spread.node.fragment_name.node) {
                        self.fields(&def.node.selection_set.node, depth + 1, out);
                    }
                }
            }
        }
    }

    fn selection(&self, set: &'a SelectionSet, reply: Reply<'a>, depth: usize) -> u64 {
        let mut fields = Vec::new();
        self.fields(set, depth, &mut fields);
        fields
            .iter()
            .map(|f| self.field(f, reply.child(f.response_key().node.as_str()), depth + 1))
            .fold(0u64, u64::saturating_add)
    }

    fn field(&self, field: &'a Field, reply: Reply<'a>, depth: usize) -> u64 {
        if depth > MAX_DEPTH || field.name.node.starts_with("__") {
            return 0;
        }
        let set = &field.selection_set.node;
        if set.items.is_empty() || reply.is_null() {
            return 0;
        }
        let mut children = Vec::new();
        self.fields(set, depth, &mut children);
        let is_connection = children.iter().any(|f| matches!(f.name.node.as_str(), "edges" | "nodes" | "pageInfo"));
        if !is_connection {
            return match reply {
                Reply::Known(Some(Json::Array(items))) => items
                    .iter()
                    .map(|item| 1 + self.selection(set, Reply::Known(Some(item)), depth))
                    .fold(0, u64::saturating_add),
                _ => 1u64.saturating_add(self.selection(set, reply, depth)),
            };
        }
        match reply {
            Reply::Unknown => {
                let n = self.page_size(field);
                let node = self.node_cost(&children, Reply::Unknown, None, depth);
                2u64.saturating_add(n.saturating_mul(node))
            }
            Reply::Known(_) => {
                let count = children
                    .iter()
                    .filter(|f| matches!(f.name.node.as_str(), "edges" | "nodes"))
                    .filter_map(|f| match reply.child(f.response_key().node.as_str()) {
                        Reply::Known(Some(Json::Array(items))) => Some(items.len()),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                (0..count).map(|i| self.node_cost(&children, reply, Some(i), depth)).fold(2, u64::saturating_add)
            }
        }
    }

    /// Cost of one node of a connection: the larger of its `edges { node }` and `nodes` paths.
    fn node_cost(&self, children: &[&'a Field], reply: Reply<'a>, index: Option<usize>, depth: usize) -> u64 {
        let at = |r: Reply<'a>| match (r, index) {
            (Reply::Known(Some(Json::Array(items))), Some(i)) => Reply::Known(items.get(i)),
            (Reply::Known(_), _) => Reply::Known(None),
            (Reply::Unknown, _) => Reply::Unknown,
        };
        let mut best = 0;
        for child in children {
            let key = child.response_key().node.as_str();
            let cost = match child.name.node.as_str() {
                "nodes" => {
                    let node = at(reply.child(key));
                    if node.is_null() {
                        0
                    } else {
                        1 + self.selection(&child.selection_set.node, node, depth + 1)
                    }
                }
                "edges" => {
                    let edge = at(reply.child(key));
                    let mut inner = Vec::new();
                    self.fields(&child.selection_set.node, depth + 1, &mut inner);
                    inner
                        .iter()
                        .filter(|f| f.name.node.as_str() == "node")
                        .map(|f| {
                            let node = edge.child(f.response_key().node.as_str());
                            if node.is_null() {
                                0
                            } else {
                                1 + self.selection(&f.selection_set.node, node, depth + 2)
                            }
                        })
                        .fold(0, u64::saturating_add)
                }
                _ => 0,
            };
            best = best.max(cost);
        }
        best
    }

    /// `first` or `last` of a connection field, variables resolved.
    fn page_size(&self, field: &Field) -> u64 {
        let arg = field.get_argument("first").or_else(|| field.get_argument("last"));
        let Some(arg) = arg else { return 0 };
        match &arg.node {
            AstValue::Number(n) => n.as_u64().unwrap_or(0),
            AstValue::Variable(name) => {
                if let Some(v) = self.vars.get(name.as_str()).and_then(Json::as_u64) {
                    return v;
                }
                self.op
                    .variable_definitions
                    .iter()
                    .find(|d| d.node.name.node == *name)
                    .and_then(|d| d.node.default_value.as_ref())
                    .and_then(|v| match &v.node {
                        ConstValue::Number(n) => n.as_u64(),
                        _ => None,
                    })
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(query: &str, vars: Json, data: Option<Json>, expect_requested: u64, expect_actual: u64) {
        let doc = async_graphql::parser::parse_query(query).expect("test query parses");
        let op = select_operation(&doc, None).expect("one operation");
        assert_eq!(requested_cost(&doc, op, &vars), expect_requested, "requested: {query}");
        let data = data.unwrap_or(Json::Null);
        assert_eq!(actual_cost(&doc, op, &vars, &data), expect_actual, "actual: {query}");
    }

    #[test]
    fn scalars_are_free_and_objects_cost_one() {
        check("{ shop { name } }", json!({}), Some(json!({"shop": {"name": "x"}})), 1, 1);
        check("{ __typename }", json!({}), None, 0, 0);
        check("{ productsCount { count } }", json!({}), Some(json!({"productsCount": null})), 1, 0);
    }

    #[test]
    fn a_connection_costs_two_plus_first_times_its_node() {
        let q = "{ customers(first: 100) { pageInfo { hasNextPage } edges { cursor node { id amountSpent { amount } } } } }";
        let data = json!({"customers": {"pageInfo": {"hasNextPage": false}, "edges": [
            {"cursor": "a", "node": {"id": "1", "amountSpent": {"amount": "1"}}},
            {"cursor": "b", "node": {"id": "2", "amountSpent": null}}]}});
        check(q, json!({}), Some(data), 2 + 100 * 2, 2 + 2 + 1);
    }

    #[test]
    fn nested_connections_multiply_and_variables_are_resolved() {
        let q = "query($n: Int!, $m: Int = 10) { products(first: $n) { nodes { id variants(first: $m) { edges { node { id inventoryItem { id } } } } } } }";
        check(q, json!({"n": 50}), None, 2 + 50 * (1 + 2 + 10 * 2), 0);
    }

    #[test]
    fn fragments_and_aliases_are_followed() {
        let q = "query { a: locations(first: 5) { ...L } } fragment L on LocationConnection { edges { node { id } } }";
        let data = json!({"a": {"edges": [{"node": {"id": "1"}}]}});
        check(q, json!({}), Some(data), 2 + 5, 3);
    }

    #[test]
    fn each_mutation_root_field_costs_ten() {
        let q = "mutation { a: metafieldsSet(metafields: []) { userErrors { field } } b: metafieldsSet(metafields: []) { metafields { id } } }";
        check(q, json!({}), Some(json!({})), 20, 20);
    }

    #[test]
    fn a_fragment_cycle_does_not_recurse_forever() {
        let q = "query { shop { ...A } } fragment A on Shop { ...A }";
        check(q, json!({}), None, 1, 0);
    }
}
