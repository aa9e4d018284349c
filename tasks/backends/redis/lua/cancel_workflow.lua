-- cancel_workflow: a running batch -> cancelled; its members not yet started are cancelled (out of their queues,
-- state cancelled: they never run), and if none is left running, finally_ is enqueued. A running chain ->
-- cancelled: its step not yet started is cancelled and the chain ends (its batch, if any, counts it cancelled);
-- a step already running finishes, and the chain ends then. (workflow_lib.lua is prepended.)
--
-- KEYS[1]  workflow  HASH  the batch or chain record
-- ARGV[1]  key prefix P, ARGV[2] home queue, ARGV[3] now, ARGV[4] the workflow's id
-- Returns: 1 when it was running, 0 when it had ended, was cancelled already, or does not exist.

if not tonumber(ARGV[3]) then return redis.error_reply('cancel_workflow: ARGV[3] (now) must be a number') end
local b = redis.call('HMGET', KEYS[1], 'kind', 'state', 'finished_at', 'parent', 'ttl_ms')
if b[2] ~= 'running' or b[3] then return 0 end
if b[1] == 'chain' then
  if cancel_ref(ARGV[1], ARGV[2], '\t' .. ARGV[4], ARGV[3], b[5]) and b[4] ~= '' then
    batch_outcome(ARGV[1], wkey(ARGV[1], ARGV[2], b[4]), ARGV[2], 'cancelled', ARGV[3])
  end
  return 1
end
if b[1] ~= 'batch' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled')
cancel_rest(ARGV[1], KEYS[1], ARGV[2], ARGV[3])
settle(ARGV[1], KEYS[1], ARGV[3])
return 1
