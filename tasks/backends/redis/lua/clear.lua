-- clear: delete the ready and scheduled jobs of a queue (running and failed jobs are left alone).
--
-- KEYS[1]  ready      LIST
-- KEYS[2]  scheduled  ZSET  job id -> run_at
-- KEYS[3]  wake       LIST
-- ARGV[1]  job hash key prefix
-- Returns: how many jobs were deleted.

local n = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do redis.call('DEL', ARGV[1] .. id); n = n + 1 end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('DEL', ARGV[1] .. id); n = n + 1 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return n
