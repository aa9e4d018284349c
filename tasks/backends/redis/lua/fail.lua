-- fail: running -> failed, into the queue's failed set (the dead letters) with the last error. One atomic step.
--
-- KEYS[1]  job     HASH
-- KEYS[2]  leases  ZSET  job id -> lease expiry
-- KEYS[3]  failed  ZSET  job id -> failed_at
-- ARGV[1]  id, ARGV[2] token, ARGV[3] now, ARGV[4] error (JSON)
-- Returns: 1, or 0 when the token is stale (the write is refused).

if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[4], 'finished_at', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
