-- defer: running -> scheduled (due at run_at), or straight back to ready when run_at <= now, with the attempt
-- given back: the job never ran (this worker cannot run it yet; another may). One atomic step.
--
-- KEYS[1]  job        HASH
-- KEYS[2]  leases     ZSET  job id -> lease expiry
-- KEYS[3]  scheduled  ZSET  job id -> run_at
-- KEYS[4]  ready      LIST
-- KEYS[5]  wake       LIST
-- ARGV[1]  id, ARGV[2] token, ARGV[3] run_at, ARGV[4] now
-- Returns: 1, or 0 when the token is stale (the write is refused).

local run_at, now = tonumber(ARGV[3]), tonumber(ARGV[4])
if not (run_at and now and run_at == run_at and now == now and run_at < math.huge) then
  return redis.error_reply('defer: run_at and now must be finite numbers')
end
local job = redis.call('HMGET', KEYS[1], 'token', 'attempts')
if job[1] ~= ARGV[2] then return 0 end
-- the attempt given back; a counter damaged since the reserve is reset rather than failing midway
local attempts = job[2] and job[2]:find('^%d+$') and #job[2] <= 15 and tonumber(job[2]) or 1
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'attempts', math.max(attempts - 1, 0))
if run_at <= now then
  redis.call('HSET', KEYS[1], 'state', 'queued')
  redis.call('RPUSH', KEYS[4], ARGV[1])
  if redis.call('LLEN', KEYS[5]) == 0 then redis.call('LPUSH', KEYS[5], 1) end
else
  redis.call('HSET', KEYS[1], 'state', 'scheduled')
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end
flow_release(KEYS[1], ARGV[1], now, false) -- flow control
return 1
