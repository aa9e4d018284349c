-- complete: running -> succeeded for each job whose lease token still matches; keep the result for its TTL.
-- Every job's arguments are checked before the first write, so a bad batch changes nothing.
--
-- KEYS[1]  leases  ZSET  job id -> lease expiry
-- ARGV[1]  now     epoch seconds
-- ARGV[2]  job hash key prefix of the queue (its keys carry the queue's hash tag: the same slot as KEYS)
-- ARGV[3]  jobs    JSON array with one array per job: id, token, result, result_ttl_ms (all strings)
--                  (one argument for the batch: the worker's client packs it in C, not arg by arg)
-- Returns: a string with one character per job: '1' done, '0' stale token (the write is refused).

-- [flow control: tasks.limits] A job leaving `running` gives back its concurrency slot (the oldest job held for one
-- is made due now, and a worker woken) and, when it ended for good, the unique lock it holds.
local function flow_release(key, id, now, ended)
  local text = redis.call('HGET', key, 'flow')
  if not text then return end
  local ok, flow = pcall(cjson.decode, text)
  if not ok or type(flow) ~= 'table' then return end
  if type(flow.c) == 'string' then
    redis.call('SREM', flow.c, id)
    local next_id = redis.call('LPOP', flow.h)
    while next_id and not redis.call('ZSCORE', flow.s, next_id) do next_id = redis.call('LPOP', flow.h) end
    if next_id then
      redis.call('ZADD', flow.s, now, next_id)
      if redis.call('LLEN', flow.w) == 0 then redis.call('LPUSH', flow.w, 1) end
    end
  end
  if ended and type(flow.u) == 'string' and redis.call('GET', flow.u) == id then redis.call('DEL', flow.u) end
end

local now, prefix = ARGV[1], ARGV[2]
local jobs = cjson.decode(ARGV[3])
for i, job in ipairs(jobs) do
  if type(job[1]) ~= 'string' or type(job[2]) ~= 'string' or type(job[3]) ~= 'string'
      or type(job[4]) ~= 'string' or not job[4]:find('^%d+$') or #job[4] > 15 or job[4] == '0' then
    return redis.error_reply('complete: job ' .. i .. ' of the batch is malformed (id, token, result, ttl_ms > 0)')
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
return table.concat(out)
