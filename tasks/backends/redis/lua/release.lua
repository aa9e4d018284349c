-- release: running -> queued at the HEAD of the queue with the attempt given back (the job never ran).
--
-- KEYS[1]  job     HASH
-- KEYS[2]  leases  ZSET  job id -> lease expiry
-- KEYS[3]  ready   LIST
-- KEYS[4]  wake    LIST
-- ARGV[1]  id, ARGV[2] token
-- Returns: 1, or 0 when the token is stale.

local job = redis.call('HMGET', KEYS[1], 'token', 'attempts')
if job[1] ~= ARGV[2] then return 0 end
-- the attempt given back; counters damaged since the reserve are reset rather than failing midway
local attempts = job[2] and job[2]:find('^%d+$') and #job[2] <= 15 and tonumber(job[2]) or 1
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'queued', 'attempts', math.max(attempts - 1, 0))
redis.call('LPUSH', KEYS[3], ARGV[1])
if redis.call('LLEN', KEYS[4]) == 0 then redis.call('LPUSH', KEYS[4], 1) end
flow_release(KEYS[1], ARGV[1], 0, false) -- flow control: a held job is due at once
return 1
