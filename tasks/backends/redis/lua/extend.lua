-- extend: push the expiry of each lease still held (token matches) to a new time: the worker's heartbeat.
--
-- KEYS[1]  leases  ZSET  job id -> lease expiry
-- KEYS[2..]        HASH  one job hash per lease, in ARGV order
-- ARGV[1]  expiry
-- ARGV[2i], ARGV[2i+1]  per lease i: id, token
-- Returns: a list with 1 (extended) or 0 (lease lost) per lease.

local out = {}
for i = 2, #KEYS do
  local id, token = ARGV[2 * (i - 1)], ARGV[2 * (i - 1) + 1]
  if redis.call('HGET', KEYS[i], 'token') == token then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
