-- fail_member: a workflow member's running -> failed (into the failed set), and in the same step what its
-- workflow does: a chain ends failed and its on_failure is enqueued; a batch counts the failure, enqueues its
-- catch on the first one and, unless failures are allowed, cancels its members not yet started.
-- (workflow_lib.lua is prepended.)
--
-- KEYS[1]  job       HASH  the member
-- KEYS[2]  leases    ZSET  job id -> lease expiry
-- KEYS[3]  failed    ZSET  job id -> failed_at
-- KEYS[4]  workflow  HASH  the member's workflow record
-- ARGV[1]  id, ARGV[2] token, ARGV[3] now, ARGV[4] error (JSON), ARGV[5] key prefix P, ARGV[6] home queue
-- Metrics (lib_metrics.lua), only when KEYS[6] is given:
-- KEYS[5]  metrics  HASH  the queue's counters of this minute;  KEYS[6]  minutes  ZSET
-- ARGV[7]  name, ARGV[8] run_ms, ARGV[9] wait_ms, ARGV[10] bucket, ARGV[11] minute, ARGV[12] retention_s
-- Returns: 1, or 0 when the token is stale (nothing is written).

if not tonumber(ARGV[3]) then return redis.error_reply('fail_member: ARGV[3] (now) must be a number') end
if KEYS[6] then
  local why = bad_sample(ARGV[7], ARGV[8], ARGV[9], ARGV[10]) or bad_minute(ARGV[11], ARGV[12])
  if why then return redis.error_reply('fail_member: ' .. why) end
end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[4], 'finished_at', ARGV[3])
flow_release(KEYS[1], ARGV[1], ARGV[3], true) -- flow control (lib_flow.lua)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if KEYS[6] then count_attempt(KEYS[5], KEYS[6], ARGV[7], 2, ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]) end
member_outcome(ARGV[5], KEYS[4], ARGV[6], 'failed', ARGV[3], '', ARGV[4])
return 1
