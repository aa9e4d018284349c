-- lib_flow: flow control's part of every transition that takes a job out of `running` (tasks/limits; prepended
-- to those scripts, see scripts.LIBRARIES). The job's record names its limits in the JSON field `flow`; every key
-- it names carries the job's queue hash tag, so the script stays in one slot.
--
-- flow_release(key, id, now, ended): give back the job's concurrency slot (the oldest job held for one is made
-- due at `now`, and a worker woken) and, when it ended for good (`ended`), the unique lock it holds.

local function flow_release(key, id, now, ended)
  local text = redis.call('HGET', key, 'flow')
  if not text then return end
  local ok, flow = pcall(cjson.decode, text)
  if not ok or type(flow) ~= 'table' then return end
  if type(flow.c) == 'string' then
    redis.call('SREM', flow.c, id)
    local next_id = redis.call('LPOP', flow.h)
    while next_id and not redis.call('ZSCORE', flow.s, next_id) do next_id = redis.call('LPOP', flow.h) end
    if next_id then
      redis.call('ZADD', flow.s, now, next_id)
      if redis.call('LLEN', flow.w) == 0 then redis.call('LPUSH', flow.w, 1) end
    end
  end
  if ended and type(flow.u) == 'string' and redis.call('GET', flow.u) == id then redis.call('DEL', flow.u) end
end
