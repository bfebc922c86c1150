-- pyxis.ratelimit: a fixed-window request counter on a shared dict, shared by every worker.
--
--   local ratelimit = require "pyxis.ratelimit"
--   local limiter = ratelimit.new("counts", { limit = 100, window = 60 })
--   local ok, remaining, reset = limiter:take(key)
--
-- take() counts one hit for `key` in the current window (`window` seconds long) and says
-- whether it is within `limit`, how many hits are left and in how many seconds the window ends.
-- The dict must be declared in the config (shared_dicts: { counts: 1m }).
local M = {}
local mt = { __index = M }

local floor = math.floor

function M.new(dict, opts)
  assert(type(dict) == "string", "ratelimit.new: the name of a shared dict")
  opts = opts or {}
  local self = {
    dict = dict,
    limit = assert(tonumber(opts.limit), "ratelimit.new: limit is required"),
    window = tonumber(opts.window) or 60,
    prefix = opts.prefix or "rl:",
  }
  return setmetatable(self, mt)
end

function M:take(key, cost)
  local now = pyxis.now()
  local start = floor(now / self.window) * self.window
  local k = self.prefix .. key .. ":" .. start
  local n, err = pyxis.shared[self.dict]:incr(k, cost or 1, 0, self.window + 1)
  if not n then return nil, err end
  local reset = start + self.window - now
  if n > self.limit then return false, 0, reset end
  return true, self.limit - n, reset
end

return M
