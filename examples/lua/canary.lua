-- canary.lua: send a share of the traffic to a canary upstream: every request with
-- `X-Canary: 1`, and `percent` percent of the others, chosen by a stable hash of a header
-- (the same user always lands on the same side) or at random without that header.
--   - lua: { file: canary.lua, config: { upstream: canary, percent: 10, key: x-user } }
local config = ...
local percent = tonumber(config.percent) or 0
local key = config.key

local function bucket(s)                 -- a small stable hash: 0..99
  local h = 0
  for i = 1, #s do h = (h * 31 + s:byte(i)) % 1000003 end
  return h % 100
end

local M = {}

function M.on_request(txn)
  local h = txn.req.headers
  local to_canary
  if h["x-canary"] == "1" then
    to_canary = true
  elseif h["x-canary"] == "0" then
    to_canary = false
  else
    local k = key and h[key]
    to_canary = (k and bucket(k) or math.random(0, 99)) < percent
  end
  if to_canary then
    txn:set_upstream(config.upstream)
    txn.ctx.canary = true
  end
end

function M.on_response(txn)
  txn.resp.headers["x-canary"] = txn.ctx.canary and "1" or "0"
end

return M
