-- response-headers.lua: tidy what the client sees: drop headers that leak the backend's
-- software, add security headers, and point redirects at the public host.
--   - lua: { file: response-headers.lua, config: { public_host: www.example.com } }
local config = ...

local security = {
  ["strict-transport-security"] = "max-age=31536000",
  ["x-content-type-options"] = "nosniff",
  ["x-frame-options"] = "DENY",
}

local M = {}

function M.on_response(txn)
  local h = txn.resp.headers
  h["server"] = nil
  h["x-powered-by"] = nil
  h["x-backend"] = nil
  for name, value in pairs(security) do
    if not h[name] then h[name] = value end
  end
  local location = h["location"]
  if location and config.public_host then
    h["location"] = location:gsub("^(https?://)[^/]+", "%1" .. config.public_host)
  end
end

return M
