-- reserve: promote due jobs, then lease up to `count` ready jobs, queues in strict priority order.
--
-- KEYS[4q-3]  ready      LIST   of queue q (q = 1..n, in priority order)
-- KEYS[4q-2]  scheduled  ZSET   job id -> run_at
-- KEYS[4q-1]  leases     ZSET   job id -> lease expiry
-- KEYS[4q]    wake       LIST   wake-up tokens
-- ARGV[1]  now            epoch seconds
-- ARGV[2]  expiry         lease expiry (now + lease)
-- ARGV[3]  count          how many jobs to take at most
-- ARGV[4]  worker         worker id, recorded on the job
-- ARGV[5]  token_base     unique per call; the n-th job's token is token_base .. n
-- ARGV[6]  promote_limit  how many due jobs to promote per queue and call
-- ARGV[6+q]               job hash key prefix of queue q
-- Returns: one JSON array (decoded in C by the client, where a RESP array of 8 values per job is parsed
--          in Python) of 8 values per job taken: q, id, payload, attempt, max_attempts, enqueued_at, token,
--          signature; '' when no job was taken.
-- Keeps the invariant "ready non-empty => wake non-empty" so one woken worker wakes the next.

local now, expiry, want = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local worker, token_base, promote_limit = ARGV[4], ARGV[5], tonumber(ARGV[6])
local out, taken = {}, 0
for q = 1, #KEYS / 4 do
  local ready, scheduled, leases, wake = KEYS[4 * q - 3], KEYS[4 * q - 2], KEYS[4 * q - 1], KEYS[4 * q]
  local prefix = ARGV[6 + q]
  local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, promote_limit)
  for _, id in ipairs(due) do
    redis.call('ZREM', scheduled, id)
    redis.call('RPUSH', ready, id)
    redis.call('HSET', prefix .. id, 'state', 'queued')
  end
  while taken < want do
    local ids = redis.call('LPOP', ready, want - taken)
    if not ids then break end
    for _, id in ipairs(ids) do
      local key = prefix .. id
      local job = redis.call('HMGET', key, 'payload', 'max_attempts', 'enqueued_at', 'sig')
      if job[1] then -- a job deleted while queued (clear, purge) is skipped
        taken = taken + 1
        local token = token_base .. taken
        local attempt = redis.call('HINCRBY', key, 'attempts', 1)
        redis.call('HSET', key, 'state', 'running', 'token', token, 'started_at', ARGV[1], 'worker', worker)
        redis.call('ZADD', leases, expiry, id)
        for _, v in ipairs({q, id, job[1], attempt, job[2] or '1', job[3] or '0', token, job[4] or ''}) do
          out[#out + 1] = v
        end
      end
    end
  end
  if redis.call('LLEN', ready) > 0 then
    if redis.call('LLEN', wake) == 0 then redis.call('LPUSH', wake, 1) end
  else
    redis.call('DEL', wake)
  end
end
if #out == 0 then return '' end
return cjson.encode(out)
