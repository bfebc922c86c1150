-- ratelimit.lua: at most `limit` requests per `window` seconds per client (by X-Api-Key, else
-- the client address), counted in a shared dict, so the limit holds across all workers.
-- Uses pyxis.ratelimit from the Lua library that ships with pyxis.
--   - lua: { file: ratelimit.lua, config: { dict: ratelimit, limit: 100, window: 60 } }
local ratelimit = require "pyxis.ratelimit"
local config = ...
local limiter = ratelimit.new(config.dict, { limit = config.limit, window = config.window })

local M = {}

function M.on_request(txn)
  local who = txn.req.headers["x-api-key"] or txn.req.client_addr
  local ok, remaining, reset = limiter:take(who)
  if ok == nil then
    pyxis.log.err("rate limit dict:", remaining)
    return                               -- fail open
  end
  txn.ctx.remaining = remaining
  if not ok then
    return txn:respond(429, "too many requests\n",
      { ["retry-after"] = tostring(math.ceil(reset)) })
  end
end

function M.on_response(txn)
  if txn.ctx.remaining then
    txn.resp.headers["x-ratelimit-remaining"] = tostring(txn.ctx.remaining)
  end
end

return M
