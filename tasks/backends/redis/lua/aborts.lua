-- aborts: which of the leases held still have an abort asked for their job (cancel with abort); read-only.
--
-- KEYS[1..n]  HASH  one job hash per lease, in ARGV order
-- ARGV[i]     the lease token of job i
-- Returns: a list with 1 (abort asked while this lease holds the job) or 0 per lease.

local out = {}
for i = 1, #KEYS do
  local job = redis.call('HMGET', KEYS[i], 'token', 'abort')
  out[i] = (job[1] == ARGV[i] and job[2]) and 1 or 0
end
return out
