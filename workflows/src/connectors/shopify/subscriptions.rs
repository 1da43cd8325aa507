//! Webhook subscriptions: `webhookSubscriptions`, `webhookSubscriptionCreate` and
//! `webhookSubscriptionUpdate` (shopify.dev/docs/api/admin-graphql/latest/mutations/webhookSubscriptionCreate).
//!
//! Subscriptions are set with `uri` (the input field of every version dongbo speaks;
//! `callbackUrl` is deprecated) and `format: JSON`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::documents as doc;
use super::mutations::UserError;
use super::types::Connection;
use super::ShopifyClient;
use crate::connectors::error::{ConnectorError, Result};

/// Lists subscriptions, a page at a time.
pub const WEBHOOK_SUBSCRIPTIONS: &str = "query WebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id topic uri format } }
  }
}";

/// Creates a subscription.
pub const WEBHOOK_SUBSCRIPTION_CREATE: &str = "mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri format }
    userErrors { field message }
  }
}";

/// Points an existing subscription elsewhere.
pub const WEBHOOK_SUBSCRIPTION_UPDATE: &str =
    "mutation WebhookSubscriptionUpdate($id: ID!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri format }
    userErrors { field message }
  }
}";

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscription {
    /// `gid://shopify/WebhookSubscription/…`.
    pub id: String,
    /// The topic, e.g. `CUSTOMERS_UPDATE`.
    pub topic: String,
    /// Where deliveries go.
    pub uri: String,
    /// `JSON` or `XML`.
    pub format: String,
}

/// The variables of [`WEBHOOK_SUBSCRIPTIONS`].
pub fn subscriptions_variables(first: u32, after: Option<&str>) -> Value {
    json!({"first": first, "after": after})
}

/// The variables of [`WEBHOOK_SUBSCRIPTION_CREATE`].
pub fn create_variables(topic: &str, uri: &str) -> Value {
    json!({"topic": topic, "webhookSubscription": {"uri": uri, "format": "JSON"}})
}

/// The variables of [`WEBHOOK_SUBSCRIPTION_UPDATE`].
pub fn update_variables(id: &str, uri: &str) -> Value {
    json!({"id": id, "webhookSubscription": {"uri": uri, "format": "JSON"}})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    webhook_subscription: Option<WebhookSubscription>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

fn outcome(call: &str, payload: Option<Payload>) -> Result<WebhookSubscription> {
    let p = payload.ok_or_else(|| ConnectorError::malformed(format!("{call} reply: payload is null")))?;
    if let Some(e) = p.user_errors.first() {
        return Err(ConnectorError::permanent(format!("{call}: Shopify refused: {}", e.message)));
    }
    p.webhook_subscription.ok_or_else(|| ConnectorError::malformed(format!("{call} reply: no subscription")))
}

impl ShopifyClient {
    /// Every webhook subscription of the app.
    pub async fn webhook_subscriptions(&self) -> Result<Vec<WebhookSubscription>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            webhook_subscriptions: Connection<WebhookSubscription>,
        }
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let vars = subscriptions_variables(doc::MAX_FIRST, after.as_deref());
            let estimate = doc::connection_cost(doc::MAX_FIRST, 1);
            let data: Data = self.execute("webhookSubscriptions", WEBHOOK_SUBSCRIPTIONS, vars, estimate).await?;
            let page = data.webhook_subscriptions.into_page(|s| s);
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Subscribes `uri` to `topic` (GraphQL enum form, e.g. `PRODUCTS_UPDATE`).
    pub async fn webhook_subscription_create(&self, topic: &str, uri: &str) -> Result<WebhookSubscription> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            webhook_subscription_create: Option<Payload>,
        }
        let vars = create_variables(topic, uri);
        let data: Data =
            self.execute("webhookSubscriptionCreate", WEBHOOK_SUBSCRIPTION_CREATE, vars, doc::MUTATION_COST).await?;
        outcome("webhookSubscriptionCreate", data.webhook_subscription_create)
    }

    /// Points subscription `id` at `uri`.
    pub async fn webhook_subscription_update(&self, id: &str, uri: &str) -> Result<WebhookSubscription> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            webhook_subscription_update: Option<Payload>,
        }
        let vars = update_variables(id, uri);
        let data: Data =
            self.execute("webhookSubscriptionUpdate", WEBHOOK_SUBSCRIPTION_UPDATE, vars, doc::MUTATION_COST).await?;
        outcome("webhookSubscriptionUpdate", data.webhook_subscription_update)
    }

    /// Makes every topic of `topics` deliver to `uri`: creates the missing subscriptions and
    /// points the others at `uri`. Returns each topic's subscription and what was done
    /// (`created`, `updated` or `unchanged`).
    pub async fn register_webhooks(
        &self,
        topics: &[&str],
        uri: &str,
    ) -> Result<Vec<(WebhookSubscription, &'static str)>> {
        let existing = self.webhook_subscriptions().await?;
        let mut out = Vec::new();
        for topic in topics {
            match existing.iter().find(|s| s.topic == *topic) {
                Some(s) if s.uri == uri => out.push((s.clone(), "unchanged")),
                Some(s) => out.push((self.webhook_subscription_update(&s.id, uri).await?, "updated")),
                None => out.push((self.webhook_subscription_create(topic, uri).await?, "created")),
            }
        }
        Ok(out)
    }
}
