-- resume: a paused queue is served again; a worker is woken when jobs wait in it.
--
-- KEYS[1]  paused  STRING  present while the queue is paused
-- KEYS[2]  ready   LIST    job ids ready to run
-- KEYS[3]  wake    LIST    wake-up tokens (the reserve dropped them while the queue was paused)
-- Returns: 1 when the queue was paused, 0 when it was not.

local was = redis.call('DEL', KEYS[1])
if redis.call('LLEN', KEYS[2]) > 0 and redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('LPUSH', KEYS[3], 1)
end
return was
