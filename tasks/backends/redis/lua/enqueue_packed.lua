-- enqueue_packed: enqueue.lua for jobs packed into one JSON argument (what tasks itself sends: one argument
-- per call instead of six per job, which halves the client's cost of a bulk dispatch).
--
-- KEYS[1]  ready      LIST   job ids ready to run
-- KEYS[2]  scheduled  ZSET   job id -> run_at
-- KEYS[3]  wake       LIST   wake-up tokens for idle workers
-- ARGV[1]  now        epoch seconds
-- ARGV[2]  job hash key prefix of the queue (its keys carry the queue's hash tag: the same slot as KEYS)
-- ARGV[3]  jobs       JSON array with one array of six strings per job:
--                     id, payload, max_attempts, enqueued_at, run_at ('' = now), signature
-- Returns: a string with one character per job: '1' stored, '0' its id already exists; an error, with nothing
--          stored, when a run_at is not a number (the producer checked the rest).

local now, prefix = tonumber(ARGV[1]), ARGV[2]
local jobs = cjson.decode(ARGV[3])
for i, job in ipairs(jobs) do
  local run_at = job[5]
  if run_at ~= '' then
    local due = tonumber(run_at)
    if not (due and due == due and due > -math.huge and due < math.huge) then
      return redis.error_reply('enqueue_packed: job ' .. i .. ': run_at must be a finite number')
    end
  end
end
local out, ready = {}, {}
for i, job in ipairs(jobs) do
  local id, run_at = job[1], job[5]
  local key = prefix .. id
  if redis.call('EXISTS', key) == 1 then
    out[i] = '0'
  else
    local due = run_at == '' or tonumber(run_at) <= now
    local state, sig = due and 'queued' or 'scheduled', job[6]
    if sig == '' then -- fields left out read as their defaults: no signature, 0 attempts
      redis.call('HSET', key, 'payload', job[2], 'max_attempts', job[3], 'enqueued_at', job[4], 'state', state)
    else
      redis.call('HSET', key, 'payload', job[2], 'max_attempts', job[3], 'enqueued_at', job[4], 'state', state,
        'sig', sig)
    end
    if due then
      ready[#ready + 1] = id
    else
      redis.call('ZADD', KEYS[2], run_at, id)
    end
    out[i] = '1'
  end
end
for first = 1, #ready, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ready, first, math.min(first + 999, #ready)))
end
if #ready > 0 and redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('LPUSH', KEYS[3], 1)
end
return table.concat(out)
