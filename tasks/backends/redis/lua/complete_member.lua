-- complete_member: a workflow member's running -> succeeded, and in the same step what its workflow does next:
-- a chain's next step enqueued (its result first among the step's arguments when the chain pipes), a batch's
-- counters moved and, when nothing is pending, its callbacks enqueued. (workflow_lib.lua is prepended.)
--
-- KEYS[1]  job       HASH  the member
-- KEYS[2]  leases    ZSET  job id -> lease expiry
-- KEYS[3]  workflow  HASH  the member's workflow record (its other keys: KEYS[3] .. ':members' / ':steps')
-- ARGV[1]  id, ARGV[2] token, ARGV[3] now, ARGV[4] result, ARGV[5] result_ttl_ms
-- ARGV[6]  key prefix P, ARGV[7] the workflow's home queue
-- Metrics (lib_metrics.lua), only when KEYS[5] is given:
-- KEYS[4]  metrics  HASH  the queue's counters of this minute;  KEYS[5]  minutes  ZSET
-- ARGV[8]  name, ARGV[9] run_ms, ARGV[10] wait_ms, ARGV[11] bucket, ARGV[12] minute, ARGV[13] retention_s
-- Returns: 1, or 0 when the token is stale (nothing is written: no step, no counter, no callback).

if not (ARGV[5]:find('^%d+$') and #ARGV[5] <= 15 and ARGV[5] ~= '0') then
  return redis.error_reply('complete_member: ARGV[5] (result_ttl_ms) must be an integer > 0')
end
if not tonumber(ARGV[3]) then return redis.error_reply('complete_member: ARGV[3] (now) must be a number') end
if KEYS[5] then
  local why = bad_sample(ARGV[8], ARGV[9], ARGV[10], ARGV[11]) or bad_minute(ARGV[12], ARGV[13])
  if why then return redis.error_reply('complete_member: ' .. why) end
end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'succeeded', 'result', ARGV[4], 'finished_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
flow_release(KEYS[1], ARGV[1], ARGV[3], true) -- flow control (lib_flow.lua)
if KEYS[5] then count_attempt(KEYS[4], KEYS[5], ARGV[8], 1, ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]) end
member_outcome(ARGV[6], KEYS[3], ARGV[7], 'succeeded', ARGV[3], ARGV[4], '')
return 1
