-- add_members: more members for a running batch (its chains' records too) and their first jobs, counted in its
-- total and pending in the same step. (workflow_lib.lua is prepended.)
--
-- KEYS[1]  workflow  HASH  the batch record
-- ARGV[1]  key prefix P, ARGV[2] home queue, ARGV[3] now
-- ARGV[4]  records   JSON array, as enqueue_workflow's, of the chains among the new members
-- ARGV[5]  jobs      JSON array of jobs to enqueue now, each an array as a packed job's
-- ARGV[6]  members   JSON array of the new members' refs
-- Returns: 1, or 0 when the batch is not running (cancelled, finished or unknown: nothing is written).

local P, home, now = ARGV[1], ARGV[2], ARGV[3]
if not tonumber(now) then return redis.error_reply('add_members: ARGV[3] (now) must be a number') end
local records, jobs, members = cjson.decode(ARGV[4]), cjson.decode(ARGV[5]), cjson.decode(ARGV[6])
for i, j in ipairs(jobs) do
  if not job_ok(j) then
    return redis.error_reply('add_members: job ' .. i .. ' is malformed')
  end
end
for i, r in ipairs(records) do
  if type(r[1]) ~= 'string' or type(r[2]) ~= 'table' or type(r[3]) ~= 'table' or type(r[4]) ~= 'table' then
    return redis.error_reply('add_members: record ' .. i .. ' is malformed')
  end
end
local b = redis.call('HMGET', KEYS[1], 'kind', 'state', 'finished_at')
if b[1] ~= 'batch' or b[2] ~= 'running' or b[3] then return 0 end
local added = 0
for _, m in ipairs(members) do added = added + redis.call('SADD', KEYS[1] .. ':members', m) end
redis.call('HINCRBY', KEYS[1], 'total', added)
redis.call('HINCRBY', KEYS[1], 'pending', added)
for _, r in ipairs(records) do
  local wk = wkey(P, home, r[1])
  for field, value in pairs(r[2]) do redis.call('HSET', wk, field, value) end
  redis.call('HSET', wk, 'created_at', now)
  for _, s in ipairs(r[4]) do redis.call('RPUSH', wk .. ':steps', s) end
end
push_jobs(P, jobs, now)
return 1
