-- abort: running -> cancelled, for a job whose abort was asked and whose process was stopped. One atomic step.
--
-- KEYS[1]  job      HASH
-- KEYS[2]  leases   ZSET  job id -> lease expiry
-- KEYS[3]  metrics  HASH  the queue's counters of this minute (tasks/observe/series.py)
-- KEYS[4]  minutes  ZSET  minute -> minute
-- ARGV[1]  id, ARGV[2] token, ARGV[3] now, ARGV[4] keep_ms, ARGV[5] name, ARGV[6] minute,
-- ARGV[7]  retention_s ('' when metrics are off)
-- Returns: 1, or 0 when the token is stale (the write is refused).

if not (tonumber(ARGV[3]) and ARGV[4]:find('^%d+$') and (ARGV[7] == '' or (ARGV[6]:find('^%d+$') and ARGV[7]:find('^%d+$')))) then
  return redis.error_reply('abort: now, keep_ms, minute and retention_s must be numbers')
end
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[4]), 1))

-- metrics (tasks/observe): one more cancelled job of this name in this minute
if ARGV[7] ~= '' then
  redis.call('HINCRBY', KEYS[3], 'c:' .. ARGV[5], 1)
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (tonumber(ARGV[6]) - tonumber(ARGV[7])))
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
return 1
