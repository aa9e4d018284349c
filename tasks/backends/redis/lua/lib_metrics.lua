-- lib_metrics: the per-minute counters the outcome transitions add to (tasks/observe/series.py; prepended to those
-- scripts, see scripts.LIBRARIES).
--
-- count(key, name, delta): add `delta` (position -> number) to the packed counters of job `name` in the minute
-- HASH `key`: one field per job name, its value the counters joined by commas (see `series.PACKED`).

local function count(key, name, delta)
  local v = {}
  local old = redis.call('HGET', key, name)
  if old then for n in old:gmatch('[^,]+') do v[#v + 1] = tonumber(n) or 0 end end
  for i, n in pairs(delta) do
    for j = #v + 1, i do v[j] = 0 end
    v[i] = v[i] + n
  end
  redis.call('HSET', key, name, table.concat(v, ','))
end
