"""The planted bugs of ``make mutants``: one small change each, and the tests that must catch it.

An entry names the file, an exact snippet that must occur there exactly once, its replacement, and the test node
ids to run (a file, a test, or a test with its parameters). When the code under ``tasks/`` changes, a snippet
that no longer occurs makes its mutant "not applicable": re-target the entry (a snippet and a replacement) at the
new code. Grow the list with each feature: every promise should have a mutant its tests are known to kill.

Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``find`` (exactly once in ``file``) becomes ``replace``; ``tests`` must then fail."""

    name: str
    layer: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]
    #: Why it matters, or why it survives when it cannot be killed.
    note: str = ""
    #: Seconds its test run may take before it counts as an error.
    time_bound_s: float = 300.0


CONTRACT = "tests/contract"
LUA = "tasks/backends/redis/lua"
SQL = "tasks/backends/sqlite/sql.py"
SQLITE = "tasks/backends/sqlite/backend.py"
MALFORMED = "tests/contract/test_malformed_records.py"
HOSTILE = "tests/unit/test_hostile_jobs.py"
CRASH = "tests/worker/test_crash_guarantees.py"
DEFER = "tests/contract/test_defer.py"
UNKNOWN = "tests/unit/test_unknown_jobs.py"

MUTANTS: tuple[Mutant, ...] = (
    # --- Redis Lua: each transition one script ----------------------------------------------------------------
    Mutant(
        "lua-reserve-writes-no-lease", "redis-lua", f"{LUA}/reserve.lua",
        "redis.call('ZADD', leases, expiry, id)", "local _ = expiry",
        (f"{CONTRACT}/test_leases.py::test_an_expired_lease_is_requeued_with_its_attempt_spent",),
        "a reserved job whose worker dies would never come back",
    ),
    Mutant(
        "lua-complete-ignores-token", "redis-lua", f"{LUA}/complete.lua",
        "if redis.call('HGET', key, 'token') == job[2] then", "if redis.call('EXISTS', key) == 1 then",
        (f"{CONTRACT}/test_leases.py::test_writes_with_a_stale_token_change_nothing",),
        "a stale worker would overwrite the result of the one that took over",
    ),
    Mutant(
        "lua-retry-due-now-waits", "redis-lua", f"{LUA}/retry.lua",
        "if run_at <= now then", "if run_at < now then",
        (f"{CONTRACT}/test_outcomes.py::test_retry_due_now_goes_straight_back_to_the_queue",),
    ),
    Mutant(
        "lua-fail-skips-failed-set", "redis-lua", f"{LUA}/fail.lua",
        "redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])", "local _ = KEYS[3]",
        (f"{CONTRACT}/test_outcomes.py::test_fail_is_one_transition_into_the_failed_set",),
    ),
    Mutant(
        "lua-release-charges-the-attempt", "redis-lua", f"{LUA}/release.lua",
        "math.max(attempts - 1, 0)", "attempts",
        (f"{CONTRACT}/test_leases.py::test_release_gives_the_attempt_back_and_puts_the_job_at_the_head",),
    ),
    Mutant(
        "lua-release-to-the-tail", "redis-lua", f"{LUA}/release.lua",
        "redis.call('LPUSH', KEYS[3], ARGV[1])", "redis.call('RPUSH', KEYS[3], ARGV[1])",
        (f"{CONTRACT}/test_leases.py::test_release_gives_the_attempt_back_and_puts_the_job_at_the_head",),
    ),
    Mutant(
        "lua-extend-ignores-token", "redis-lua", f"{LUA}/extend.lua",
        "if redis.call('HGET', KEYS[i], 'token') == token then", "if true then",
        (f"{CONTRACT}/test_leases.py::test_a_heartbeat_extends_only_leases_still_held",),
    ),
    Mutant(
        "lua-requeue-never-buries", "redis-lua", f"{LUA}/requeue_expired.lua",
        "elseif tonumber(attempts) >= tonumber(most) then", "elseif tonumber(attempts) > tonumber(most) then",
        (f"{CONTRACT}/test_leases.py::test_a_job_that_keeps_losing_its_worker_is_buried_when_attempts_are_spent",),
        "a job that kills every worker would loop forever",
    ),
    # --- SQLite: each transition one BEGIN IMMEDIATE transaction -----------------------------------------------
    Mutant(
        "sqlite-claim-tick-check-then-act", "sqlite", SQLITE,
        """        with self.db.write() as conn:
            return conn.execute(sql.CLAIM_TICK, {"ns": self.ns, "schedule": schedule, "tick": tick}).rowcount == 1""",
        """        last = self.last_tick(schedule)
        if last is not None and last >= tick:
            return False
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cron_ticks (ns, schedule, tick) VALUES (:ns, :schedule, :tick)",
                {"ns": self.ns, "schedule": schedule, "tick": tick},
            )
        return True""",
        (f"{CONTRACT}/test_cron_and_workers.py::test_a_tick_contended_by_threads_is_claimed_exactly_once[sqlite]",),
        "a read of the last tick, then a separate write: two schedulers both claim (the threads are held at their "
        "first write until all have read, so it fails every time)",
    ),
    Mutant(
        "sqlite-release-charges-the-attempt", "sqlite", SQL,
        "NULL,\n    attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN attempts - 1",
        "NULL,\n    attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN attempts",
        (f"{CONTRACT}/test_leases.py::test_release_gives_the_attempt_back_and_puts_the_job_at_the_head[sqlite]",),
    ),
    Mutant(
        "sqlite-reserve-counts-no-attempt", "sqlite", SQL,
        "attempts >= 0 THEN attempts + 1 ELSE", "attempts >= 0 THEN attempts ELSE",
        (f"{CONTRACT}/test_leases.py::test_reserve_counts_the_attempt_and_hands_out_a_fresh_token[sqlite]",),
    ),
    Mutant(
        "sqlite-reserve-reuses-tokens", "sqlite", SQL,
        "token = :token_base || rowid", "token = 'lease:' || rowid",
        (f"{CONTRACT}/test_leases.py::test_writes_with_a_stale_token_change_nothing[sqlite]",),
        "every lease of a job would carry the same token: a stale write would pass",
    ),
    Mutant(
        "sqlite-enqueue-replaces-a-live-job", "sqlite", SQL,
        "WHERE jobs.expires_at IS NOT NULL AND jobs.expires_at <= :clock", "WHERE 1",
        (f"{CONTRACT}/test_queueing.py::test_enqueueing_an_id_that_exists_is_refused_and_changes_nothing[sqlite]",),
        "a cron tick's deterministic id would no longer guard it",
    ),
    Mutant(
        "sqlite-requeue-before-expiry", "sqlite", SQL,
        "(lease_expires_at <= :now OR typeof(lease_expires_at) NOT IN ('integer', 'real'))\nORDER BY",
        "(lease_expires_at <= :now + 1 OR typeof(lease_expires_at) NOT IN ('integer', 'real'))\nORDER BY",
        (f"{CONTRACT}/test_leases.py::test_only_leases_expired_by_now_are_requeued[sqlite]",),
        "a lease requeued up to 1 s early (a guard that looks for any expired lease first hides it when none is)",
    ),
    # --- retry maths, cron maths (pure) ------------------------------------------------------------------------
    Mutant(
        "retry-doubles-once-too-often", "retry", "tasks/retry.py",
        "2.0 ** min(attempt - 1, MAX_DOUBLINGS)", "2.0 ** min(attempt, MAX_DOUBLINGS)",
        ("tests/unit/test_retry_policy.py",),
    ),
    Mutant(
        "retry-after-the-last-attempt", "retry", "tasks/retry.py",
        "return attempt < max_attempts", "return attempt <= max_attempts",
        ("tests/unit/test_retry_policy.py",),
    ),
    Mutant(
        "cron-once-catches-up-everything", "cron", "tasks/cron.py",
        '1 if misfire == "once" else MAX_CATCH_UP', 'MAX_CATCH_UP if misfire == "once" else 1',
        ("tests/scheduler/test_cron.py",),
    ),
    Mutant(
        "cron-repeated-hour-fires-late", "cron", "tasks/cron.py",
        "first = wall.replace(tzinfo=tz, fold=0).timestamp()", "first = wall.replace(tzinfo=tz, fold=1).timestamp()",
        ("tests/scheduler/test_cron.py",),
        "a wall time that occurs twice must fire at its first occurrence",
    ),
    # --- executor: decide --------------------------------------------------------------------------------------
    Mutant(
        "executor-fail-is-retried", "executor", "tasks/worker/executor.py",
        "if isinstance(exc, Fail) or not has_attempts_left(", "if not has_attempts_left(",
        ("tests/unit/test_retries.py::test_fail_goes_straight_to_the_failed_set",),
    ),
    Mutant(
        "executor-retry-ignores-its-delay", "executor", "tasks/worker/executor.py",
        "return RetryAt(now + exc.delay_s, error)", "return RetryAt(now, error)",
        ("tests/unit/test_retries.py::test_retry_with_a_delay_runs_again_after_exactly_that_delay",),
    ),
    # --- the worker loop ---------------------------------------------------------------------------------------
    Mutant(
        "worker-keeps-unstarted-jobs-at-stop", "worker", "tasks/worker/loop.py",
        "self._release(unstarted)", "self._release([])",
        (
            "tests/worker/test_worker_in_process.py"
            "::test_a_worker_stopped_mid_job_finishes_it_and_releases_what_it_reserved_uncharged",
        ),
        "a stopped worker would leave reserved jobs leased until their lease expires (in a pool, the supervisor "
        "releases what a process that exited still held, which hides it: the test runs a plain worker)",
    ),
    Mutant(
        "worker-never-requeues-expired-leases", "worker", "tasks/worker/loop.py",
        "requeued, failed = self.backend.requeue_expired(self.settings.queues, now=now)", "requeued, failed = 0, 0",
        ("tests/worker/test_leases.py::test_a_job_of_a_pool_killed_whole_comes_back_one_lease_after_it_began",),
        "a whole machine's jobs would never come back",
    ),
    Mutant(
        "worker-ignores-prefetch", "worker", "tasks/worker/loop.py",
        "max(1, min(self.settings.prefetch, int(BATCH_TARGET_S / max(self._mean_job_s, 1e-6))))",
        "max(1, int(BATCH_TARGET_S / max(self._mean_job_s, 1e-6)))",
        ("tests/worker/test_deaths.py::test_a_process_reserves_at_most_prefetch_jobs_at_once",),
    ),
    # --- the supervisor (pool.py) and its worker processes (child.py) ------------------------------------------
    Mutant(
        "supervisor-charges-reserved-jobs", "supervisor", "tasks/worker/pool.py",
        'if not was_running or child.killed_for == "shutdown":',
        'if child.killed_for == "shutdown" or (not was_running and child.killed_for):',
        ("tests/worker/test_deaths.py",),
        "X1 of the audit: the reserved-but-not-started jobs of a crashed process charged an attempt (WorkerCrashed)",
    ),
    Mutant(
        "supervisor-hard-kill-after-two-graces", "supervisor", "tasks/worker/pool.py",
        "now > d + self.settings.grace_s]", "now > d + 2 * self.settings.grace_s]",
        (
            "tests/worker/test_timeouts.py::test_a_job_past_its_timeout_is_stopped_and_the_pool_keeps_serving"
            "[redis-busy loop that swallows JobTimeout]",
        ),
        "X2 of the audit: a job that swallows JobTimeout killed at timeout + 2 x grace (documented: + grace)",
    ),
    Mutant(
        "supervisor-charges-timeout-bystanders", "supervisor", "tasks/worker/pool.py",
        "return None  # a bystander of another job's hard timeout", "return WorkerCrashed(cause)",
        ("tests/worker/test_deaths.py::test_jobs_held_beside_a_job_killed_for_its_timeout_come_back_uncharged",),
        "an async job running beside the one killed for its timeout must go back without charge",
    ),
    Mutant(
        "supervisor-never-relays-stop", "supervisor", "tasks/worker/pool.py",
        "            self._send(child, (STOP,))", "            pass",
        ("tests/worker/test_shutdown.py::test_sigterm_lets_running_jobs_finish_then_exits_0",),
        "SIGTERM to the supervisor would leave its worker processes running until the grace is over",
    ),
    Mutant(
        "child-orphan-waits-two-graces", "child", "tasks/worker/process.py",
        "threading.Timer(grace_s, _give_up", "threading.Timer(2 * grace_s, _give_up",
        ("tests/worker/test_pool.py::test_an_orphaned_worker_process_puts_a_stuck_job_back_once_the_grace_is_over",),
        "X3 of the audit: a worker process whose supervisor died waits 2 x grace before it puts its job back",
    ),
    # --- heartbeat, and the supervisor's datastore thread (keeper) ---------------------------------------------
    Mutant(
        "heartbeat-never-renews", "heartbeat", "tasks/worker/heartbeat.py",
        "self._renew(held)", "self._renew([])",
        (
            "tests/worker/test_worker_in_process.py"
            "::test_a_worker_without_a_supervisor_keeps_the_lease_of_a_job_longer_than_it_and_runs_it_once",
        ),
        "X6 of the audit: hidden in a pool by the supervisor's renewal; a plain worker (memory://) reruns a long job",
        time_bound_s=120.0,
    ),
    Mutant(
        "keeper-never-extends", "keeper", "tasks/worker/keeper.py",
        "self.backend.extend(live, now=time.time(), lease_s=self.lease_s)",
        "self.backend.extend([], now=time.time(), lease_s=self.lease_s)",
        ("tests/worker/test_leases.py::test_a_job_holding_the_gil_longer_than_its_lease_keeps_the_lease_and_runs_once",),
        "a job holding the GIL starves its own heartbeat: only the supervisor keeps its lease",
    ),
    Mutant(
        "keeper-dead-worker-stays-listed", "keeper", "tasks/worker/keeper.py",
        "self.backend.unregister_worker(worker_id)", "pass",
        ("tests/worker/test_pool.py::test_a_killed_worker_process_is_replaced_and_the_reason_logged",),
    ),
    # --- the scheduler loop --------------------------------------------------------------------------------------
    Mutant(
        "scheduler-tick-ids-not-deterministic", "scheduler", "tasks/scheduler.py",
        "replace(self.options, job_id=self.job_id(tick), run_at=None)",
        "replace(self.options, job_id=None, run_at=None)",
        ("tests/scheduler/test_scheduler.py",),
        "a crash between enqueue and claim would fire the tick twice",
    ),
    Mutant(
        "scheduler-misfire-ignores-the-record", "scheduler", "tasks/scheduler.py",
        "last = self.backend.last_tick(schedule.name)", "last = None",
        ("tests/scheduler/test_scheduler.py",),
    ),
    Mutant(
        "scheduler-claims-the-first-tick", "scheduler", "tasks/scheduler.py",
        "self.backend.claim_tick(schedule.name, ticks[-1])", "self.backend.claim_tick(schedule.name, ticks[0])",
        ("tests/scheduler/test_scheduler.py",),
    ),
    # --- the producer: dispatch and bulk ---------------------------------------------------------------------------
    Mutant(
        "producer-later-sends-now", "producer", "tasks/producer.py",
        "        run_at=options.run_at,\n        signature=", "        run_at=None,\n        signature=",
        ("tests/unit/test_dispatch.py",),
    ),
    Mutant(
        "producer-never-signs", "producer", "tasks/producer.py",
        'signature=sign(secret, payload) if secret else ""', 'signature=""',
        ("tests/unit/test_dill_and_signatures.py",),
    ),
    Mutant(
        "producer-bulk-keeps-a-failed-nested-block", "producer", "tasks/producer.py",
        "del outer.jobs[mark:]", "outer.jobs[:] = outer.jobs",
        ("tests/unit/test_bulk.py",),
    ),
    # --- the testing helpers (docs/testing.md) -----------------------------------------------------------------
    Mutant(
        "testing-fake-lets-dispatches-through", "testing", "tasks/producer.py",
        "    if sink is not None:\n        return sink, settings().secret", "    if False:\n        return sink, None",
        ("tests/testing/test_fake.py",),
        "a test under fake() would send real jobs, and its assertions would see nothing",
    ),
    Mutant(
        "testing-eager-setting-ignored", "testing", "tasks/producer.py",
        "to = _eager_runner() if current.eager else backend", "to = backend",
        ("tests/testing/test_eager.py",),
    ),
    Mutant(
        "testing-tasks-eager-unread", "testing", "tasks/config.py",
        'eager=_flag("TASKS_EAGER"),', "eager=False,",
        ("tests/testing/test_eager.py::test_tasks_eager_in_the_environment_turns_eager_mode_on",),
    ),
    Mutant(
        "testing-handles-read-only-the-backend", "testing", "tasks/handle.py",
        "status = destination().status(self.queue, self.id)",
        'status = __import__("tasks.config").config.get_backend().status(self.queue, self.id)',
        ("tests/testing/test_fake.py", "tests/testing/test_eager.py"),
        "a handle from delay() under fake() or in eager mode would name a job no datastore holds",
    ),
    Mutant(
        "testing-direct-call-without-context", "testing", "tasks/context.py",
        "    token = _current.set(ctx)\n    try:\n        return func(",
        "    token = _current.set(None)\n    try:\n        return func(",
        ("tests/testing/test_direct_call.py",),
    ),
    Mutant(
        "testing-clock-never-skips", "testing", "tasks/testing/runner.py",
        "self.skipped_s += ahead", "self.skipped_s += 0",
        ("tests/testing/test_run_all.py", "tests/testing/test_eager.py", "tests/testing/test_inprocess.py"),
        "a retry due in an hour would run at once on a clock still reading now (or a burst worker would never see it)",
    ),
    Mutant(
        "testing-match-without-round-trip", "testing", "tasks/testing/matching.py",
        "carried = serializer.loads(serializer.dumps(expected))", "carried = expected",
        ("tests/testing/test_fake.py",),
    ),
    Mutant(
        "testing-run-all-loses-what-jobs-dispatch", "testing", "tasks/testing/fake.py",
        "with diverted(self):", "if True:",
        ("tests/testing/test_run_all.py",),
        "jobs dispatched by a job run after the fake() block would go to the datastore",
    ),
    # --- reliability: hostile records, crash duplicates, process trees (docs/protocol.md, docs/workers.md) --------
    Mutant(
        "lua-reserve-leases-damaged-records", "redis-lua", f"{LUA}/reserve.lua",
        "local why = problem(id, job)", "local why = nil",
        (f"{MALFORMED}::test_a_damaged_record_goes_to_the_failed_set_with_its_reason_and_the_batch_goes_on",),
        "a damaged counter would fail the script midway and lose the jobs already popped",
    ),
    Mutant(
        "lua-requeue-trusts-the-counters", "redis-lua", f"{LUA}/requeue_expired.lua",
        "elseif not count(attempts, 0) then", "elseif false then",
        (f"{MALFORMED}::test_an_expired_lease_on_a_damaged_record_is_failed_not_stuck",),
        "the script would fail after its ZREM: the job stuck running in no set",
    ),
    Mutant(
        "sqlite-reserve-leases-damaged-records", "sqlite", SQLITE,
        "why = records.problem(job_id, payload, max_attempts, attempts, enqueued_at, signature)", "why = None",
        (f"{MALFORMED}::test_a_damaged_record_goes_to_the_failed_set_with_its_reason_and_the_batch_goes_on",),
    ),
    Mutant(
        "sqlite-trusts-queue-positions", "sqlite", SQLITE,
        "if found is None or (type(found) is int and abs(found) <= _SANE_POSITION):", "if True:",
        (f"{MALFORMED}::test_a_damaged_position_in_the_queue_stops_no_enqueue_nor_reserve",),
        "one row with a text position would break every enqueue to its queue",
    ),
    Mutant(
        "decode-accepts-a-nan-ttl", "executor", "tasks/serialization.py",
        "        and 0 <= ttl < math.inf\n", "        and ttl is not None\n",
        (f"{HOSTILE}::test_a_payload_with_a_result_ttl_that_is_not_a_finite_duration_fails_at_once_without_running",),
    ),
    Mutant(
        "verify-raises-on-foreign-signatures", "executor", "tasks/serialization.py",
        "if not isinstance(signature, str) or not signature.isascii():", "if not isinstance(signature, str):",
        (f"{HOSTILE}::test_a_signature_that_is_not_ours_never_verifies_and_never_raises",),
        "a non-ASCII signature raised TypeError outside any try: a crash loop",
    ),
    Mutant(
        "errors-stored-whole", "executor", "tasks/model.py",
        "            if len(value) > limit:", "            if False:",
        (f"{HOSTILE}::test_a_huge_error_is_stored_and_logged_capped",),
    ),
    Mutant(
        "worker-loop-ends-on-an-unexpected-error", "worker", "tasks/worker/loop.py",
        "except Exception:  # a bug, or a write the datastore refused", "except ZeroDivisionError:  # a bug, or",
        (f"{HOSTILE}::test_the_worker_loop_survives_unexpected_errors_and_writes_the_outcomes_afterwards",),
    ),
    Mutant(
        "worker-decodes-before-taking-the-job-in-hand", "worker", "tasks/worker/loop.py",
        "        self._ledger.preparing(lease)\n", "",
        (f"{CRASH}::test_a_job_that_kills_every_process_decoding_it_is_charged_each_time_and_ends",),
        "a payload that kills its process while decoded would be put back uncharged, again and again",
    ),
    Mutant(
        "ledger-clears-the-journal-too-early", "worker", "tasks/worker/ledger.py",
        "            if not self._finished:\n                self.events.drained()",
        "            self.events.drained()",
        ("tests/unit/test_journal.py::test_the_ledger_journals_each_outcome_and_clears_only_once_every_outcome_is_written",),
    ),
    Mutant(
        "supervisor-ignores-the-journal", "supervisor", "tasks/worker/pool.py",
        "outcome = computed.get((job_id, lease.token))", "outcome = None",
        (f"{CRASH}::test_a_process_that_dies_runs_none_of_the_jobs_it_had_finished_again",),
        "a death would re-run every finished job whose outcome was not yet written (94 of 200 measured)",
    ),
    Mutant(
        "supervisor-kills-only-the-worker", "supervisor", "tasks/worker/pool.py",
        "os.killpg(process.pid, signal.SIGKILL)", "os.kill(process.pid, 0)",
        (f"{CRASH}::test_a_hard_timeout_stops_the_jobs_own_child_processes_too",),
    ),
    Mutant(
        "child-joins-no-process-group", "child", "tasks/worker/process.py",
        "os.setpgid(0, 0)", "os.getpid()",
        (f"{CRASH}::test_a_hard_timeout_stops_the_jobs_own_child_processes_too",),
    ),
    Mutant(
        "keeper-ends-on-a-refused-write", "keeper", "tasks/worker/keeper.py",
        "            except Exception:\n                log.exception(\"job %s: settling it failed",
        "            except ZeroDivisionError:\n                log.exception(\"job %s: settling it failed",
        ("tests/unit/test_keeper.py::test_a_write_that_fails_unexpectedly_is_dropped_and_the_keeper_carries_on",),
    ),
    Mutant(
        "keeper-loads-the-arguments", "keeper", "tasks/worker/keeper.py",
        "executor.prepare(lease, secret, with_arguments=False)",
        "executor.prepare(lease, secret)",
        ("tests/unit/test_keeper.py::test_a_lost_attempt_never_loads_the_jobs_arguments",),
        "the supervisor would unpickle dill arguments: one that ends its process would end the pool",
    ),
    # --- a job whose name the worker does not know, dispatch by name, argument checks, stopping -----------------
    Mutant(
        "lua-defer-charges-the-attempt", "redis-lua", f"{LUA}/defer.lua",
        "redis.call('HSET', KEYS[1], 'attempts', math.max(attempts - 1, 0))", "local _ = attempts",
        (f"{DEFER}::test_defer_puts_the_job_back_for_later_with_the_attempt_given_back[redis]",),
        "every worker that cannot run a job yet would spend one of its attempts",
    ),
    Mutant(
        "lua-defer-ignores-token", "redis-lua", f"{LUA}/defer.lua",
        "if job[1] ~= ARGV[2] then return 0 end", "local _ = job",
        (f"{DEFER}::test_defer_with_a_stale_token_changes_nothing[redis]",),
        "a stale worker would take back a job another worker runs",
    ),
    Mutant(
        "lua-defer-due-now-waits", "redis-lua", f"{LUA}/defer.lua",
        "if run_at <= now then", "if run_at < now then",
        (f"{DEFER}::test_defer_due_now_goes_to_the_back_of_the_queue[redis]",),
    ),
    Mutant(
        "sqlite-defer-charges-the-attempt", "sqlite", SQL,
        "_GIVE_BACK = \"attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN attempts - 1",
        "_GIVE_BACK = \"attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN attempts",
        (f"{DEFER}::test_defer_puts_the_job_back_for_later_with_the_attempt_given_back[sqlite]",),
    ),
    Mutant(
        "executor-unknown-job-fails-at-once", "executor", "tasks/worker/executor.py",
        "unknown_job_run_at(due_since=due_since, now=now, grace_s=unknown_grace_s) if unknown_grace_s > 0 else None",
        "None",
        (f"{UNKNOWN}::test_a_job_this_worker_does_not_know_is_put_back_uncharged_and_the_others_run[memory]",),
        "a rolling deploy would fail every job of a new kind that reached a worker of the old code",
    ),
    Mutant(
        "executor-deferred-is-failed", "executor", "tasks/worker/executor.py",
        "    if isinstance(outcome, Deferred):\n        return backend.defer(lease, run_at=outcome.run_at, now=now)\n",
        "",
        (f"{UNKNOWN}::test_a_job_this_worker_does_not_know_is_put_back_uncharged_and_the_others_run[memory]",),
    ),
    Mutant(
        "retry-unknown-job-waits-past-the-grace", "retry", "tasks/retry.py",
        "return min(now + wait, deadline)", "return now + wait",
        ("tests/unit/test_retry_policy.py::test_the_last_look_falls_on_the_end_of_the_grace_and_after_it_the_job_fails",),
    ),
    Mutant(
        "journal-drops-deferred-outcomes", "worker", "tasks/worker/journal.py",
        "    if kind == _DEFERRED:\n        return Deferred(number, data.decode(\"utf-8\", \"surrogateescape\"))\n",
        "",
        ("tests/unit/test_journal.py::test_each_kind_of_outcome_reads_back_by_job_and_token",),
        "a process that died before writing a put-back would have its job charged as a crash",
    ),
    Mutant(
        "producer-skips-the-argument-check", "producer", "tasks/job.py",
        "        if check is not None:\n            try:", "        if False:\n            try:",
        ("tests/unit/test_argument_check.py::test_too_many_arguments_raise_at_once_and_nothing_is_sent[memory]",),
        "a wrong call would be sent, fail in the worker and be retried for nothing",
    ),
    Mutant(
        "producer-ignores-what-workers-announce", "producer", "tasks/job.py",
        "published = deployment.published_job(name, target)", "published = None",
        (
            "tests/unit/test_dispatch_by_name.py::"
            "test_dispatch_by_name_goes_to_the_queue_a_live_worker_announces[memory]",
        ),
        "dispatch('name') from code that cannot import the job would send it to default, where nobody may listen",
    ),
    Mutant(
        "supervisor-stops-its-scheduler-last", "supervisor", "tasks/worker/pool.py",
        "        if self._on_stop is not None:\n            try:", "        if False:\n            try:",
        ("tests/scheduler/test_stopping.py::test_a_stopping_pool_stops_its_scheduler_before_it_waits_for_its_jobs",),
        "a stopping pool would enqueue ticks while it waits for its long jobs",
    ),
    # --- job control and observability (tasks/observe) ----------------------------------------------------------
    Mutant(
        "lua-cancel-leaves-the-id-ready", "observe", f"{LUA}/cancel.lua",
        "redis.call('LREM', KEYS[2], 0, ARGV[1])", "local _ = KEYS[2]",
        (f"{CONTRACT}/test_cancel.py::test_a_queued_job_is_cancelled_and_never_reserved",),
        "a cancelled job would still be reserved and run",
    ),
    Mutant(
        "lua-complete-counts-refused-writes", "observe", f"{LUA}/complete.lua",
        "    if out[i] == '1' then", "    if true then",
        (f"{CONTRACT}/test_metrics.py::test_a_write_refused_for_a_stale_lease_counts_nothing",),
        "a stale worker's refused acknowledgement would count a success twice",
    ),
    Mutant(
        "sqlite-metrics-overwrite", "observe", "tasks/backends/sqlite/observe.py",
        "DO UPDATE SET value = value + excluded.value", "DO UPDATE SET value = excluded.value",
        (f"{CONTRACT}/test_metrics.py::test_points_are_split_by_minute_queue_and_name",),
        "concurrent workers' counts would replace each other instead of adding up",
    ),
    Mutant(
        "supervisor-ignores-aborts", "observe", "tasks/worker/aborts.py",
        "            if late and not child.killed_for:", "            if False:",
        ("tests/worker/test_abort.py",),
        "a job stuck in C code would run on after its abort, for as long as it likes",
    ),
    Mutant(
        "cluster-groups-queues-by-slot-not-by-order", "cluster", "tasks/backends/redis/slots.py",
        "    for queue in queues:\n        slot = slot_of(queue)",
        "    for queue in sorted(queues, key=slot_of):\n        slot = slot_of(queue)",
        ("tests/unit/test_cluster_slots.py",),
        "a worker of several queues on a cluster would serve a lower queue before a higher one",
    ),
    Mutant(
        "cluster-reserve-stops-after-the-first-slot-group", "cluster", "tasks/backends/redis/cluster.py",
        "        for group in groups[1:]:", "        for group in groups[1:1]:",
        ("tests/cluster/test_cluster_worker.py::test_a_reserve_over_several_slots_keeps_strict_priority",),
        "a worker of several queues on a cluster would never take a job of its lower queues",
    ),
    Mutant(
        "cluster-noscript-resends-every-call", "cluster", "tasks/backends/redis/cluster.py",
        "            for i, reply in zip(refused, self._pipelined([commands[i] for i in refused])):\n"
        "                replies[i] = reply",
        "            replies = self._pipelined(commands)",
        ("tests/cluster/test_cluster_scripts.py",),
        "after a failover a dispatch would run twice on the other masters and report its jobs as already there",
    ),
    Mutant(
        "autoscale-restarts-the-processes-it-retires", "autoscale", "tasks/worker/autoscaling.py",
        "        if child.slot in self._retiring:", "        if False:",
        ("tests/worker/test_autoscale.py",),
        "a pool told to shrink would start again every process it stopped, and never shrink",
    ),
    # --- flow control (tasks.limits) ----------------------------------------------------------------------------
    Mutant(
        "lua-reserve-ignores-the-pause", "flow-control", f"{LUA}/reserve.lua",
        "while taken < want and not paused do", "while taken < want do",
        (f"{CONTRACT}/test_pause.py::test_a_paused_queue_is_not_served_while_others_are",),
        "a paused queue would go on being served",
    ),
    Mutant(
        "lua-unique-lock-never-taken", "flow-control", f"{LUA}/enqueue_flow.lua",
        "  redis.call('SET', KEYS[5], id, 'PX', ttl)\n", "",
        (f"{CONTRACT}/test_flow_unique.py::test_a_duplicate_of_a_unique_job_is_not_stored_and_names_the_first",),
        "every duplicate of a unique job would be stored and run",
    ),
    Mutant(
        "lua-finished-job-keeps-its-slot", "flow-control", f"{LUA}/complete.lua",
        "    flow_release(key, id, now, true) -- flow control\n", "",
        (f"{CONTRACT}/test_flow_concurrency.py::test_the_end_of_a_run_makes_the_next_held_job_due",),
        "jobs held for a concurrency slot would wait for good once the slot's holder finished",
    ),
    Mutant(
        "policy-rate-window-off-by-a-period", "flow-control", "tasks/limits/policy.py",
        "    return recent[len(recent) - n] + per_s", "    return recent[len(recent) - n]",
        (
            f"{CONTRACT}/test_flow_rate.py::test_starts_beyond_the_limit_wait_for_the_window_without_spending_an_attempt",
            "tests/unit/test_flow_options.py::test_the_next_start_comes_when_the_oldest_start_leaves_the_window",
        ),
        "a job held by a rate limit would be due at once and spin through the reserve",
    ),
    # --- workflows: chains and batches ------------------------------------------------------------------------
    Mutant(
        "lua-workflow-cancel-skips-queued-members", "redis-lua", f"{LUA}/workflow_lib.lua",
        "  if state == 'queued' then", "  if state == 'never' then",
        (f"{CONTRACT}/test_workflows_batches.py::test_a_cancelled_member_never_runs_and_its_result_raises[memory]",),
        "a cancelled batch's members waiting in their queue would still run",
    ),
    Mutant(
        "lua-workflow-member-completion-ignores-token", "redis-lua", f"{LUA}/complete_member.lua",
        "if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end", "",
        (f"{CONTRACT}/test_workflows_chains.py::test_a_stale_completion_enqueues_nothing_and_counts_nothing[memory]",),
        "a stale worker's late success would enqueue the next step a second time",
    ),
    Mutant(
        "sqlite-workflow-no-cancel-on-failure", "sqlite", "tasks/workflows/policy.py",
        "    if not after.allow_failures and after.state == \"running\":",
        "    if False:",
        (
            f"{CONTRACT}/test_workflows_batches.py::"
            "test_the_first_failure_fires_catch_and_cancels_the_members_not_yet_started[sqlite]",
        ),
        "a failed batch would run every member left instead of cancelling them",
    ),
    Mutant(
        "worker-treats-members-as-plain-jobs", "worker", "tasks/workflows/records.py",
        "    return ref.workflow if ref is not None and ref.role == \"m\" else None",
        "    return None",
        (f"{CONTRACT}/test_workflows_chains.py::test_a_chain_runs_its_steps_in_order_one_at_a_time[memory]",),
        "a member's outcome would be written by the plain transition: its chain would stop after the first step",
    ),
    # --- the dashboard: its listing, and what makes it safe to expose ----------------------------------------------
    Mutant(
        "listing-failed-oldest-first", "redis", "tasks/backends/redis/listing.py",
        "client.zrevrange(qk.failed, offset, last, withscores=True)",
        "client.zrange(qk.failed, offset, last, withscores=True)",
        (f"{CONTRACT}/test_listing.py::test_failed_jobs_are_listed_newest_first_with_their_error",),
        "the Failed page would open on the oldest dead letters, not on what just broke",
    ),
    Mutant(
        "dashboard-skips-the-csrf-check", "dashboard", "tasks/dashboard/web.py",
        "if not self.csrf.valid(request, form):", "if False:",
        ("tests/dashboard/test_safety.py::test_actions_are_post_only_and_need_the_csrf_token",),
        "any page the operator visits could retry or delete their failed jobs",
    ),
    Mutant(
        "dashboard-renders-markup-unescaped", "dashboard", "tasks/dashboard/web.py",
        "autoescape=True,", "autoescape=False,",
        ("tests/dashboard/test_pages.py::test_a_script_argument_and_a_markup_error_are_shown_escaped",),
        "a job argument could run script in the operator's browser",
    ),
    Mutant(
        "dashboard-takes-any-token", "dashboard", "tasks/dashboard/security.py",
        "if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):", "if given is not None:",
        ("tests/dashboard/test_safety.py::test_with_a_token_every_request_needs_it",),
        "anyone reaching the port would get a session with ?token=anything",
    ),
    # --- integration of the wave-2 parts: workflow members are counted and release what they hold -----------------
    Mutant(
        "member-completion-not-counted", "integration", f"{LUA}/complete_member.lua",
        "if KEYS[5] then count_attempt(", "if false then count_attempt(",
        (f"{CONTRACT}/test_workflows_metrics.py::test_members_run_one_by_one_are_counted_as_they_end",),
        "a batch's members would be missing from the metrics on Redis",
    ),
    Mutant(
        "sqlite-member-failure-not-counted", "integration", "tasks/backends/sqlite/workflows.py",
        'self._me.count_outcomes(conn, "f", [lease], [True], now)', "pass",
        (f"{CONTRACT}/test_workflows_metrics.py::test_members_run_one_by_one_are_counted_as_they_end",),
        "a failed member would be missing from the metrics on SQLite",
    ),
)  # fmt: skip
