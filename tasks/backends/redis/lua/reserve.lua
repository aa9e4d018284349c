-- reserve: promote due jobs, then lease up to `count` ready jobs, queues in strict priority order.
-- Every record is checked before anything is written to it. One that cannot be run (see `problem`) goes to the
-- failed set with a MalformedJob error naming the field instead of being leased, and the reserve goes on; a
-- queue one of whose keys holds the wrong type is skipped whole, untouched (maintenance reports it).
--
-- KEYS[6q-5]  ready      LIST   of queue q (q = 1..n, in priority order)
-- KEYS[6q-4]  scheduled  ZSET   job id -> run_at
-- KEYS[6q-3]  leases     ZSET   job id -> lease expiry
-- KEYS[6q-2]  wake       LIST   wake-up tokens
-- KEYS[6q-1]  failed     ZSET   job id -> failed_at
-- KEYS[6q]    paused     STRING present while queue q is paused: due jobs are promoted, none is leased, and its
--                               wake-up tokens are dropped (no worker spins on a queue it may not serve)
-- ARGV[1]  now            epoch seconds
-- ARGV[2]  expiry         lease expiry (now + lease)
-- ARGV[3]  count          how many jobs to take at most
-- ARGV[4]  worker         worker id, recorded on the job
-- ARGV[5]  token_base     unique per call; the n-th job's token is token_base .. n
-- ARGV[6]  promote_limit  how many due jobs to promote per queue and call
-- ARGV[6+q]               job hash key prefix of queue q
-- Returns: one JSON array (decoded in C by the client, where a RESP array of 8 values per job is parsed
--          in Python) of 8 values per job taken: q, id, payload, attempt, max_attempts, enqueued_at, token,
--          signature; '' when no job was taken. Every string in it is valid UTF-8.
-- Keeps the invariant "ready non-empty => wake non-empty" so one woken worker wakes the next.

local now, expiry, want = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local worker, token_base, promote_limit = ARGV[4], ARGV[5], tonumber(ARGV[6])

-- Valid UTF-8: ASCII at once; else each well-formed sequence is replaced by one ASCII byte (never joining
-- its neighbours), and any byte >= 128 left over is malformed.
local function utf8(s)
  if not s:find('[\128-\255]') then return true end
  for _, seq in ipairs({'[\194-\223][\128-\191]', '\224[\160-\191][\128-\191]', '[\225-\236\238\239][\128-\191][\128-\191]',
      '\237[\128-\159][\128-\191]', '\240[\144-\191][\128-\191][\128-\191]',
      '[\241-\243][\128-\191][\128-\191][\128-\191]', '\244[\128-\143][\128-\191][\128-\191]'}) do
    s = s:gsub(seq, '.')
  end
  return not s:find('[\128-\255]')
end

-- A finite decimal number, as both Lua and Python read it (no hex, no inf, no nan).
local function number(v)
  local n = tonumber(v)
  return n ~= nil and n == n and n > -math.huge and n < math.huge and v:find('^%s*%-?%d*%.?%d*[eE]?[%+%-]?%d*%s*$') ~= nil
end

local function count(v, least)
  return v:find('^%d+$') ~= nil and #v <= 15 and tonumber(v) >= least
end

local function show(v)
  return "'" .. (v:sub(1, 40):gsub('[^\32-\126]', '?')) .. "'"
end

-- Why the record (its id and HMGET payload, max_attempts, enqueued_at, sig, attempts) cannot be run, or nil.
local function problem(id, job)
  if not job[1] then return 'no payload: the job hash of this id is missing or incomplete' end
  if not utf8(id) then return 'the job id is not valid UTF-8' end
  if not utf8(job[1]) then return 'field payload is not valid UTF-8' end
  if job[2] and not count(job[2], 1) then return 'field max_attempts is ' .. show(job[2]) .. ', not an integer >= 1' end
  if job[5] and not count(job[5], 0) then return 'field attempts is ' .. show(job[5]) .. ', not an integer >= 0' end
  if job[3] and not number(job[3]) then return 'field enqueued_at is ' .. show(job[3]) .. ', not a number' end
  if job[4] and not job[4]:find('^%x*$') then return 'field sig is ' .. show(job[4]) .. ', not hexadecimal' end
  return nil
end

-- [flow control: tasks.limits.policy] Whether a job whose hash has a `flow` field may start now: a concurrency
-- slot free (holders whose lease expired hold none) and every rate limit under its count. If so, its slot and its
-- starts are taken and a unique lock held "until start" ends; if not, it is scheduled (attempt untouched) at the
-- time its rate limits allow, or held until a slot of its key frees. A `flow` field that is not JSON limits nothing.
local held_at = '1e15' -- the score of a job held for a slot: tasks.limits.policy.HELD_AT
-- A rate limit counts a start at `now`, or at the server's time when that is later: a worker's reserve may run
-- after the `now` it was given (at the end of a blocking wait), and a start must not be counted earlier than it is.
local rate_now = nil
local function start_time()
  if not rate_now then
    local t = redis.call('TIME')
    rate_now = math.max(now, tonumber(t[1]) + tonumber(t[2]) / 1e6)
  end
  return rate_now
end
local function admit(id, key, text, leases, scheduled)
  local ok, flow = pcall(cjson.decode, text)
  if not ok or type(flow) ~= 'table' then return true end
  if type(flow.c) == 'string' then
    local used = redis.call('SCARD', flow.c)
    if used >= tonumber(flow.m) then -- full, as far as the set says: holders whose lease expired are dropped
      used = 0
      for _, holder in ipairs(redis.call('SMEMBERS', flow.c)) do
        local expiry = redis.call('ZSCORE', leases, holder)
        if expiry and tonumber(expiry) > now then used = used + 1 else redis.call('SREM', flow.c, holder) end
      end
    end
    if used >= tonumber(flow.m) then
      redis.call('ZADD', scheduled, held_at, id)
      redis.call('RPUSH', flow.h, id)
      redis.call('HSET', key, 'state', 'scheduled')
      return false
    end
  end
  local wait_until = nil
  for _, rate in ipairs(type(flow.r) == 'table' and flow.r or {}) do
    local per, n = tonumber(rate[3]), tonumber(rate[2])
    -- starts are forgotten one period late: a reserve whose `now` is behind another's still counts them
    redis.call('ZREMRANGEBYSCORE', rate[1], '-inf', start_time() - 2 * per)
    if redis.call('ZCOUNT', rate[1], '(' .. (start_time() - per), '+inf') >= n then
      local oldest = redis.call('ZRANGE', rate[1], -n, -n, 'WITHSCORES')
      local at = tonumber(oldest[2]) + per
      if not wait_until or at > wait_until then wait_until = at end
    end
  end
  if wait_until then
    redis.call('ZADD', scheduled, wait_until, id)
    redis.call('HSET', key, 'state', 'scheduled')
    return false
  end
  if type(flow.c) == 'string' then redis.call('SADD', flow.c, id) end
  for _, rate in ipairs(type(flow.r) == 'table' and flow.r or {}) do
    redis.call('ZADD', rate[1], start_time(), id .. ':' .. token_base)
    redis.call('PEXPIRE', rate[1], math.ceil(tonumber(rate[3]) * 2000) + 1000)
  end
  if flow.uu == 's' and type(flow.u) == 'string' and redis.call('GET', flow.u) == id then redis.call('DEL', flow.u) end
  return true
end

local function usable(keys)
  for key, kind in pairs(keys) do
    local found = redis.call('TYPE', key)['ok']
    if found ~= 'none' and found ~= kind then return false end
  end
  return true
end

local out, taken = {}, 0
for q = 1, #KEYS / 6 do
  local ready, scheduled, leases, wake, failed = KEYS[6 * q - 5], KEYS[6 * q - 4], KEYS[6 * q - 3], KEYS[6 * q - 2], KEYS[6 * q - 1]
  local paused = redis.call('EXISTS', KEYS[6 * q]) == 1
  local prefix = ARGV[6 + q]
  if usable({[ready] = 'list', [scheduled] = 'zset', [leases] = 'zset', [wake] = 'list', [failed] = 'zset'}) then
    local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, promote_limit)
    for _, id in ipairs(due) do
      redis.call('ZREM', scheduled, id)
      redis.call('RPUSH', ready, id)
      redis.call('HSET', prefix .. id, 'state', 'queued')
    end
    while taken < want and not paused do
      local ids = redis.call('LPOP', ready, want - taken)
      if not ids then break end
      for _, id in ipairs(ids) do
        local key = prefix .. id
        local job = redis.call('HMGET', key, 'payload', 'max_attempts', 'enqueued_at', 'sig', 'attempts', 'flow')
        local why = problem(id, job)
        if why then
          local err = cjson.encode({type = 'MalformedJob', message = why, traceback = ''})
          redis.call('HDEL', key, 'token')
          redis.call('HSET', key, 'state', 'failed', 'error', err, 'finished_at', ARGV[1])
          redis.call('ZADD', failed, ARGV[1], id)
        elseif job[6] and not admit(id, key, job[6], leases, scheduled) then
          -- held back by a limit (see admit): the next id is looked at
        else
          taken = taken + 1
          local token = token_base .. taken
          local attempt = tonumber(job[5] or '0') + 1
          redis.call('HSET', key, 'attempts', attempt, 'state', 'running', 'token', token, 'started_at', ARGV[1],
            'worker', worker)
          redis.call('ZADD', leases, expiry, id)
          for _, v in ipairs({q, id, job[1], attempt, job[2] or '1', job[3] or '0', token, job[4] or ''}) do
            out[#out + 1] = v
          end
        end
      end
    end
    if not paused and redis.call('LLEN', ready) > 0 then
      if redis.call('LLEN', wake) == 0 then redis.call('LPUSH', wake, 1) end
    else
      redis.call('DEL', wake)
    end
  end
end
if #out == 0 then return '' end
return cjson.encode(out)
