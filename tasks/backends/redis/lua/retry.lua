-- retry: running -> retrying (due at run_at), or straight back to ready when run_at <= now. One atomic step.
--
-- KEYS[1]  job        HASH
-- KEYS[2]  leases     ZSET  job id -> lease expiry
-- KEYS[3]  scheduled  ZSET  job id -> run_at
-- KEYS[4]  ready      LIST
-- KEYS[5]  wake       LIST
-- ARGV[1]  id, ARGV[2] token, ARGV[3] run_at, ARGV[4] now, ARGV[5] error (JSON)
-- Returns: 1, or 0 when the token is stale (the write is refused).
-- Metrics (tasks/observe/series.py), only when KEYS[7] is given:
-- KEYS[6]  metrics  HASH  the queue's counters of this minute
-- KEYS[7]  minutes  ZSET  minute -> minute: the minutes that have counters
-- ARGV[6]  name, ARGV[7] run_ms, ARGV[8] wait_ms, ARGV[9] bucket, ARGV[10] minute, ARGV[11] retention_s

local run_at, now = tonumber(ARGV[3]), tonumber(ARGV[4])
if not (run_at and now and run_at == run_at and now == now and run_at < math.huge) then
  return redis.error_reply('retry: run_at and now must be finite numbers')
end
-- metrics (tasks/observe): their arguments are checked before the first write too
if KEYS[7] then
  for i = 7, 11 do
    if not (ARGV[i] and ARGV[i]:find('^%d+$')) then return redis.error_reply('retry: metric argument ' .. i .. ' must be an integer') end
  end
  if tonumber(ARGV[9]) > 14 then return redis.error_reply('retry: the bucket must be 0-14') end
end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'error', ARGV[5])
if run_at <= now then
  redis.call('HSET', KEYS[1], 'state', 'queued')
  redis.call('RPUSH', KEYS[4], ARGV[1])
  if redis.call('LLEN', KEYS[5]) == 0 then redis.call('LPUSH', KEYS[5], 1) end
else
  redis.call('HSET', KEYS[1], 'state', 'retrying')
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end

-- metrics (tasks/observe): one more retried attempt of this job name in this minute, its run and wait times
if KEYS[7] then
  count_attempt(KEYS[6], KEYS[7], ARGV[6], 3, ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11])
end
flow_release(KEYS[1], ARGV[1], now, false) -- flow control
return 1
