-- delete_failed: delete the given jobs of the failed set (job hash and set entry); ids not in it are left alone.
--
-- KEYS[1]  failed  ZSET  job id -> failed_at
-- ARGV[1]  job hash key prefix
-- ARGV[2..]        job ids (at least one)
-- Returns: how many jobs were deleted.

if #ARGV < 2 then return redis.error_reply('delete_failed: give at least one job id') end
local deleted = 0
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('DEL', ARGV[1] .. ARGV[i])
    deleted = deleted + 1
  end
end
return deleted
