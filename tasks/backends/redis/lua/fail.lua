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
end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[4], 'finished_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])

-- metrics (tasks/observe): one more failed attempt of this job name in this minute, its run and wait times
if KEYS[5] then
  local name = ARGV[5]
  redis.call('HINCRBY', KEYS[4], 'f:' .. name, 1)
  redis.call('HINCRBY', KEYS[4], 'run:' .. name, ARGV[6])
  redis.call('HINCRBY', KEYS[4], 'wait:' .. name, ARGV[7])
  redis.call('HINCRBY', KEYS[4], 'h' .. ARGV[8] .. ':' .. name, 1)
  redis.call('EXPIRE', KEYS[4], ARGV[10])
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[9])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. (tonumber(ARGV[9]) - tonumber(ARGV[10])))
  redis.call('EXPIRE', KEYS[5], ARGV[10])
end
return 1
