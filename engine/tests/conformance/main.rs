//! The store conformance suite: every test function runs against both stores, SQLite and
//! PostgreSQL, and covers the engine invariants of DESIGN.md.

mod gated;
mod harness;

mod append_only;
mod audit;
mod claims;
mod failures;
mod keys;
mod panics;
mod projection;
mod queueing;
mod resume;
mod versions;
mod waits;

/// Generates one `#[tokio::test]` per backend for each listed case `module::function(h: Harness)`.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::harness::Harness::new(dongbo_tests::Backend::Sqlite).await.expect("sqlite");
                    crate::$module::$case(h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::harness::Harness::new(dongbo_tests::Backend::Postgres).await else { return };
                    crate::$module::$case(h).await;
                }
            )*
        }
    };
}

conformance!(
    claims::a_step_commits_its_writes_with_its_event_or_not_at_all,
    claims::a_worker_whose_lease_was_taken_over_cannot_commit_and_leaves_nothing_behind,
    claims::a_heartbeat_keeps_the_lease_and_a_silent_worker_loses_it_within_one_period,
    claims::a_step_that_keeps_its_lease_leaves_at_least_half_of_it,
    claims::a_step_that_commits_after_failures_resets_their_count,
    claims::a_running_worker_keeps_its_job_from_others_by_heartbeat,
    claims::graceful_shutdown_releases_the_lease_for_an_immediate_resume,
    claims::an_idle_workers_poll_takes_no_write_lock_and_a_due_job_is_still_claimed,
    claims::a_thousand_jobs_on_four_workers_with_separate_pools_run_exactly_once,
    claims::the_live_feed_announces_each_append,
    keys::one_idempotency_key_makes_one_job,
    keys::racing_requests_with_one_idempotency_key_make_one_job,
    keys::a_concurrency_key_lets_only_one_job_run_at_a_time,
    keys::an_invalid_input_is_refused_with_a_clear_error_and_writes_nothing,
    keys::an_example_at_its_work_limit_is_accepted,
    failures::transient_failures_back_off_exponentially_on_the_injected_clock,
    failures::a_permanent_error_fails_the_job_with_its_reason,
    failures::retries_give_up_after_the_attempt_limit,
    failures::a_cancel_stops_a_running_job_at_the_next_step_boundary,
    failures::a_cancel_of_a_waiting_job_is_immediate,
    projection::rebuilding_the_projection_from_the_log_reproduces_it_exactly,
    projection::random_histories_rebuild_to_the_same_projection,
    projection::sequence_numbers_are_contiguous_and_steps_are_reported,
    audit::a_jobs_events_and_events_by_type_and_time_are_queryable,
    audit::the_audit_index_finds_the_jobs_that_touched_an_entity,
    audit::a_step_payload_lists_a_bounded_sample_of_what_it_touched_and_the_index_holds_all,
    audit::pruning_removes_old_finished_events_in_batches_and_keeps_rows,
    audit::a_prune_age_beyond_the_calendar_is_refused_clearly,
    versions::an_old_checkpoint_is_upgraded_by_a_newer_workflow,
    versions::a_checkpoint_the_binary_cannot_read_fails_the_job_clearly,
    panics::a_panicking_step_is_a_failed_step_with_its_message_and_is_retried,
    panics::a_step_that_always_panics_fails_the_job_when_its_attempts_run_out,
    panics::a_cancel_lands_on_a_job_whose_step_panicked,
    panics::other_jobs_keep_running_beside_a_panicking_one,
    panics::a_dead_run_stops_its_heartbeat_and_its_lease_runs_out,
    panics::the_supervisor_restarts_a_worker_loop_that_died,
    append_only::the_database_refuses_to_change_or_delete_an_event_and_only_the_prune_deletes,
    append_only::a_position_is_never_handed_out_twice_even_after_the_prune_removes_old_streams,
    resume::a_failed_job_resumes_from_its_checkpoint_and_ends_with_exact_counts,
    resume::a_cancelled_job_resumes_and_a_running_one_cannot,
    resume::a_rerun_is_a_new_job_with_the_same_input_that_points_back,
    queueing::a_request_with_another_input_waits_behind_the_unfinished_job_of_its_key,
    queueing::a_free_worker_claims_webhook_then_manual_then_scheduled_work,
    queueing::waiting_scheduled_work_ages_past_fresh_webhook_work,
    queueing::no_two_jobs_of_one_key_run_at_once_however_many_workers_race,
    waits::a_waiting_job_is_not_claimed_before_its_time_and_is_claimed_after,
    waits::waits_never_count_against_the_retry_limit,
    waits::a_kill_during_the_wait_loses_nothing,
    waits::a_waiting_job_keeps_its_key_and_a_cancel_ends_it_at_once,
    waits::a_finish_hook_sees_each_ended_job_and_wake_ends_a_wait_early,
    waits::a_job_cancelled_while_nobody_runs_it_calls_the_finish_hooks_once,
);

/// The guards of the engine-core refactor (issue 17, item 0).
mod guards;
