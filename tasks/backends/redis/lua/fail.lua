-- fail: running -> failed, into the queue's failed set (the dead letters) with the last error. One atomic step.
--
-- KEYS[1]  job     HASH
-- KEYS[2]  leases  ZSET  job id -> lease expiry
-- KEYS[3]  failed  ZSET  job id -> failed_at
-- ARGV[1]  id, ARGV[2] token, ARGV[3] now, ARGV[4] error (JSON)
-- Returns: 1, or 0 when the token is stale (the write is refused).

-- [flow control: tasks.limits] A job leaving `running` gives back its concurrency slot (the oldest job held for one
-- is made due now, and a worker woken) and, when it ended for good, the unique lock it holds.
local function flow_release(key, id, now, ended)
  local text = redis.call('HGET', key, 'flow')
  if not text then return end
  local ok, flow = pcall(cjson.decode, text)
  if not ok or type(flow) ~= 'table' then return end
  if type(flow.c) == 'string' then
    redis.call('SREM', flow.c, id)
    local next_id = redis.call('LPOP', flow.h)
    while next_id and not redis.call('ZSCORE', flow.s, next_id) do next_id = redis.call('LPOP', flow.h) end
    if next_id then
      redis.call('ZADD', flow.s, now, next_id)
      if redis.call('LLEN', flow.w) == 0 then redis.call('LPUSH', flow.w, 1) end
    end
  end
  if ended and type(flow.u) == 'string' and redis.call('GET', flow.u) == id then redis.call('DEL', flow.u) end
end

if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[4], 'finished_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
flow_release(KEYS[1], ARGV[1], ARGV[3], true) -- flow control
return 1
