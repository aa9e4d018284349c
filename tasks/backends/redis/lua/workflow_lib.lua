-- workflow_lib: the functions every workflow transition shares (prepended to each of them when it is loaded).
-- They follow tasks/workflows/policy.py step for step. Keys are named as tasks/backends/redis/keys.py names them:
--   P:{Q}:ready, P:{Q}:wake, P:{Q}:scheduled, P:{Q}:job:<id>   the keys of queue Q under prefix P
--   P:{H}:wf:<id>          HASH  a workflow record (home queue H): kind, name, state, counters, callbacks, times
--   P:{H}:wf:<id>:members  SET   what a batch waits for: 'queue<TAB>job id', or '<TAB>chain id' for a chain
--   P:{H}:wf:<id>:steps    LIST  a chain's steps not yet enqueued, each a packed job
-- A packed job is a JSON array: id, queue, payload, max_attempts, run_at ('' = now), signature.

local function qkey(P, q, part) return P .. ':{' .. q .. '}:' .. part end
local function jkey(P, q, id) return P .. ':{' .. q .. '}:job:' .. id end
local function wkey(P, home, id) return P .. ':{' .. home .. '}:wf:' .. id end

-- Is `j` a decoded packed job?
local function job_ok(j)
  if type(j) ~= 'table' or #j ~= 6 then return false end
  for i = 1, 6 do if type(j[i]) ~= 'string' then return false end end
  return j[4]:find('^%d+$') ~= nil and (j[5] == '' or tonumber(j[5]) ~= nil)
end

-- Is `text` a packed job (or '' for none)?
local function packed_ok(text)
  if text == '' then return true end
  local ok, j = pcall(cjson.decode, text)
  return ok and job_ok(j)
end

-- Store one decoded packed job as queued (or scheduled), as enqueue.lua does; an id that exists is left alone.
local function push_job(P, j, now)
  local id, q, run_at = j[1], j[2], j[5]
  local key = jkey(P, q, id)
  if redis.call('EXISTS', key) == 1 then return 0 end
  local due = run_at == '' or tonumber(run_at) <= tonumber(now)
  redis.call('HSET', key, 'payload', j[3], 'max_attempts', j[4], 'enqueued_at', now, 'state', due and 'queued' or 'scheduled')
  if j[6] ~= '' then redis.call('HSET', key, 'sig', j[6]) end
  if due then
    redis.call('RPUSH', qkey(P, q, 'ready'), id)
    local wake = qkey(P, q, 'wake')
    if redis.call('LLEN', wake) == 0 then redis.call('LPUSH', wake, 1) end
  else
    redis.call('ZADD', qkey(P, q, 'scheduled'), run_at, id)
  end
  return 1
end

-- push_job for many decoded jobs (a batch's members): one RPUSH per queue and 1000 ids, one wake-up. The queue
-- index lies in another slot: the caller names the queues there before the script runs.
local function push_jobs(P, jobs, now)
  local ready, order = {}, {}
  for _, j in ipairs(jobs) do
    local id, q, run_at = j[1], j[2], j[5]
    local key = jkey(P, q, id)
    if redis.call('EXISTS', key) == 0 then
      local due = run_at == '' or tonumber(run_at) <= tonumber(now)
      if j[6] == '' then
        redis.call('HSET', key, 'payload', j[3], 'max_attempts', j[4], 'enqueued_at', now, 'state', due and 'queued' or 'scheduled')
      else
        redis.call('HSET', key, 'payload', j[3], 'max_attempts', j[4], 'enqueued_at', now, 'state', due and 'queued' or 'scheduled',
          'sig', j[6])
      end
      if not ready[q] then ready[q] = {}; order[#order + 1] = q end
      if due then ready[q][#ready[q] + 1] = id else redis.call('ZADD', qkey(P, q, 'scheduled'), run_at, id) end
    end
  end
  for _, q in ipairs(order) do
    local ids = ready[q]
    for first = 1, #ids, 1000 do
      redis.call('RPUSH', qkey(P, q, 'ready'), unpack(ids, first, math.min(first + 999, #ids)))
    end
    local wake = qkey(P, q, 'wake')
    if #ids > 0 and redis.call('LLEN', wake) == 0 then redis.call('LPUSH', wake, 1) end
  end
end

local function push_packed(P, text, now)
  if text and text ~= '' then push_job(P, cjson.decode(text), now) end
end

-- A job not yet started -> cancelled (out of its queue); false when it runs or already ended.
local function cancel_job(P, q, id, now, ttl)
  local key = jkey(P, q, id)
  local state = redis.call('HGET', key, 'state')
  if state == 'queued' then
    redis.call('LREM', qkey(P, q, 'ready'), 1, id)
  elseif state == 'scheduled' or state == 'retrying' then
    redis.call('ZREM', qkey(P, q, 'scheduled'), id)
  else
    return false
  end
  redis.call('HSET', key, 'state', 'cancelled', 'finished_at', now)
  redis.call('PEXPIRE', key, ttl)
  return true
end

-- A workflow ended: note when, and let its keys expire after the record's TTL.
local function finish(wk, now)
  redis.call('HSET', wk, 'finished_at', now)
  local ttl = redis.call('HGET', wk, 'ttl_ms')
  for _, k in ipairs({wk, wk .. ':members', wk .. ':steps'}) do redis.call('PEXPIRE', k, ttl) end
end

-- One member of a batch (ref 'queue<TAB>id' or '<TAB>chain id') not yet started -> cancelled; true if it was.
local function cancel_ref(P, home, ref, now, ttl)
  local tab = ref:find('\t', 1, true)
  local q, id = ref:sub(1, tab - 1), ref:sub(tab + 1)
  if q ~= '' then return cancel_job(P, q, id, now, ttl) end
  local ck = wkey(P, home, id)
  if redis.call('HGET', ck, 'state') ~= 'running' then return false end
  redis.call('HSET', ck, 'state', 'cancelled')
  local cur = redis.call('HGET', ck, 'current') or ''
  local t = cur:find('\t', 1, true)
  if t and cancel_job(P, cur:sub(1, t - 1), cur:sub(t + 1), now, ttl) then
    local left = tonumber(redis.call('HGET', ck, 'pending'))
    redis.call('HSET', ck, 'pending', 0)
    redis.call('HINCRBY', ck, 'cancelled', left)
    finish(ck, now)
    return true
  end
  return false -- its step runs: the chain ends (cancelled) when that step does
end

-- Cancel every member of batch `bk` not yet started, counting each.
local function cancel_rest(P, bk, home, now)
  local ttl = redis.call('HGET', bk, 'ttl_ms')
  local n = 0
  for _, ref in ipairs(redis.call('SMEMBERS', bk .. ':members')) do
    if cancel_ref(P, home, ref, now, ttl) then n = n + 1 end
  end
  if n > 0 then
    redis.call('HINCRBY', bk, 'pending', -n)
    redis.call('HINCRBY', bk, 'cancelled', n)
  end
end

-- When nothing is pending: fire `then` (still running, and nothing failed or failures allowed) and `finally`,
-- write the final state and start the record's TTL. Runs once: a finished batch is left alone.
local function settle(P, bk, now)
  local b = redis.call('HMGET', bk, 'pending', 'failed', 'cancelled', 'state', 'allow', 'finished_at')
  if tonumber(b[1]) > 0 or b[6] then return end
  if b[4] == 'running' and (b[2] == '0' or b[5] == '1') then push_packed(P, redis.call('HGET', bk, 'then'), now) end
  push_packed(P, redis.call('HGET', bk, 'finally'), now)
  local state = 'succeeded'
  if b[2] ~= '0' then state = 'failed' elseif b[4] == 'cancelled' or b[3] ~= '0' then state = 'cancelled' end
  redis.call('HSET', bk, 'state', state)
  finish(bk, now)
end

-- One member of batch `bk` ended with `outcome` (succeeded, failed or cancelled).
local function batch_outcome(P, bk, home, outcome, now)
  local b = redis.call('HMGET', bk, 'pending', 'state', 'allow')
  if not b[1] or tonumber(b[1]) <= 0 then return end
  redis.call('HINCRBY', bk, 'pending', -1)
  if outcome == 'succeeded' then
    redis.call('HINCRBY', bk, 'succeeded', 1)
  elseif outcome == 'cancelled' then
    redis.call('HINCRBY', bk, 'cancelled', 1)
  else
    if redis.call('HINCRBY', bk, 'failed', 1) == 1 then push_packed(P, redis.call('HGET', bk, 'catch'), now) end
    if b[3] ~= '1' and b[2] == 'running' then
      redis.call('HSET', bk, 'state', 'cancelled')
      cancel_rest(P, bk, home, now)
    end
  end
  settle(P, bk, now)
end

-- `payload` with `value` (JSON text) as its first positional argument.
local function pipe_into(payload, value)
  local _, e = payload:find('"args":[', 1, true)
  if not e then return payload end
  local sep = payload:sub(e + 1, e + 1) == ']' and '' or ','
  return payload:sub(1, e) .. value .. sep .. payload:sub(e + 1)
end

-- The current step of chain `ck` ended with `outcome`: enqueue the next step, or end the chain (and report to
-- its batch, if it is a batch member).
local function chain_step(P, ck, home, outcome, now, result, err)
  local c = redis.call('HMGET', ck, 'state', 'pipe', 'parent', 'finished_at')
  if not c[1] or c[4] then return end
  redis.call('HINCRBY', ck, 'pending', -1)
  local move = 'failed'
  if outcome == 'succeeded' then
    redis.call('HINCRBY', ck, 'succeeded', 1)
    if c[1] ~= 'running' then move = 'cancelled'
    elseif redis.call('LLEN', ck .. ':steps') > 0 then move = 'next'
    else move = 'succeeded' end
  else
    redis.call('HINCRBY', ck, 'failed', 1)
  end
  if move == 'next' then
    local j = cjson.decode(redis.call('LPOP', ck .. ':steps'))
    if c[2] == '1' then j[3] = pipe_into(j[3], result) end
    push_job(P, j, now)
    redis.call('HSET', ck, 'current', j[2] .. '\t' .. j[1])
    return
  end
  local left = tonumber(redis.call('HGET', ck, 'pending'))
  redis.call('HSET', ck, 'state', move, 'pending', 0)
  if left > 0 then redis.call('HINCRBY', ck, 'cancelled', left) end
  if move == 'failed' then
    redis.call('HSET', ck, 'error', err)
    push_packed(P, redis.call('HGET', ck, 'on_failure'), now)
  end
  finish(ck, now)
  if c[3] ~= '' then batch_outcome(P, wkey(P, home, c[3]), home, move, now) end
end

-- One member's outcome moves its workflow (a batch or a chain).
local function member_outcome(P, wk, home, outcome, now, result, err)
  local kind = redis.call('HGET', wk, 'kind')
  if kind == 'chain' then
    chain_step(P, wk, home, outcome, now, result, err)
  elseif kind == 'batch' then
    batch_outcome(P, wk, home, outcome, now)
  end
end

