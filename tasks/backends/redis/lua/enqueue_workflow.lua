-- enqueue_workflow: write workflow records (a batch and its chains, or one chain) and enqueue their first jobs,
-- in one step: no member can end before its record exists. (workflow_lib.lua is prepended.)
--
-- KEYS[1]  workflow  HASH  the first record (the others share its home queue's hash tag)
-- ARGV[1]  key prefix P, ARGV[2] home queue, ARGV[3] now
-- ARGV[4]  records   JSON array: per record {id, fields (object of strings), members (array), steps (array of
--                    packed jobs)}
-- ARGV[5]  jobs      JSON array of jobs to enqueue now, each an array as a packed job's
-- Returns: 1, or 0 when a record of that id exists already (nothing is written).

local P, home, now = ARGV[1], ARGV[2], ARGV[3]
if not tonumber(now) then return redis.error_reply('enqueue_workflow: ARGV[3] (now) must be a number') end
local records, jobs = cjson.decode(ARGV[4]), cjson.decode(ARGV[5])
for i, r in ipairs(records) do
  if type(r[1]) ~= 'string' or type(r[2]) ~= 'table' or type(r[3]) ~= 'table' or type(r[4]) ~= 'table' then
    return redis.error_reply('enqueue_workflow: record ' .. i .. ' is malformed')
  end
  for _, s in ipairs(r[4]) do
    if not packed_ok(s) then return redis.error_reply('enqueue_workflow: a step of record ' .. i .. ' is malformed') end
  end
  if redis.call('EXISTS', wkey(P, home, r[1])) == 1 then return 0 end
end
for i, j in ipairs(jobs) do
  if not job_ok(j) then
    return redis.error_reply('enqueue_workflow: job ' .. i .. ' is malformed')
  end
end
for _, r in ipairs(records) do
  local wk = wkey(P, home, r[1])
  for field, value in pairs(r[2]) do redis.call('HSET', wk, field, value) end
  redis.call('HSET', wk, 'created_at', now)
  for _, m in ipairs(r[3]) do redis.call('SADD', wk .. ':members', m) end
  for _, s in ipairs(r[4]) do redis.call('RPUSH', wk .. ':steps', s) end
end
push_jobs(P, jobs, now)
return 1
