-- requeue_expired: jobs whose lease expired go back to ready, or to the failed set once attempts are spent.
-- Safe to run from many workers at once: each expired id is handled by exactly one call. Each record is checked
-- before anything is written to it: one whose counters are damaged, or whose hash is gone, goes to the failed
-- set with a MalformedJob error instead (never dropped without a trace). A queue one of whose keys holds the
-- wrong type is left untouched and reported.
--
-- KEYS[1]  leases  ZSET  job id -> lease expiry
-- KEYS[2]  ready   LIST
-- KEYS[3]  failed  ZSET  job id -> failed_at
-- KEYS[4]  wake    LIST
-- ARGV[1]  job hash key prefix, ARGV[2] now, ARGV[3] limit
-- Returns: {requeued, failed, damaged}: damaged is 1 when a key of the queue holds the wrong type (nothing done).

for key, kind in pairs({[KEYS[1]] = 'zset', [KEYS[2]] = 'list', [KEYS[3]] = 'zset', [KEYS[4]] = 'list'}) do
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= kind then return {0, 0, 1} end
end

local function count(v, least)
  return v:find('^%d+$') ~= nil and #v <= 15 and tonumber(v) >= least
end

local function show(v)
  return "'" .. (v:sub(1, 40):gsub('[^\32-\126]', '?')) .. "'"
end

local prefix, now = ARGV[1], ARGV[2]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local requeued, failed = 0, 0
for _, id in ipairs(ids) do
  local key = prefix .. id
  local job = redis.call('HMGET', key, 'attempts', 'max_attempts', 'payload')
  local attempts, most = job[1] or '0', job[2] or '1'
  local err
  if not job[3] then
    err = {type = 'MalformedJob', message = 'no payload: the job hash of this leased id is missing or incomplete'}
  elseif not count(attempts, 0) then
    err = {type = 'MalformedJob', message = 'field attempts is ' .. show(attempts) .. ', not an integer >= 0'}
  elseif not count(most, 1) then
    err = {type = 'MalformedJob', message = 'field max_attempts is ' .. show(most) .. ', not an integer >= 1'}
  elseif tonumber(attempts) >= tonumber(most) then
    err = {type = 'LeaseExpired', message = 'worker lost (lease expired) on attempt ' .. attempts .. ' of ' .. most}
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', key, 'token')
  if err then
    err.traceback = ''
    redis.call('HSET', key, 'state', 'failed', 'error', cjson.encode(err), 'finished_at', now)
    redis.call('ZADD', KEYS[3], now, id)
    failed = failed + 1
  else
    redis.call('HSET', key, 'state', 'queued')
    redis.call('RPUSH', KEYS[2], id)
    requeued = requeued + 1
  end
  flow_release(key, id, now, err ~= nil) -- flow control
end
if requeued > 0 and redis.call('LLEN', KEYS[4]) == 0 then redis.call('LPUSH', KEYS[4], 1) end
return {requeued, failed, 0}
