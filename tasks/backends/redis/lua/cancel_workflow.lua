-- cancel_workflow: a running batch -> cancelled; its members not yet started are cancelled (out of their queues,
-- state cancelled: they never run), and if none is left running, finally_ is enqueued. (workflow_lib.lua is
-- prepended.)
--
-- KEYS[1]  workflow  HASH  the batch record
-- ARGV[1]  key prefix P, ARGV[2] home queue, ARGV[3] now
-- Returns: 1 when the batch was running, 0 when it had ended, was cancelled already, or does not exist.

if not tonumber(ARGV[3]) then return redis.error_reply('cancel_workflow: ARGV[3] (now) must be a number') end
local b = redis.call('HMGET', KEYS[1], 'kind', 'state', 'finished_at')
if b[1] ~= 'batch' or b[2] ~= 'running' or b[3] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled')
cancel_rest(ARGV[1], KEYS[1], ARGV[2], ARGV[3])
settle(ARGV[1], KEYS[1], ARGV[3])
return 1
