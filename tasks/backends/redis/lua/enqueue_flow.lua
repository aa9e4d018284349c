-- enqueue_flow: store a job with flow-control options (tasks.limits) as enqueue.lua stores a job, its options in the
-- hash's `flow` field for the reserve to apply. A unique job whose lock is held by a job not finished yet is not
-- stored: with debounce, that job (if it waits for its time, not held for a slot) takes this dispatch's payload and
-- time instead.
--
-- KEYS[1]  ready      LIST    job ids ready to run
-- KEYS[2]  scheduled  ZSET    job id -> run_at
-- KEYS[3]  wake       LIST    wake-up tokens for idle workers
-- KEYS[4]  job        HASH    this dispatch's job
-- KEYS[5]  lock       STRING  the unique lock: the id of the job holding it (KEYS[4] again for a job not unique)
-- ARGV[1]  now, ARGV[2] id, ARGV[3] payload, ARGV[4] max_attempts, ARGV[5] enqueued_at, ARGV[6] run_at ('' = now),
-- ARGV[7]  signature ('' = none), ARGV[8] flow (JSON, stored as it is)
-- ARGV[9]  lock ttl in ms ('' = the job is not unique), ARGV[10] job hash key prefix, ARGV[11] '1' to debounce
-- ARGV[12] the score of a job held for a concurrency slot (never due by time)
-- Returns: {id, stored}: the id of the job that stands, and 1 when this dispatch stored it.

local now, id, run_at, ttl = tonumber(ARGV[1]), ARGV[2], ARGV[6], ARGV[9]
if not now then return redis.error_reply('enqueue_flow: ARGV[1] (now) must be a number of epoch seconds') end
local most = ARGV[4]
if not (most:find('^%d+$') and #most <= 15 and tonumber(most) >= 1) then
  return redis.error_reply('enqueue_flow: max_attempts must be an integer >= 1')
end
local due_at = tonumber(run_at)
if run_at ~= '' and not (due_at and due_at == due_at and due_at > -math.huge and due_at < math.huge) then
  return redis.error_reply("enqueue_flow: run_at must be '' (now) or a number of epoch seconds")
end
if ttl ~= '' and not (ttl:find('^%d+$') and #ttl <= 15 and tonumber(ttl) >= 1) then
  return redis.error_reply("enqueue_flow: the lock ttl must be '' or an integer of ms >= 1")
end
if redis.call('EXISTS', KEYS[4]) == 1 then return {id, 0} end

if ttl ~= '' then
  local holder = redis.call('GET', KEYS[5])
  if holder then
    local key = ARGV[10] .. holder
    local state = redis.call('HGET', key, 'state')
    if state == 'queued' or state == 'scheduled' or state == 'retrying' or state == 'running' then
      local score = redis.call('ZSCORE', KEYS[2], holder)
      if ARGV[11] == '1' and state == 'scheduled' and score and tonumber(score) < tonumber(ARGV[12]) then
        redis.call('HSET', key, 'payload', ARGV[3], 'enqueued_at', ARGV[5])
        if ARGV[7] == '' then redis.call('HDEL', key, 'sig') else redis.call('HSET', key, 'sig', ARGV[7]) end
        redis.call('ZADD', KEYS[2], run_at == '' and now or run_at, holder)
        redis.call('PEXPIRE', KEYS[5], ttl)
      end
      return {holder, 0}
    end
  end
  redis.call('SET', KEYS[5], id, 'PX', ttl)
end

local due = run_at == '' or due_at <= now
redis.call('HSET', KEYS[4], 'payload', ARGV[3], 'max_attempts', most, 'enqueued_at', ARGV[5],
  'state', due and 'queued' or 'scheduled', 'flow', ARGV[8])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[4], 'sig', ARGV[7]) end
if due then
  redis.call('RPUSH', KEYS[1], id)
  if redis.call('LLEN', KEYS[3]) == 0 then redis.call('LPUSH', KEYS[3], 1) end
else
  redis.call('ZADD', KEYS[2], run_at, id)
end
return {id, 1}
