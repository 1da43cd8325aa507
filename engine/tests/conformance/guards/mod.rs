//! Guards for the engine-core refactor (issue 17, item 0): what a rewrite of the append path, the
//! projection or the drivers would most easily break, on both stores, through the public store
//! interface only.
//!
//! - [`atomicity`]: a step's effects see its own `StepCompleted` (and audit entries) through the
//!   transaction they were handed, and another connection does not.
//! - [`fencing`]: one test per fencing guard (a stale sequence under a valid lease, a valid sequence
//!   under a stale lease), on both append paths, and a commit repeated after its reply was lost.
//! - [`fold`]: the projection equals the fold of the log after it was damaged and rebuilt, and
//!   earlier events stay byte for byte across resume, cancel and prune.

mod atomicity;
mod fencing;
mod fold;
mod proxy;

/// One `#[tokio::test]` per backend for each `module::case(h: Harness)` of this folder.
macro_rules! guards {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::harness::Harness::new(dongbo_tests::Backend::Sqlite).await.expect("sqlite");
                    super::$module::$case(h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::harness::Harness::new(dongbo_tests::Backend::Postgres).await else { return };
                    super::$module::$case(h).await;
                }
            )*
        }
    };
}

guards!(
    atomicity::an_effect_sees_its_own_step_through_its_transaction_and_not_through_another_connection,
    fencing::a_stale_sequence_under_a_valid_lease_is_fenced_and_leaves_nothing,
    fencing::a_valid_sequence_under_a_stale_lease_is_fenced_and_leaves_nothing,
    fencing::a_committed_append_repeated_is_fenced_and_appends_nothing_twice,
    fold::a_damaged_projection_rebuilds_to_the_fold_of_the_log,
    fold::earlier_events_stay_byte_for_byte_across_resume_cancel_and_prune,
);

/// PostgreSQL only: the connection to the server is cut after the commit and before its reply.
mod postgres_lost_reply {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_whose_reply_was_lost_is_not_appended_twice_one_statement() {
        let Some(h) = crate::harness::Harness::new(dongbo_tests::Backend::Postgres).await else { return };
        super::fencing::a_commit_whose_reply_was_lost_is_not_appended_twice(h, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_whose_reply_was_lost_is_not_appended_twice_in_a_transaction() {
        let Some(h) = crate::harness::Harness::new(dongbo_tests::Backend::Postgres).await else { return };
        super::fencing::a_commit_whose_reply_was_lost_is_not_appended_twice(h, true).await;
    }
}
