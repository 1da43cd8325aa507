//! The Nhanh token's store on both backends: the sealed token (never in the clear), the choice
//! between the environment's token and the stored one, the last check with its covered depots,
//! one-time OAuth states and depot names.

use dongbo_engine::Db;
use dongbo_tests::Backend;
use dongbo_workflows::catalog::store::credentials::*;
use dongbo_workflows::catalog::store::pulls::list_depots;
use dongbo_workflows::connectors::Secret;
use dongbo_workflows::nhanh_token::{choose, Choice, SealingKey, TokenSource, NOTICE};
use dongbo_workflows::notices::NoticeLevel;
use dongbo_workflows::Upstreams;

async fn db(backend: Backend) -> Option<(dongbo_tests::TestDb, Db)> {
    let t = dongbo_tests::fresh_db(backend).await?;
    let store = dongbo_workflows::open(&t.url).await.expect("open store");
    let db = store.db();
    Some((t, db))
}

fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + Copy + 'a {
    move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
}

async fn a_stored_token_is_sealed_and_opens_only_with_its_key(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    assert!(matches!(choose(vars(&[]), &db).await.unwrap(), Choice::None));

    let key_text = SealingKey::generate_base64();
    let key = SealingKey::parse(&key_text).unwrap();
    let token = Secret::new("tok-stored-0123456789");
    let row = SealedTokenRow {
        sealed: key.seal(&token).unwrap(),
        business_id: "8801".into(),
        granted_at: 1_800_000_000,
        expires_at: Some(1_831_536_000),
    };
    save_token(&db, &row).await.unwrap();
    let loaded = load_token(&db).await.unwrap().expect("a stored token");
    assert_eq!(loaded, row);
    assert!(!String::from_utf8_lossy(&loaded.sealed).contains("0123456789"), "stored in the clear");
    assert!(!format!("{loaded:?}").contains("0123456789"));

    // With its key the stored token is used, with the business id stored beside it.
    let with_key = [("DONGBO_SECRET_KEY", key_text.as_str())];
    match choose(vars(&with_key), &db).await.unwrap() {
        Choice::Token(c) => {
            assert_eq!(c.token.expose(), "tok-stored-0123456789");
            assert_eq!(c.business_id.as_deref(), Some("8801"));
            assert_eq!(c.source, TokenSource::Stored);
        }
        other => panic!("expected the stored token, got {other:?}"),
    }
    // The environment's token wins.
    let env = [("DONGBO_SECRET_KEY", key_text.as_str()), ("NHANH_ACCESS_TOKEN", "tok-env")];
    match choose(vars(&env), &db).await.unwrap() {
        Choice::Token(c) => assert_eq!((c.token.expose(), c.source), ("tok-env", TokenSource::Environment)),
        other => panic!("expected the environment's token, got {other:?}"),
    }
    // Without the key, or with another one, the stored token cannot be used, and that is said.
    match choose(vars(&[]), &db).await.unwrap() {
        Choice::Unusable(why) => assert!(why.contains("DONGBO_SECRET_KEY is not set"), "{why}"),
        other => panic!("expected unusable, got {other:?}"),
    }
    let other_key = SealingKey::generate_base64();
    match choose(vars(&[("DONGBO_SECRET_KEY", other_key.as_str())]), &db).await.unwrap() {
        Choice::Unusable(why) => {
            assert!(why.contains("does not open with this DONGBO_SECRET_KEY"), "{why}");
            assert!(!why.contains(&other_key));
        }
        other => panic!("expected unusable, got {other:?}"),
    }
}

async fn a_new_token_replaces_the_old_and_forgets_its_check(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    assert_eq!(last_check(&db).await.unwrap(), None);
    let key = SealingKey::parse(&SealingKey::generate_base64()).unwrap();
    let row = |t: &str, b: &str| SealedTokenRow {
        sealed: key.seal(&Secret::new(t)).unwrap(),
        business_id: b.into(),
        granted_at: 1,
        expires_at: None,
    };
    save_token(&db, &row("old", "1")).await.unwrap();
    let check = TokenCheckRow { expires_at: 2_000_000_000, checked_at: 1_900_000_000, depot_ids: vec![3, 1, 2] };
    record_check(&db, &check).await.unwrap();
    let got = last_check(&db).await.unwrap().unwrap();
    assert_eq!(got.depot_ids, vec![1, 2, 3]);
    assert_eq!((got.expires_at, got.checked_at), (2_000_000_000, 1_900_000_000));
    // A later check replaces the coverage.
    record_check(&db, &TokenCheckRow { depot_ids: vec![2], ..check }).await.unwrap();
    assert_eq!(last_check(&db).await.unwrap().unwrap().depot_ids, vec![2]);

    save_token(&db, &row("new", "2")).await.unwrap();
    let stored = load_token(&db).await.unwrap().unwrap();
    assert_eq!(key.open(&stored.sealed).unwrap().expose(), "new");
    assert_eq!(stored.business_id, "2");
    assert_eq!(last_check(&db).await.unwrap(), None, "the old token's check outlived it");
}

async fn an_oauth_state_works_once_and_only_while_fresh(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    issue_oauth_state(&db, "s1", 1000, 400).await.unwrap();
    issue_oauth_state(&db, "s2", 1000, 400).await.unwrap();
    assert!(!take_oauth_state(&db, "forged", 0).await.unwrap());
    assert!(take_oauth_state(&db, "s1", 400).await.unwrap());
    assert!(!take_oauth_state(&db, "s1", 400).await.unwrap(), "a state was used twice");
    // Too old: refused, and used up anyway.
    assert!(!take_oauth_state(&db, "s2", 1001).await.unwrap());
    assert!(!take_oauth_state(&db, "s2", 0).await.unwrap());
    // Issuing forgets stale states.
    issue_oauth_state(&db, "s3", 100, 0).await.unwrap();
    issue_oauth_state(&db, "s4", 2000, 1500).await.unwrap();
    assert!(!take_oauth_state(&db, "s3", 0).await.unwrap());
    assert!(take_oauth_state(&db, "s4", 0).await.unwrap());
}

async fn depot_names_are_stored_by_id(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    save_depot_names(&db, &[(7, "Kho Hà Nội".into()), (9, "Kho HCM".into())]).await.unwrap();
    save_depot_names(&db, &[(7, "Kho Hà Nội 2".into())]).await.unwrap();
    let depots: Vec<(u64, Option<String>)> =
        list_depots(&db).await.unwrap().into_iter().map(|d| (d.id, d.name)).collect();
    assert_eq!(depots, vec![(7, Some("Kho Hà Nội 2".into())), (9, Some("Kho HCM".into()))]);
}

async fn the_nhanh_client_falls_back_to_the_stored_token(backend: Backend) {
    let Some((_t, db)) = db(backend).await else { return };
    let key_text = SealingKey::generate_base64();
    let base = [("NHANH_BASE_URL", "http://127.0.0.1:9"), ("NHANH_APP_ID", "77")];
    let (up, note) = Upstreams::from_vars_or_store(vars(&base), &db).await.unwrap();
    assert!(up.nhanh.is_none() && note.is_none(), "no token anywhere, yet a client");

    let key = SealingKey::parse(&key_text).unwrap();
    let row = SealedTokenRow {
        sealed: key.seal(&Secret::new("tok-fallback")).unwrap(),
        business_id: "8801".into(),
        granted_at: 1,
        expires_at: None,
    };
    save_token(&db, &row).await.unwrap();
    let with_key = [base[0], base[1], ("DONGBO_SECRET_KEY", key_text.as_str())];
    let (up, note) = Upstreams::from_vars_or_store(vars(&with_key), &db).await.unwrap();
    assert!(note.is_none());
    let client = up.nhanh.expect("a client on the stored token");
    assert!(!format!("{client:?}").contains("tok-fallback"), "the token is printable: {client:?}");
    assert!(format!("{client:?}").contains("8801"), "the stored business id is not used: {client:?}");

    // Without the key Nhanh stays unconfigured, and the reason is a notice as well.
    let (up, note) = Upstreams::from_vars_or_store(vars(&base), &db).await.unwrap();
    assert!(up.nhanh.is_none());
    let note = note.expect("a reason");
    assert!(note.contains("DONGBO_SECRET_KEY is not set"), "{note}");
    let notice = up.notices.get(NOTICE).expect("a nhanh_token notice");
    assert_eq!((notice.level, notice.message), (NoticeLevel::Error, note));
}

dongbo_tests::on_both_stores!(
    a_stored_token_is_sealed_and_opens_only_with_its_key,
    a_new_token_replaces_the_old_and_forgets_its_check,
    an_oauth_state_works_once_and_only_while_fresh,
    depot_names_are_stored_by_id,
    the_nhanh_client_falls_back_to_the_stored_token,
);
