-- bury_expired_members: a workflow member whose lease expired with its attempts spent -> failed, and its workflow
-- told in the same step (as fail_member does). Runs just before requeue_expired on the same queue, which handles
-- every other expired lease. (workflow_lib.lua is prepended.)
--
-- KEYS[1]  leases  ZSET  job id -> lease expiry
-- KEYS[2]  failed  ZSET  job id -> failed_at
-- ARGV[1]  job hash key prefix of the queue, ARGV[2] now, ARGV[3] limit, ARGV[4] key prefix P
-- Returns: how many members were buried.

if not tonumber(ARGV[2]) or not tonumber(ARGV[3]) then
  return redis.error_reply('bury_expired_members: ARGV[2] (now) and ARGV[3] (limit) must be numbers')
end
if redis.call('TYPE', KEYS[1])['ok'] ~= 'zset' then return 0 end
local prefix, now = ARGV[1], ARGV[2]
local buried = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
  local key = prefix .. id
  local job = redis.call('HMGET', key, 'attempts', 'max_attempts', 'payload')
  local attempts, most = tonumber(job[1] or '0'), tonumber(job[2] or '1')
  local home, wf_id
  if job[3] then home, wf_id = job[3]:match(',"wf":%["([^"\\]*)","([^"\\]*)","m"%]}$') end
  if home and attempts and most and attempts >= most then
    local err = cjson.encode({type = 'LeaseExpired', traceback = '',
      message = 'worker lost (lease expired) on attempt ' .. job[1] .. ' of ' .. job[2]})
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', key, 'token')
    redis.call('HSET', key, 'state', 'failed', 'error', err, 'finished_at', now)
    flow_release(key, id, now, true) -- flow control (lib_flow.lua)
    redis.call('ZADD', KEYS[2], now, id)
    member_outcome(ARGV[4], wkey(ARGV[4], home, wf_id), home, 'failed', now, '', err)
    buried = buried + 1
  end
end
return buried
