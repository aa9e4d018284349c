-- complete_members: complete_member for many members of one queue in one call (the worker's batched
-- acknowledgement): each member whose token still matches goes running -> succeeded, and its workflow moves in
-- the same step. Every member's arguments are checked before the first write. (workflow_lib.lua is prepended.)
--
-- KEYS[1]  leases  ZSET  job id -> lease expiry
-- ARGV[1]  now, ARGV[2] job hash key prefix of the queue, ARGV[3] key prefix P
-- ARGV[4]  members JSON array, one array per member: id, token, result, result_ttl_ms, home queue, workflow id
--          then, when metrics are on: job name, run_ms, wait_ms, bucket
-- Metrics (lib_metrics.lua), only when KEYS[3] is given:
-- KEYS[2]  metrics  HASH  the queue's counters of this minute;  KEYS[3]  minutes  ZSET
-- ARGV[5]  minute, ARGV[6] retention_s
-- Returns: a string with one character per member: '1' done, '0' stale token (nothing written for it).

local now, prefix, P = ARGV[1], ARGV[2], ARGV[3]
if not tonumber(now) then return redis.error_reply('complete_members: ARGV[1] (now) must be a number') end
local members = cjson.decode(ARGV[4])
local bad = KEYS[3] and bad_minute(ARGV[5], ARGV[6])
if bad then return redis.error_reply('complete_members: ' .. bad) end
for i, m in ipairs(members) do
  for f = 1, 6 do
    if type(m[f]) ~= 'string' then return redis.error_reply('complete_members: member ' .. i .. ' is malformed') end
  end
  if not m[4]:find('^%d+$') or #m[4] > 15 or m[4] == '0' then
    return redis.error_reply('complete_members: member ' .. i .. ': result_ttl_ms must be an integer > 0')
  end
  local why = KEYS[3] and bad_sample(m[7], m[8], m[9], m[10])
  if why then return redis.error_reply('complete_members: member ' .. i .. ': ' .. why) end
end
local out = {}
for i, m in ipairs(members) do
  local key = prefix .. m[1]
  if redis.call('HGET', key, 'token') == m[2] then
    redis.call('ZREM', KEYS[1], m[1])
    redis.call('HDEL', key, 'token')
    redis.call('HSET', key, 'state', 'succeeded', 'result', m[3], 'finished_at', now)
    redis.call('PEXPIRE', key, m[4])
    flow_release(key, m[1], now, true) -- flow control (lib_flow.lua)
    if KEYS[3] then count_attempt(KEYS[2], KEYS[3], m[7], 1, m[8], m[9], m[10], ARGV[5], ARGV[6]) end
    member_outcome(P, wkey(P, m[5], m[6]), m[5], 'succeeded', now, m[3], '')
    out[i] = '1'
  else
    out[i] = '0'
  end
end
return table.concat(out)
