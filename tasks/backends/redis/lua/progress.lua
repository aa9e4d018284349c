-- progress: store what a running job says of its progress, in one write (no reply to wait for but this one).
--
-- KEYS[1]  job  HASH
-- ARGV[1]  progress (JSON: {"fraction": f, "note": s, "updated_at": t})
-- Returns: 1, or 0 when the job is not running (ended, cancelled, or its record is gone: nothing is written).

if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[1])
return 1
