//! `webhookSubscriptionCreate` / `Update` / `webhookSubscriptions` against the simulator (whose
//! every request is checked against Shopify's published schema): registering creates one
//! subscription per topic, registering again changes nothing, a new address updates them all.

use dongbo_simulator::{SimConfig, Simulator};
use dongbo_workflows::webhooks::shopify::TOPICS;
use dongbo_workflows::Upstreams;

#[tokio::test]
async fn registering_creates_then_keeps_then_moves_every_topic() {
    let sim =
        Simulator::start(SimConfig { products: 2, customers: 2, ..SimConfig::default() }, "127.0.0.1:0", "127.0.0.1:0")
            .await
            .unwrap();
    let env = sim.env();
    let up = Upstreams::from_vars(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    let shopify = up.shopify().unwrap();
    assert!(shopify.webhook_subscriptions().await.unwrap().is_empty());

    let first = shopify.register_webhooks(&TOPICS, "https://a.example.vn/api/webhooks/shopify").await.unwrap();
    assert_eq!(first.len(), TOPICS.len());
    assert!(first.iter().all(|(_, what)| *what == "created"), "{first:?}");
    let again = shopify.register_webhooks(&TOPICS, "https://a.example.vn/api/webhooks/shopify").await.unwrap();
    assert!(again.iter().all(|(_, what)| *what == "unchanged"), "{again:?}");
    let moved = shopify.register_webhooks(&TOPICS, "https://b.example.vn/api/webhooks/shopify").await.unwrap();
    assert!(moved.iter().all(|(_, what)| *what == "updated"), "{moved:?}");

    let listed = shopify.webhook_subscriptions().await.unwrap();
    assert_eq!(listed.len(), TOPICS.len());
    let mut topics: Vec<&str> = listed.iter().map(|s| s.topic.as_str()).collect();
    topics.sort_unstable();
    let mut want = TOPICS.to_vec();
    want.sort_unstable();
    assert_eq!(topics, want);
    assert!(listed.iter().all(|s| s.uri == "https://b.example.vn/api/webhooks/shopify" && s.format == "JSON"));
    // A second subscription of a topic to the same address is refused, as Shopify does.
    let e = shopify.webhook_subscription_create("APP_UNINSTALLED", "https://b.example.vn/api/webhooks/shopify").await;
    assert!(e.unwrap_err().to_string().contains("already been taken"));
}
