"""Every SQL statement the SQLite backend runs (the counterpart of the Redis backend's ``lua/`` folder).

Parameters are named; ``:ns`` is the key prefix and ``:queue`` the queue of every statement that has one.
Each statement that moves a running job checks ``token = :token``: a stale lease matches no row, so its
write changes nothing. State literals are spelled as in the partial indexes of ``schema.py``.
"""

#: Insert a job, or replace a record whose result expired (what Redis does when the key's TTL ran out).
ENQUEUE = """
INSERT INTO jobs (ns, queue, id, state, payload, signature, max_attempts, attempts, enqueued_at, seq, run_at)
VALUES (:ns, :queue, :id, :state, :payload, :signature, :max_attempts, 0, :enqueued_at, :seq, :run_at)
ON CONFLICT (ns, queue, id) DO UPDATE SET
    state = excluded.state, payload = excluded.payload, signature = excluded.signature,
    max_attempts = excluded.max_attempts, attempts = 0, enqueued_at = excluded.enqueued_at,
    seq = excluded.seq, run_at = excluded.run_at, token = NULL, lease_expires_at = NULL, worker = NULL,
    started_at = NULL, result = NULL, error = NULL, finished_at = NULL, failed_at = NULL, expires_at = NULL,
    abort_at = NULL, flow = NULL, ckey = NULL
WHERE jobs.expires_at IS NOT NULL AND jobs.expires_at <= :clock
"""

ADD_QUEUE = "INSERT OR IGNORE INTO queues (ns, name) VALUES (:ns, :queue)"

#: The last and first position among a queue's ready jobs (``NULL`` when none is ready): one index lookup each.
TAIL = "SELECT MAX(seq) FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued'"
HEAD = "SELECT MIN(seq) FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued'"
#: The same among positions that are sane integers, for when a damaged position (text, which sorts above every
#: number; or a number near the limits of a 64-bit integer) came first: slower, and only then.
_SANE = "typeof(seq) = 'integer' AND seq BETWEEN -4611686018427387904 AND 4611686018427387904"
TAIL_SANE = f"SELECT MAX(seq) FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued' AND {_SANE}"
HEAD_SANE = f"SELECT MIN(seq) FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued' AND {_SANE}"

#: Scheduled jobs and retries whose time came, oldest due first. A due time that is not a number (a row written by
#: hand) counts as due now: it would otherwise never come, and the job would wait for good.
DUE = """
SELECT rowid FROM jobs
WHERE ns = :ns AND queue = :queue AND state IN ('scheduled', 'retrying')
    AND (run_at <= :now OR typeof(run_at) NOT IN ('integer', 'real'))
ORDER BY run_at, rowid LIMIT :limit
"""
PROMOTE = "UPDATE jobs SET state = 'queued', seq = :seq, run_at = NULL WHERE rowid = :rowid"

#: Lease the first ``:limit`` ready jobs: count the attempt, write a fresh token (unique per call and job).
#: A counter that is not an integer (a damaged record) is left as it is, for the check that follows in the
#: same transaction (``records.problem``) to name; that record then goes to the failed set by ``BURY``.
RESERVE = """
UPDATE jobs SET state = 'running',
    attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts >= 0 THEN attempts + 1 ELSE attempts END,
    token = :token_base || rowid, lease_expires_at = :expiry, worker = :worker, started_at = :now
WHERE rowid IN (
    SELECT rowid FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued' ORDER BY seq LIMIT :limit
)
RETURNING rowid, seq, id, payload, attempts, max_attempts, enqueued_at, token, signature, flow
"""

EXTEND = """
UPDATE jobs SET lease_expires_at = :expiry
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""

COMPLETE = """
UPDATE jobs SET state = 'succeeded', result = :result, finished_at = :now, expires_at = :expires_at,
    token = NULL, lease_expires_at = NULL
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""

RETRY_LATER = """
UPDATE jobs SET state = 'retrying', run_at = :run_at, error = :error, token = NULL, lease_expires_at = NULL
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""

RETRY_NOW = """
UPDATE jobs SET state = 'queued', seq = :seq, error = :error, token = NULL, lease_expires_at = NULL
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""

FAIL = """
UPDATE jobs SET state = 'failed', error = :error, finished_at = :now, failed_at = :now,
    token = NULL, lease_expires_at = NULL
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""

#: Back to the head of the queue with the attempt given back: the job never ran. A counter damaged since the
#: reserve is reset to 0 (as Redis's script does) rather than turned into a negative number.
RELEASE = """
UPDATE jobs SET state = 'queued', seq = :seq, token = NULL, lease_expires_at = NULL,
    attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN attempts - 1 ELSE 0 END
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""

#: A job this worker cannot run yet, put back with its attempt given back (as ``RELEASE``): due at ``:run_at``, or
#: at the tail of the queue at once when that time has come.
_GIVE_BACK = "attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN attempts - 1 ELSE 0 END"
DEFER_LATER = f"""
UPDATE jobs SET state = 'scheduled', run_at = :run_at, token = NULL, lease_expires_at = NULL, {_GIVE_BACK}
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""
DEFER_NOW = f"""
UPDATE jobs SET state = 'queued', seq = :seq, token = NULL, lease_expires_at = NULL, {_GIVE_BACK}
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""

#: Leases that expired; a lease expiry that is not a number (a row written by hand) counts as expired, so that
#: no job stays "running" for good.
EXPIRED_LEASES = """
SELECT rowid, attempts, max_attempts FROM jobs
WHERE ns = :ns AND queue = :queue AND state = 'running'
    AND (lease_expires_at <= :now OR typeof(lease_expires_at) NOT IN ('integer', 'real'))
ORDER BY lease_expires_at, rowid LIMIT :limit
"""
ANY_LEASE_EXPIRED = """
SELECT 1 FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'running'
    AND (lease_expires_at <= :now OR typeof(lease_expires_at) NOT IN ('integer', 'real')) LIMIT 1
"""
REQUEUE = "UPDATE jobs SET state = 'queued', seq = :seq, token = NULL, lease_expires_at = NULL WHERE rowid = :rowid"
BURY = """
UPDATE jobs SET state = 'failed', error = :error, finished_at = :now, failed_at = :now,
    token = NULL, lease_expires_at = NULL
WHERE rowid = :rowid
"""

#: Records whose result TTL ran out, judged by the backend's clock (as Redis judges a key's TTL by its own).
PURGE_EXPIRED = """
DELETE FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= :clock LIMIT :limit
)
"""

ANY_RESULT_EXPIRED = "SELECT 1 FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= :clock LIMIT 1"

STATUS = """
SELECT state, attempts, result, error, payload FROM jobs
WHERE ns = :ns AND queue = :queue AND id = :id AND (expires_at IS NULL OR expires_at > :clock)
"""

JOB_INFO = """
SELECT state, attempts, max_attempts, payload, enqueued_at, started_at, finished_at, run_at, worker, result, error,
    progress
FROM jobs
WHERE ns = :ns AND queue = :queue AND id = :id AND (expires_at IS NULL OR expires_at > :clock)
"""

STATS = """
SELECT
    (SELECT COUNT(*) FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued'),
    (SELECT COUNT(*) FROM jobs WHERE ns = :ns AND queue = :queue AND state IN ('scheduled', 'retrying')),
    (SELECT COUNT(*) FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'running'),
    (SELECT COUNT(*) FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'failed')
"""

ANY_READY = "SELECT 1 FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued' LIMIT 1"
ANY_DUE = """
SELECT 1 FROM jobs
WHERE ns = :ns AND queue = :queue AND state IN ('scheduled', 'retrying')
    AND (run_at <= :now OR typeof(run_at) NOT IN ('integer', 'real')) LIMIT 1
"""

OLDEST_READY = """
SELECT enqueued_at FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'queued' ORDER BY seq LIMIT 1
"""

NEXT_DUE = """
SELECT MIN(run_at) FROM jobs
WHERE ns = :ns AND queue = :queue AND state IN ('scheduled', 'retrying') AND typeof(run_at) IN ('integer', 'real')
"""

KNOWN_QUEUES = "SELECT name FROM queues WHERE ns = :ns ORDER BY name"

FAILED = """
SELECT id, payload, attempts, error, failed_at FROM jobs
WHERE ns = :ns AND queue = :queue AND state = 'failed'
ORDER BY failed_at DESC, id DESC LIMIT :limit
"""

FAILED_ONE = """
SELECT id, payload, attempts, error, failed_at FROM jobs
WHERE ns = :ns AND queue = :queue AND id = :id AND state = 'failed'
"""

FAILED_IDS = "SELECT id FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'failed' ORDER BY failed_at, id"

RETRY_FAILED = """
UPDATE jobs SET state = 'queued', seq = :seq, attempts = 0, failed_at = NULL
WHERE ns = :ns AND queue = :queue AND id = :id AND state = 'failed'
"""

PURGE_FAILED = "DELETE FROM jobs WHERE ns = :ns AND queue = :queue AND state = 'failed'"

CLEAR = "DELETE FROM jobs WHERE ns = :ns AND queue = :queue AND state IN ('queued', 'scheduled', 'retrying')"

#: Claim a cron tick only if it is later than the one on record ("ZADD GT CH" in Redis).
CLAIM_TICK = """
INSERT INTO cron_ticks (ns, schedule, tick) VALUES (:ns, :schedule, :tick)
ON CONFLICT (ns, schedule) DO UPDATE SET tick = excluded.tick WHERE excluded.tick > cron_ticks.tick
"""
LAST_TICK = "SELECT tick FROM cron_ticks WHERE ns = :ns AND schedule = :schedule"

REGISTER_WORKER = """
INSERT INTO workers (ns, id, info, expires_at) VALUES (:ns, :id, :info, :expires_at)
ON CONFLICT (ns, id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at
"""
FORGET_DEAD_WORKERS = "DELETE FROM workers WHERE ns = :ns AND expires_at <= :now"
UNREGISTER_WORKER = "DELETE FROM workers WHERE ns = :ns AND id = :id"
LIVE_WORKERS = "SELECT info FROM workers WHERE ns = :ns AND expires_at >= :now ORDER BY expires_at, id"

#: ``jobs``: one page of a queue's jobs per index, each query served by the partial index of its states.
_LISTED = """
SELECT id, state, attempts, max_attempts, payload, enqueued_at, started_at, coalesce(finished_at, failed_at),
       worker, result, error, progress, run_at
FROM jobs WHERE ns = :ns AND queue = :queue AND """
LIST_JOBS = {
    "ready": _LISTED + "state = 'queued' ORDER BY seq LIMIT :limit OFFSET :offset",
    "scheduled": _LISTED + "state IN ('scheduled', 'retrying') ORDER BY run_at, rowid LIMIT :limit OFFSET :offset",
    "leases": _LISTED + "state = 'running' ORDER BY lease_expires_at, rowid LIMIT :limit OFFSET :offset",
    "failed": _LISTED + "state = 'failed' ORDER BY failed_at DESC, rowid DESC LIMIT :limit OFFSET :offset",
}

#: ``last_ticks``: the ticks of a list of schedules (``{names}``: one ``:sN`` parameter per name, filled in by
#: the backend with parameter names only, never with values).
LAST_TICKS = "SELECT schedule, tick FROM cron_ticks WHERE ns = :ns AND schedule IN ({names})"

#: ``delete_failed``: one failed job, and only while it is failed (a job retried meanwhile stays).
DELETE_FAILED = "DELETE FROM jobs WHERE ns = :ns AND queue = :queue AND id = :id AND state = 'failed'"
