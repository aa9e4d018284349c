-- enqueue: store jobs as queued (or scheduled when run_at > now); an id that already exists is left alone.
--
-- KEYS[1]  ready      LIST   job ids ready to run
-- KEYS[2]  scheduled  ZSET   job id -> run_at
-- KEYS[3]  wake       LIST   wake-up tokens for idle workers
-- KEYS[4..3+n]        HASH   one job hash per job, in ARGV order
-- ARGV[1]  now        epoch seconds
-- ARGV[2+6i .. 7+6i]  per job i: id, payload, max_attempts, enqueued_at, run_at ('' = now), signature
-- Returns: a list with 1 (stored) or 0 (id exists) per job; an error naming the job and field, with nothing
--          stored, when any job's arguments are malformed.
-- This script's KEYS and ARGV are part of protocol version 1 (docs/protocol.md): producers in other languages
-- call it.

local now = tonumber(ARGV[1])
if not now then return redis.error_reply('enqueue: ARGV[1] (now) must be a number of epoch seconds') end
if (#ARGV - 1) ~= (#KEYS - 3) * 6 then
  return redis.error_reply('enqueue: expected 6 arguments per job hash key, got ' .. (#ARGV - 1) .. ' for ' .. (#KEYS - 3))
end
for i = 4, #KEYS do
  local b = 2 + (i - 4) * 6
  local most, run_at = ARGV[b + 2], ARGV[b + 4]
  if not (most:find('^%d+$') and #most <= 15 and tonumber(most) >= 1) then
    return redis.error_reply('enqueue: job ' .. (i - 3) .. ': max_attempts must be an integer >= 1')
  end
  local due = tonumber(run_at)
  if run_at ~= '' and not (due and due == due and due > -math.huge and due < math.huge) then
    return redis.error_reply('enqueue: job ' .. (i - 3) .. ": run_at must be '' (now) or a number of epoch seconds")
  end
end
local out = {}
local pushed = 0
for i = 4, #KEYS do
  local b = 2 + (i - 4) * 6
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 1 then
    out[#out + 1] = 0
  else
    local id, run_at = ARGV[b], ARGV[b + 4]
    local due = run_at == '' or tonumber(run_at) <= now
    local state, sig = due and 'queued' or 'scheduled', ARGV[b + 5]
    if sig == '' then -- fields left out read as their defaults: no signature, 0 attempts
      redis.call('HSET', key, 'payload', ARGV[b + 1], 'max_attempts', ARGV[b + 2], 'enqueued_at', ARGV[b + 3], 'state', state)
    else
      redis.call('HSET', key, 'payload', ARGV[b + 1], 'max_attempts', ARGV[b + 2], 'enqueued_at', ARGV[b + 3], 'state', state,
        'sig', sig)
    end
    if due then
      redis.call('RPUSH', KEYS[1], id)
      pushed = pushed + 1
    else
      redis.call('ZADD', KEYS[2], run_at, id)
    end
    out[#out + 1] = 1
  end
end
if pushed > 0 and redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('LPUSH', KEYS[3], 1)
end
return out
