-- purge_failed: delete every job of the failed set.
--
-- KEYS[1]  failed  ZSET  job id -> failed_at
-- ARGV[1]  job hash key prefix
-- Returns: how many jobs were deleted.

local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return #ids
