-- requeue_expired: jobs whose lease expired go back to ready, or to the failed set once attempts are spent.
-- Safe to run from many workers at once: each expired id is handled by exactly one call.
--
-- KEYS[1]  leases  ZSET  job id -> lease expiry
-- KEYS[2]  ready   LIST
-- KEYS[3]  failed  ZSET  job id -> failed_at
-- KEYS[4]  wake    LIST
-- ARGV[1]  job hash key prefix, ARGV[2] now, ARGV[3] limit
-- Returns: {requeued, failed}

local prefix, now = ARGV[1], ARGV[2]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local requeued, failed = 0, 0
for _, id in ipairs(ids) do
  local key = prefix .. id
  redis.call('ZREM', KEYS[1], id)
  local job = redis.call('HMGET', key, 'attempts', 'max_attempts')
  if job[1] then
    redis.call('HDEL', key, 'token')
    if tonumber(job[1]) >= tonumber(job[2]) then
      local err = cjson.encode({type = 'LeaseExpired',
        message = 'worker lost (lease expired) on attempt ' .. job[1] .. ' of ' .. job[2], traceback = ''})
      redis.call('HSET', key, 'state', 'failed', 'error', err, 'finished_at', now)
      redis.call('ZADD', KEYS[3], now, id)
      failed = failed + 1
    else
      redis.call('HSET', key, 'state', 'queued')
      redis.call('RPUSH', KEYS[2], id)
      requeued = requeued + 1
    end
  end
end
if requeued > 0 and redis.call('LLEN', KEYS[4]) == 0 then redis.call('LPUSH', KEYS[4], 1) end
return {requeued, failed}
