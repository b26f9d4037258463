"""The Lua scripts of Dynomite's read repair, as Redis runs them.

Writes with repair support and repairable reads are sent to Redis as ``EVAL`` of these
scripts (``dynotwist.proto.repair`` builds the requests): a write does the command and
records its timestamp in the metadata sorted sets (``._add-set``, ``._rem-set`` and,
per key, ``._add-set_<key>``, ``._rem-set_<key>``) atomically, and is ignored if the
metadata holds a newer timestamp; a read returns ``{status, timestamp, value}``.

The texts are Netflix Dynomite's (``src/proto/dyn_proto_repair.h``, Apache License
2.0), byte for byte: a cluster mixing dynotwist and Dynomite nodes keeps one metadata
format, and tests/vectors/dynomite-repair-scripts.txt holds Dynomite's bytes to compare
with. Data only.
"""

from __future__ import annotations

__all__ = [
    "CLEANUP_DEL_SCRIPT",
    "CLEANUP_HDEL_SCRIPT",
    "DEL_SCRIPT",
    "GET_SCRIPT",
    "HDEL_SCRIPT",
    "HGET_SCRIPT",
    "HSET_SCRIPT",
    "SADD_SCRIPT",
    "SET_SCRIPT",
    "ZADD_SCRIPT",
]

SET_SCRIPT = b'''\
local key = KEYS[1]
local add_set = KEYS[2]
local rem_set = KEYS[3]
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]
local value = ARGV[4]

local last_seen_ts_in_add = redis.call('ZSCORE', add_set, key)
local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, key)

if (last_seen_ts_in_rem) then
  if (tonumber(cur_ts) < tonumber(last_seen_ts_in_rem)) then
    return -1
  end
  redis.call('ZREM', rem_set, key)
elseif (last_seen_ts_in_add) then
  if (tonumber(cur_ts) < tonumber(last_seen_ts_in_add)) then
    return -1
  end
end

redis.call('ZADD', add_set, cur_ts, key)
return redis.call(orig_cmd, key, value)
'''

GET_SCRIPT = b'''\
local key = KEYS[1]
local add_set = KEYS[2]
local rem_set = KEYS[3]
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]

local value = redis.call(orig_cmd, key)

local last_seen_ts_in_add = redis.call('ZSCORE', add_set, key)
if (last_seen_ts_in_add and value) then
  return {'E', last_seen_ts_in_add, value}
elseif (last_seen_ts_in_add) then
  redis.call('ZREM', add_set, key)
end

local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, key)
if (last_seen_ts_in_rem) then
  return {'R', last_seen_ts_in_rem, value}
end

return {'X', 0, value}
'''

DEL_SCRIPT = b'''\
local key = KEYS[1]
local add_set = KEYS[2]
local rem_set = KEYS[3]
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]

local last_seen_ts_in_add = redis.call('ZSCORE', add_set, key)
local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, key)
if (last_seen_ts_in_rem) then
  if (tonumber(cur_ts) < tonumber(last_seen_ts_in_rem)) then
    return 0
  end
  redis.call('ZREM', rem_set, key)
elseif (last_seen_ts_in_add) then
  return 0
end

local exists = redis.call('EXISTS', key)
if (exists) then
  local composite_add_set = add_set .. '_' .. key
  local composite_rem_set = rem_set .. '_' .. key
  redis.call('DEL', composite_add_set)
  redis.call('DEL', composite_rem_set)

  redis.call('ZADD', add_set, cur_ts, key)
  return redis.call(orig_cmd, key)
end
return 0
'''

HSET_SCRIPT = b'''\
local key = KEYS[1]
local top_level_add_set = KEYS[2]
local top_level_rem_set = KEYS[3]
local add_set = top_level_add_set .. '_' .. key
local rem_set = top_level_rem_set .. '_' .. key
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]

local start_loop = 4
local end_loop = (num_fields * 2) + 3

local top_level_rem_set_ts = redis.call('ZSCORE', top_level_rem_set, key)
if (top_level_rem_set_ts) then
  if (tonumber(cur_ts) < tonumber(top_level_rem_set_ts)) then
    return 0
  end
  redis.call('ZREM', top_level_rem_set, key)
end

local top_level_add_set_ts = redis.call('ZSCORE', top_level_add_set, key)
if (top_level_add_set_ts) then
  if (tonumber(cur_ts) > tonumber(top_level_add_set_ts)) then
    redis.call('ZADD', top_level_add_set, cur_ts, key)
  end
else
  redis.call('ZADD', top_level_add_set, cur_ts, key)
end

local skiploop
local ret
for i=start_loop,end_loop,2
do
  skiploop = false
  local field = ARGV[i]
  local value = ARGV[i+1]
  local last_seen_ts_in_add = redis.call('ZSCORE', add_set, field)
  local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, field)
  if (last_seen_ts_in_rem) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_rem)) then
      skiploop = true
    end
    redis.call('ZREM', rem_set, field)
  elseif (last_seen_ts_in_add) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_add)) then
      skiploop = true
    end
  end

  if (skiploop == false) then
    redis.call('ZADD', add_set, cur_ts, field)
    ret = redis.call(orig_cmd, key, field, value)
  end
end

if tonumber(num_fields) > 1 then
  return "OK"
else
  return ret
end
'''

HDEL_SCRIPT = b'''\
local key = KEYS[1]
local top_level_add_set = KEYS[2]
local top_level_rem_set = KEYS[3]
local add_set = top_level_add_set .. '_' .. key
local rem_set = top_level_rem_set .. '_' .. key
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]

local start_loop = 4
local end_loop = num_fields + 3

local skiploop
local ret = 0
for i=start_loop,end_loop,1
do
  skiploop = false
  local field = ARGV[i]
  local last_seen_ts_in_add = redis.call('ZSCORE', add_set, field)
  local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, field)
  if (last_seen_ts_in_rem) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_rem)) then
      skiploop = true
    else
      redis.call('ZREM', rem_set, field)
    end
  elseif (last_seen_ts_in_add) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_add)) then
      skiploop = true
    end
  end

  if (skiploop == false) then
    redis.call('ZADD', add_set, cur_ts, field)
    ret = ret + redis.call(orig_cmd, key, field)
  end
end

local card = redis.call('ZCARD', rem_set)
if (card == 0) then
  redis.call('ZREM', top_level_rem_set, key)
end

return ret
'''

HGET_SCRIPT = b'''\
local key = KEYS[1]
local top_level_add_set = KEYS[2]
local top_level_rem_set = KEYS[3]
local add_set = top_level_add_set .. '_' .. key
local rem_set = top_level_rem_set .. '_' .. key
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]
local field = ARGV[4]

local status_field = 'E'
local ts = 0

local tl_removed_ts = redis.call('ZSCORE', top_level_rem_set, key)
if (tl_removed_ts) then
  status_field = 'R'
  ts = tl_removed_ts
else
  local removed_ts = redis.call('ZSCORE', rem_set, field)
  if (removed_ts) then
    ts = removed_ts
    status_field = 'R'
  end
end

if (status_field ~= 'R') then
  local tl_exists = redis.call('ZSCORE', top_level_add_set, key)
  if (tl_exists) then
    local exists_ts = redis.call('ZSCORE', add_set, field)
    if (not exists_ts) then
      status_field = 'X'
    else
      ts = exists_ts
    end
  else
    status_field = 'X'
  end
end

local value = redis.call(orig_cmd, key, field)
if (status_field == 'E' and not value) then
  return {'X', 0, value}
end
return {status_field, ts, value}
'''

ZADD_SCRIPT = b'''\
local key = KEYS[1]
local top_level_add_set = KEYS[2]
local top_level_rem_set = KEYS[3]
local add_set = top_level_add_set .. '_' .. key
local rem_set = top_level_rem_set .. '_' .. key
local orig_cmd = ARGV[1]
local num_opts = ARGV[2]
local num_fields = ARGV[3]
local cur_ts = ARGV[4]
local start_loop = 5 + num_opts
local end_loop = (num_fields * 2) + 4 + num_opts
local top_level_rem_set_ts = redis.call('ZSCORE', top_level_rem_set, key)
if (top_level_rem_set_ts) then
  if (tonumber(cur_ts) < tonumber(top_level_rem_set_ts)) then
    return 0
  end
  redis.call('ZREM', top_level_rem_set, key)
end
local top_level_add_set_ts = redis.call('ZSCORE', top_level_add_set, key)
if (top_level_add_set_ts) then
  if (tonumber(cur_ts) > tonumber(top_level_add_set_ts)) then
    redis.call('ZADD', top_level_add_set, cur_ts, key)
  end
else
  redis.call('ZADD', top_level_add_set, cur_ts, key)
end
local skiploop
local ret
for i=start_loop,end_loop,2
do
  skiploop = false
  local field = ARGV[i]
  local value = ARGV[i+1]
  local last_seen_ts_in_add = redis.call('ZSCORE', add_set, field)
  local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, field)
  if (last_seen_ts_in_rem) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_rem)) then
      skiploop = true
    end
    redis.call('ZREM', rem_set, field)
  elseif (last_seen_ts_in_add) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_add)) then
      skiploop = true
    end
  end
  if (skiploop == false) then
    if (num_opts == '0') then
      ret = redis.call(orig_cmd, key, value, field)
    elseif (num_opts == '1') then
      ret = redis.call(orig_cmd, key, ARGV[5], value, field)
    elseif (num_opts == '2') then
      ret = redis.call(orig_cmd, key, ARGV[5], ARGV[6], value, field)
    elseif (num_opts == '3') then
      ret = redis.call(orig_cmd, key, ARGV[5], ARGV[6], ARGV[7], value, field)
    else
      ret = false
    end
    if (type(ret) ~= 'boolean') then
      redis.call('ZADD', add_set, cur_ts, field)
    end
  end
end
return ret
'''

SADD_SCRIPT = b'''\
local key = KEYS[1]
local top_level_add_set = KEYS[2]
local top_level_rem_set = KEYS[3]
local add_set = top_level_add_set .. '_' .. key
local rem_set = top_level_rem_set .. '_' .. key
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]

local start_loop = 4
local end_loop = num_fields + 3

local top_level_rem_set_ts = redis.call('ZSCORE', top_level_rem_set, key)
if (top_level_rem_set_ts) then
  if (tonumber(cur_ts) < tonumber(top_level_rem_set_ts)) then
    return 0
  end
  redis.call('ZREM', top_level_rem_set, key)
end

local top_level_add_set_ts = redis.call('ZSCORE', top_level_add_set, key)
if (top_level_add_set_ts) then
  if (tonumber(cur_ts) > tonumber(top_level_add_set_ts)) then
    redis.call('ZADD', top_level_add_set, cur_ts, key)
  end
else
  redis.call('ZADD', top_level_add_set, cur_ts, key)
end

local skiploop
local ret = 0
for i=start_loop,end_loop,1
do
  skiploop = false
  local field = ARGV[i]
  local last_seen_ts_in_add = redis.call('ZSCORE', add_set, field)
  local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, field)
  if (last_seen_ts_in_rem) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_rem)) then
      skiploop = true
    end
    redis.call('ZREM', rem_set, field)
  elseif (last_seen_ts_in_add) then
    if (tonumber(cur_ts) < tonumber(last_seen_ts_in_add)) then
      skiploop = true
    end
  end

  if (skiploop == false) then
    redis.call('ZADD', add_set, cur_ts, field)
    ret = ret + redis.call(orig_cmd, key, field)
  end
end

return ret
'''

CLEANUP_DEL_SCRIPT = b'''\
local key = KEYS[1]
local top_level_add_set = KEYS[2]
local top_level_rem_set = KEYS[3]
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]

local top_level_rem_set_ts = redis.call('ZSCORE', top_level_rem_set, key)
if (top_level_rem_set_ts) then
  if (tonumber(cur_ts) < tonumber(top_level_rem_set_ts)) then
    return 0
  end
  return redis.call('ZREM', top_level_rem_set, key)
end
return 0
'''

CLEANUP_HDEL_SCRIPT = b'''\
local key = KEYS[1]
local top_level_add_set = KEYS[2]
local top_level_rem_set = KEYS[3]
local add_set = top_level_add_set .. '_' .. key
local rem_set = top_level_rem_set .. '_' .. key
local orig_cmd = ARGV[1]
local num_fields = ARGV[2]
local cur_ts = ARGV[3]
local field = ARGV[4]

local last_seen_ts_in_rem = redis.call('ZSCORE', rem_set, field)
if (last_seen_ts_in_rem) then
  if (tonumber(cur_ts) < tonumber(last_seen_ts_in_rem)) then
    return 0
  end
  local ret = redis.call('ZREM', rem_set, field)
  local remaining_elems = redis.call('ZCARD', rem_set)
  if (remaining_elems == 0) then
    redis.call('ZREM', top_level_rem_set, key)
  end
  return ret
end
'''
