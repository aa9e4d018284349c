-- complete: running -> succeeded for each job whose lease token still matches; keep the result for its TTL.
--
-- KEYS[1]      leases  ZSET  job id -> lease expiry
-- KEYS[2..]            HASH  one job hash per job, in ARGV order
-- ARGV[1]      now     epoch seconds
-- ARGV[2+4i .. 5+4i]   per job i: id, token, result, result_ttl_ms
-- Returns: a string with one character per job: '1' done, '0' stale token (the write is refused).

local out = {}
for i = 2, #KEYS do
  local b = 2 + (i - 2) * 4
  local key = KEYS[i]
  if redis.call('HGET', key, 'token') == ARGV[b + 1] then
    redis.call('ZREM', KEYS[1], ARGV[b])
    redis.call('HDEL', key, 'token')
    redis.call('HSET', key, 'state', 'succeeded', 'result', ARGV[b + 2], 'finished_at', ARGV[1])
    redis.call('PEXPIRE', key, ARGV[b + 3])
    out[#out + 1] = '1'
  else
    out[#out + 1] = '0'
  end
end
return table.concat(out)
