-- lib_metrics: the per-minute counters the outcome transitions add to (tasks/observe/series.py; prepended to those
-- scripts, see scripts.LIBRARIES).
--
-- count(key, name, delta): add `delta` (position -> number) to the packed counters of job `name` in the minute
-- HASH `key`: one field per job name, its value the counters joined by commas (see `series.PACKED`).

local function count(key, name, delta)
  local v = {}
  local old = redis.call('HGET', key, name)
  if old then for n in old:gmatch('[^,]+') do v[#v + 1] = tonumber(n) or 0 end end
  for i, n in pairs(delta) do
    for j = #v + 1, i do v[j] = 0 end
    v[i] = v[i] + n
  end
  redis.call('HSET', key, name, table.concat(v, ','))
end

-- Why the metric arguments of one attempt (name, run_ms, wait_ms, bucket) cannot be counted, or nil.
local function bad_sample(name, run_ms, wait_ms, bucket)
  run_ms, wait_ms, bucket = tostring(run_ms), tostring(wait_ms), tostring(bucket)
  if type(name) ~= 'string' or type(run_ms) ~= 'string' or not run_ms:find('^%d+$') or type(wait_ms) ~= 'string'
      or not wait_ms:find('^%d+$') or type(bucket) ~= 'string' or not bucket:find('^%d%d?$') or tonumber(bucket) > 14 then
    return 'malformed metrics (name, run_ms, wait_ms, bucket 0-14)'
  end
  return nil
end

-- Why a minute and a retention (whole seconds, as text) cannot key the counters, or nil.
local function bad_minute(minute, retention)
  if type(minute) ~= 'string' or not minute:find('^%d+$') or type(retention) ~= 'string' or not retention:find('^%d+$') then
    return 'malformed metrics (minute and retention_s must be whole seconds)'
  end
  return nil
end

-- keep_minute(hash, minutes, minute, retention): list `minute` in the `minutes` index; on the minute's first
-- counters, give them their expiry and drop the minutes older than `retention` seconds from the index.
local function keep_minute(hash, minutes, minute, retention)
  if redis.call('ZADD', minutes, minute, minute) == 1 then
    redis.call('EXPIRE', hash, retention)
    redis.call('ZREMRANGEBYSCORE', minutes, '-inf', '(' .. (tonumber(minute) - tonumber(retention)))
    redis.call('EXPIRE', minutes, retention)
  end
end

-- Count one attempt of job `name` ending as `position` (1 succeeded, 2 failed, 3 retried) in the minute HASH
-- `hash`, with its run and wait times.
local function count_attempt(hash, minutes, name, position, run_ms, wait_ms, bucket, minute, retention)
  count(hash, name, {[position] = 1, [5] = tonumber(run_ms), [6] = tonumber(wait_ms), [7 + tonumber(bucket)] = 1})
  keep_minute(hash, minutes, minute, retention)
end
