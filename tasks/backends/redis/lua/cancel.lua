-- cancel: queued, scheduled or retrying -> cancelled (it never runs; no attempt is spent); a running job gets its
-- abort flag when asked. One atomic step, so against reserve a job is either cancelled here before any worker
-- takes it, or already leased (running) and reachable only by the abort: never both, never neither.
--
-- KEYS[1]  job        HASH
-- KEYS[2]  ready      LIST   job ids ready to run
-- KEYS[3]  scheduled  ZSET   job id -> run_at
-- KEYS[4]  metrics    HASH   the queue's counters of this minute (tasks/observe/series.py)
-- KEYS[5]  minutes    ZSET   minute -> minute: the minutes that have counters
-- ARGV[1]  id, ARGV[2] now, ARGV[3] abort ('1' or '0'), ARGV[4] keep_ms (kept this long when the payload names
--          no result_ttl), ARGV[5] minute, ARGV[6] retention_s ('' when metrics are off)
-- Returns: 'cancelled', 'abort_requested', 'running', 'finished' (it had ended) or 'unknown' (no such job).

if not (tonumber(ARGV[2]) and ARGV[4]:find('^%d+$') and (ARGV[6] == '' or (ARGV[5]:find('^%d+$') and ARGV[6]:find('^%d+$')))) then
  return redis.error_reply('cancel: now, keep_ms, minute and retention_s must be numbers')
end
local job = redis.call('HMGET', KEYS[1], 'state', 'payload')
local state = job[1]
if not state then return 'unknown' end
if state == 'running' then
  if ARGV[3] ~= '1' then return 'running' end
  redis.call('HSET', KEYS[1], 'abort', ARGV[2])
  return 'abort_requested'
end
if state ~= 'queued' and state ~= 'scheduled' and state ~= 'retrying' then return 'finished' end

local ok, payload = pcall(cjson.decode, job[2] or '')
if not ok or type(payload) ~= 'table' then payload = {} end
local keep_ms = tonumber(ARGV[4])
if type(payload.result_ttl) == 'number' and payload.result_ttl >= 0 and payload.result_ttl < 3e9 then
  keep_ms = math.max(math.floor(payload.result_ttl * 1000), 1)
end
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], keep_ms)
flow_release(KEYS[1], ARGV[1], ARGV[2], true) -- flow control: its unique lock ends with it

-- metrics (tasks/observe): one more cancelled job of this name in this minute
if ARGV[6] ~= '' then
  local name = type(payload.name) == 'string' and payload.name or '?'
  count(KEYS[4], name, {[4] = 1})
  keep_minute(KEYS[4], KEYS[5], ARGV[5], ARGV[6])
end
return 'cancelled'
