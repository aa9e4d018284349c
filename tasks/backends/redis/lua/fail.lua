-- fail: running -> failed, into the queue's failed set (the dead letters) with the last error. One atomic step.
--
-- KEYS[1]  job     HASH
-- KEYS[2]  leases  ZSET  job id -> lease expiry
-- KEYS[3]  failed  ZSET  job id -> failed_at
-- ARGV[1]  id, ARGV[2] token, ARGV[3] now, ARGV[4] error (JSON)
-- Returns: 1, or 0 when the token is stale (the write is refused).
-- Metrics (tasks/observe/series.py), only when KEYS[5] is given:
-- KEYS[4]  metrics  HASH  the queue's counters of this minute
-- KEYS[5]  minutes  ZSET  minute -> minute: the minutes that have counters
-- ARGV[5]  name, ARGV[6] run_ms, ARGV[7] wait_ms, ARGV[8] bucket, ARGV[9] minute, ARGV[10] retention_s

-- metrics (tasks/observe): their arguments are checked before the first write too
if KEYS[5] then
  for i = 6, 10 do
    if not (ARGV[i] and ARGV[i]:find('^%d+$')) then return redis.error_reply('fail: metric argument ' .. i .. ' must be an integer') end
  end
  if tonumber(ARGV[8]) > 14 then return redis.error_reply('fail: the bucket must be 0-14') end
end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[4], 'finished_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])

-- metrics (tasks/observe): one more failed attempt of this job name in this minute, its run and wait times
if KEYS[5] then
  count_attempt(KEYS[4], KEYS[5], ARGV[5], 2, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
end
flow_release(KEYS[1], ARGV[1], ARGV[3], true) -- flow control
return 1
