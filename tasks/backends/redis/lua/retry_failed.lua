-- retry_failed: failed -> queued with attempts reset, for the given ids or (none given) the whole failed set.
--
-- KEYS[1]  failed  ZSET  job id -> failed_at
-- KEYS[2]  ready   LIST
-- KEYS[3]  wake    LIST
-- ARGV[1]  job hash key prefix
-- ARGV[2..]        job ids (optional)
-- Returns: how many jobs moved.

local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
end
local moved = 0
for _, id in ipairs(ids) do
  -- a record with no payload (its hash was lost) cannot run: it stays in the failed set
  if redis.call('HEXISTS', ARGV[1] .. id, 'payload') == 1 and redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('HSET', ARGV[1] .. id, 'state', 'queued', 'attempts', 0)
    redis.call('RPUSH', KEYS[2], id)
    moved = moved + 1
  end
end
if moved > 0 and redis.call('LLEN', KEYS[3]) == 0 then redis.call('LPUSH', KEYS[3], 1) end
return moved
