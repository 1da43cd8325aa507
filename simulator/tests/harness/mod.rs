//! Starts a simulator on free ports and speaks to it over real HTTP.
#![allow(dead_code)]

use dongbo_simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

pub const VERSION: &str = "2025-10";

pub struct Harness {
    pub sim: Simulator,
    pub http: reqwest::Client,
}

/// A small world: enough rows for several pages everywhere.
pub fn small() -> SimConfig {
    SimConfig { products: 600, customers: 1_500, ..SimConfig::default() }
}

pub async fn start(config: SimConfig) -> Harness {
    let sim = Simulator::start(config, "127.0.0.1:0", "127.0.0.1:0").await.expect("simulator starts");
    // No pooled connections: an idle pool keeps a timer, which would move paused time.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    Harness { sim, http }
}

impl Harness {
    /// POSTs to a Nhanh endpoint with the right credentials; returns the JSON reply.
    pub async fn nhanh(&self, path: &str, body: Value) -> Value {
        let c = self.sim.credentials();
        let (status, reply) =
            self.nhanh_as(path, &c.nhanh_app_id, &c.nhanh_business_id, Some(&c.nhanh_access_token), body).await;
        assert_eq!(status, 200, "{reply}");
        reply
    }

    pub async fn nhanh_as(
        &self,
        path: &str,
        app_id: &str,
        business_id: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let url = format!("{}{path}?appId={app_id}&businessId={business_id}", self.sim.nhanh_base_url());
        let mut request = self.http.post(url).json(&body);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let response = request.send().await.expect("nhanh request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("nhanh JSON"))
    }

    /// Runs a GraphQL document with the right token; returns the JSON reply.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let token = self.sim.credentials().shopify_access_token.clone();
        let (status, reply) = self.gql_as(Some(&token), json!({"query": query, "variables": variables})).await;
        assert_eq!(status, 200, "{reply}");
        reply
    }

    pub async fn gql_as(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let url = format!("{}/admin/api/{VERSION}/graphql.json", self.sim.shopify_shop_url());
        let mut request = self.http.post(url).json(&body);
        if let Some(token) = token {
            request = request.header("X-Shopify-Access-Token", token);
        }
        let response = request.send().await.expect("shopify request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("shopify JSON"))
    }

    /// Walks a Nhanh list endpoint by `next` cursors; returns every row's id.
    pub async fn walk_nhanh(&self, path: &str, id_field: &str, size: usize, filters: Value) -> Vec<u64> {
        let mut ids = Vec::new();
        let mut next = Value::Null;
        loop {
            // Each list's documented sort key; `customer/list` documents none (its default order
            // is newest first).
            let mut paginator = match path {
                p if p.ends_with("customer/list") => json!({"size": size}),
                p if p.ends_with("product/inventory") => json!({"size": size, "sort": {"productId": "asc"}}),
                _ => json!({"size": size, "sort": {"id": "asc"}}),
            };
            if !next.is_null() {
                paginator["next"] = next.clone();
            }
            let reply = self.nhanh(path, json!({"filters": filters, "paginator": paginator})).await;
            assert_eq!(reply["code"], 1, "{reply}");
            ids.extend(reply["data"].as_array().expect("data").iter().map(|row| row[id_field].as_u64().expect("id")));
            next = reply["paginator"]["next"].clone();
            if next.is_null() {
                return ids;
            }
        }
    }

    /// Walks a Shopify connection (`customers`, `products`) by cursors; returns every node.
    pub async fn walk_shopify(&self, field: &str, node: &str, first: usize, query: Option<&str>) -> Vec<Value> {
        let document = format!(
            "query($after: String, $q: String) {{ {field}(first: {first}, after: $after, query: $q) {{ pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {node} }} }} }} }}"
        );
        let mut nodes = Vec::new();
        let mut after = Value::Null;
        loop {
            let reply = self.gql(&document, json!({"after": after, "q": query})).await;
            let conn = &reply["data"][field];
            assert!(conn.is_object(), "{reply}");
            nodes.extend(conn["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()));
            if conn["pageInfo"]["hasNextPage"] != json!(true) {
                return nodes;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
    }
}

/// True if no element repeats.
pub fn all_distinct<T: Ord + Clone>(items: &[T]) -> bool {
    let mut sorted = items.to_vec();
    sorted.sort();
    sorted.windows(2).all(|w| w[0] != w[1])
}
