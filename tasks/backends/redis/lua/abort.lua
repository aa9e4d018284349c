-- abort: running -> cancelled, for a job whose abort was asked (cancel with abort) and that stopped: it returned,
-- or its process was stopped. One atomic step; the record is kept as long as its result would be.
--
-- KEYS[1]  job      HASH
-- KEYS[2]  leases   ZSET  job id -> lease expiry
-- KEYS[3]  metrics  HASH  the queue's counters of this minute (tasks/observe/series.py)
-- KEYS[4]  minutes  ZSET  minute -> minute
-- ARGV[1]  id, ARGV[2] token, ARGV[3] now, ARGV[4] keep_ms (when the payload names no result_ttl),
-- ARGV[5]  minute, ARGV[6] retention_s ('' when metrics are off)
-- Returns: 1, or 0 when the token is stale (the write is refused).

if not (tonumber(ARGV[3]) and ARGV[4]:find('^%d+$') and (ARGV[6] == '' or (ARGV[5]:find('^%d+$') and ARGV[6]:find('^%d+$')))) then
  return redis.error_reply('abort: now, keep_ms, minute and retention_s must be numbers')
end
local job = redis.call('HMGET', KEYS[1], 'token', 'payload')
if job[1] ~= ARGV[2] then return 0 end
local ok, payload = pcall(cjson.decode, job[2] or '')
if not ok or type(payload) ~= 'table' then payload = {} end
local keep_ms = tonumber(ARGV[4])
if type(payload.result_ttl) == 'number' and payload.result_ttl >= 0 and payload.result_ttl < 3e9 then
  keep_ms = math.max(math.floor(payload.result_ttl * 1000), 1)
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], keep_ms)
flow_release(KEYS[1], ARGV[1], ARGV[3], true) -- flow control: its slot and unique lock end with it

-- metrics (tasks/observe): one more cancelled job of this name in this minute
if ARGV[6] ~= '' then
  local name = type(payload.name) == 'string' and payload.name or '?'
  count(KEYS[3], name, {[4] = 1})
  keep_minute(KEYS[3], KEYS[4], ARGV[5], ARGV[6])
end
return 1
