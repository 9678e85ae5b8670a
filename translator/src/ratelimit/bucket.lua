-- One token bucket, refilled and then charged atomically in Redis.
-- KEYS[1]: the bucket. ARGV: max_tokens, tokens_per_fill, fill_interval_ms,
-- charge (0 to only look). Redis' own clock: every control plane replica
-- sees the same time. Returns {tokens left, ms until it holds more than 0}.
local max = tonumber(ARGV[1])
local per_fill = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local charge = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = max
  updated = now
end
local fills = math.floor((now - updated) / interval)
if fills > 0 then
  tokens = math.min(max, tokens + fills * per_fill)
  updated = updated + fills * interval
end
if tokens >= max then
  updated = now
end
tokens = tokens - charge
redis.call('HSET', KEYS[1], 'tokens', tokens, 'updated', updated)
-- Gone once it would be full again anyway.
local refill = (math.ceil((max - tokens) / per_fill) + 1) * interval
redis.call('PEXPIRE', KEYS[1], refill)
local wait = 0
if tokens <= 0 then
  wait = (math.floor(-tokens / per_fill) + 1) * interval - (now - updated)
end
return {tokens, wait}
