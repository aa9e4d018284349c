-- complete: running -> succeeded for each job whose lease token still matches; keep the result for its TTL.
-- Every job's arguments are checked before the first write, so a bad batch changes nothing.
--
-- KEYS[1]  leases  ZSET  job id -> lease expiry
-- ARGV[1]  now     epoch seconds
-- ARGV[2]  job hash key prefix of the queue (its keys carry the queue's hash tag: the same slot as KEYS)
-- ARGV[3]  jobs    JSON array with one array per job: id, token, result, result_ttl_ms (all strings)
--                  (one argument for the batch: the worker's client packs it in C, not arg by arg)
--                  then, when metrics are on: job name (string), run_ms, wait_ms, bucket (numbers)
-- Metrics (tasks/observe/series.py), only when KEYS[3] is given:
-- KEYS[2]  metrics  HASH  the queue's counters of this minute
-- KEYS[3]  minutes  ZSET  minute -> minute: the minutes that have counters
-- ARGV[4]  minute, ARGV[5] retention_s
-- Returns: a string with one character per job: '1' done, '0' stale token (the write is refused).

local now, prefix = ARGV[1], ARGV[2]
local jobs = cjson.decode(ARGV[3])
for i, job in ipairs(jobs) do
  if type(job[1]) ~= 'string' or type(job[2]) ~= 'string' or type(job[3]) ~= 'string'
      or type(job[4]) ~= 'string' or not job[4]:find('^%d+$') or #job[4] > 15 or job[4] == '0' then
    return redis.error_reply('complete: job ' .. i .. ' of the batch is malformed (id, token, result, ttl_ms > 0)')
  end
end
-- metrics (tasks/observe): their arguments are checked before the first write too
if KEYS[3] then
  if not (ARGV[4] and ARGV[4]:find('^%d+$') and ARGV[5] and ARGV[5]:find('^%d+$')) then
    return redis.error_reply('complete: minute and retention_s must be integers')
  end
  for i, job in ipairs(jobs) do
    local run, wait, bucket = job[6], job[7], job[8]
    if type(job[5]) ~= 'string' or type(run) ~= 'number' or run < 0 or type(wait) ~= 'number' or wait < 0
        or type(bucket) ~= 'number' or bucket < 0 or bucket > 14 or bucket % 1 ~= 0 then
      return redis.error_reply('complete: job ' .. i .. ' of the batch has malformed metrics (name, run_ms, wait_ms, bucket 0-14)')
    end
  end
end

local out = {}
for i, job in ipairs(jobs) do
  local id, key = job[1], prefix .. job[1]
  if redis.call('HGET', key, 'token') == job[2] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', key, 'token')
    redis.call('HSET', key, 'state', 'succeeded', 'result', job[3], 'finished_at', now)
    redis.call('PEXPIRE', key, job[4])
    flow_release(key, id, now, true) -- flow control
    out[i] = '1'
  else
    out[i] = '0'
  end
end

-- metrics (tasks/observe): the jobs completed above, summed per job name, then added once per name
if KEYS[3] then
  local add, any = {}, false
  for i, job in ipairs(jobs) do
    if out[i] == '1' then
      local d = add[job[5]] or {[1] = 0, [5] = 0, [6] = 0}
      local bucket = 7 + job[8]
      d[1], d[5], d[6], d[bucket] = d[1] + 1, d[5] + math.floor(job[6]), d[6] + math.floor(job[7]), (d[bucket] or 0) + 1
      add[job[5]] = d
      any = true
    end
  end
  if any then
    for name, delta in pairs(add) do count(KEYS[2], name, delta) end
    keep_minute(KEYS[2], KEYS[3], ARGV[4], ARGV[5])
  end
end
return table.concat(out)
