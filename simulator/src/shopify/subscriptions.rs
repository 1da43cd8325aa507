//! Webhook subscriptions: `webhookSubscriptions`, `webhookSubscriptionCreate` and
//! `webhookSubscriptionUpdate` (shopify.dev/docs/api/admin-graphql/latest/mutations/webhookSubscriptionCreate),
//! enough for `dongbo webhooks register` and `list`. Only the subscriptions are kept here; the
//! simulator's sending of webhooks lives elsewhere.
//!
//! Like Shopify, one subscription per topic and address: creating a second one for the same
//! topic and `uri` is a userError ("Address for this topic has already been taken").

use std::sync::{Arc, Mutex};

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use super::connection::{connection, paginate, PageArgs};
use crate::gid::gid;

/// The topics the simulator knows (a subset of Shopify's enum; requests are checked against
/// the real schema first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub(crate) enum WebhookSubscriptionTopic {
    AppUninstalled,
    CustomersCreate,
    CustomersDelete,
    CustomersUpdate,
    InventoryLevelsUpdate,
    OrdersPaid,
    ProductsCreate,
    ProductsDelete,
    ProductsUpdate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
pub(crate) enum WebhookSubscriptionFormat {
    Json,
    Xml,
}

#[derive(Clone, Debug, SimpleObject)]
pub(crate) struct WebhookSubscription {
    pub id: ID,
    pub topic: WebhookSubscriptionTopic,
    pub uri: String,
    pub format: WebhookSubscriptionFormat,
}

connection!(WebhookSubscriptionConnection, WebhookSubscriptionEdge, WebhookSubscription);

#[derive(InputObject)]
pub(crate) struct WebhookSubscriptionInput {
    pub uri: Option<String>,
    pub callback_url: Option<String>,
    pub format: Option<WebhookSubscriptionFormat>,
    pub filter: Option<String>,
    pub include_fields: Option<Vec<String>>,
    pub metafield_namespaces: Option<Vec<String>>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, SimpleObject)]
pub(crate) struct UserError {
    pub field: Option<Vec<String>>,
    pub message: String,
}

#[derive(Clone, Debug, SimpleObject)]
pub(crate) struct WebhookSubscriptionCreatePayload {
    pub webhook_subscription: Option<WebhookSubscription>,
    pub user_errors: Vec<UserError>,
}

#[derive(Clone, Debug, SimpleObject)]
pub(crate) struct WebhookSubscriptionUpdatePayload {
    pub webhook_subscription: Option<WebhookSubscription>,
    pub user_errors: Vec<UserError>,
}

/// The shop's subscriptions (schema data).
#[derive(Default)]
pub(crate) struct Subscriptions {
    rows: Mutex<Vec<(u64, WebhookSubscription)>>,
    next: Mutex<u64>,
}

impl Subscriptions {
    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<(u64, WebhookSubscription)>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn subs<'a>(ctx: &'a Context<'_>) -> Result<&'a Arc<Subscriptions>> {
    ctx.data::<Arc<Subscriptions>>()
}

/// The address of an input: `uri`, else the deprecated `callbackUrl`.
fn address(input: &WebhookSubscriptionInput) -> std::result::Result<String, UserError> {
    let uri = input.uri.clone().or_else(|| input.callback_url.clone()).unwrap_or_default();
    let ok = uri.starts_with("https://")
        || uri.starts_with("http://")
        || uri.starts_with("pubsub://")
        || uri.starts_with("arn:");
    if ok {
        Ok(uri)
    } else {
        Err(UserError {
            field: Some(vec!["webhookSubscription".into(), "uri".into()]),
            message: "Address is invalid".into(),
        })
    }
}

fn taken(rows: &[(u64, WebhookSubscription)], topic: WebhookSubscriptionTopic, uri: &str, except: Option<u64>) -> bool {
    rows.iter().any(|(n, s)| Some(*n) != except && s.topic == topic && s.uri == uri)
}

pub(crate) struct SubscriptionQueries;

#[Object]
impl SubscriptionQueries {
    async fn webhook_subscriptions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        reverse: Option<bool>,
    ) -> Result<WebhookSubscriptionConnection> {
        let rows = subs(ctx)?.rows().clone();
        let args = PageArgs { first, after, last, before, reverse: reverse.unwrap_or(false) };
        let paged = paginate(ctx, &args, false, rows.len(), |i| rows[i].0, |_| true)?;
        let items = paged.rows.iter().map(|&i| rows[i].clone()).collect();
        Ok(WebhookSubscriptionConnection::new(&paged, items))
    }
}

pub(crate) struct SubscriptionMutations;

#[Object]
impl SubscriptionMutations {
    async fn webhook_subscription_create(
        &self,
        ctx: &Context<'_>,
        topic: WebhookSubscriptionTopic,
        webhook_subscription: WebhookSubscriptionInput,
    ) -> Result<WebhookSubscriptionCreatePayload> {
        let store = subs(ctx)?;
        let uri = match address(&webhook_subscription) {
            Ok(uri) => uri,
            Err(e) => return Ok(WebhookSubscriptionCreatePayload { webhook_subscription: None, user_errors: vec![e] }),
        };
        let mut rows = store.rows();
        if taken(&rows, topic, &uri, None) {
            let e = UserError {
                field: Some(vec!["webhookSubscription".into(), "callbackUrl".into()]),
                message: "Address for this topic has already been taken".into(),
            };
            return Ok(WebhookSubscriptionCreatePayload { webhook_subscription: None, user_errors: vec![e] });
        }
        let n = {
            let mut next = store.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            9_900_000_000 + *next
        };
        let sub = WebhookSubscription {
            id: ID(gid("WebhookSubscription", n)),
            topic,
            uri,
            format: webhook_subscription.format.unwrap_or(WebhookSubscriptionFormat::Json),
        };
        rows.push((n, sub.clone()));
        Ok(WebhookSubscriptionCreatePayload { webhook_subscription: Some(sub), user_errors: vec![] })
    }

    async fn webhook_subscription_update(
        &self,
        ctx: &Context<'_>,
        id: ID,
        webhook_subscription: WebhookSubscriptionInput,
    ) -> Result<WebhookSubscriptionUpdatePayload> {
        let store = subs(ctx)?;
        let fail = |field: &str, message: &str| WebhookSubscriptionUpdatePayload {
            webhook_subscription: None,
            user_errors: vec![UserError { field: Some(vec![field.into()]), message: message.into() }],
        };
        let mut rows = store.rows();
        let Some(index) = rows.iter().position(|(_, s)| s.id == id) else {
            return Ok(fail("id", "Webhook subscription does not exist"));
        };
        let uri = match address(&webhook_subscription) {
            Ok(uri) => uri,
            Err(e) => return Ok(WebhookSubscriptionUpdatePayload { webhook_subscription: None, user_errors: vec![e] }),
        };
        let (n, topic) = (rows[index].0, rows[index].1.topic);
        if taken(&rows, topic, &uri, Some(n)) {
            return Ok(fail("callbackUrl", "Address for this topic has already been taken"));
        }
        let sub = &mut rows[index].1;
        sub.uri = uri;
        if let Some(format) = webhook_subscription.format {
            sub.format = format;
        }
        Ok(WebhookSubscriptionUpdatePayload { webhook_subscription: Some(sub.clone()), user_errors: vec![] })
    }
}
