-- authz.lua: ask an authorization service about every request. The service gets the
-- caller's Authorization header and the method and path; 200 lets the request through (with the
-- user it names in X-User), anything else is passed on to the client as 401 or 403.
--   - lua: { file: authz.lua, config: { upstream: authz, path: /check, timeout: 0.5 } }
local config = ...

local M = {}

function M.on_request(txn)
  local auth = txn.req.headers["authorization"]
  if not auth then
    return txn:respond(401, "authorization required\n", { ["www-authenticate"] = "Bearer" })
  end
  local res, err = pyxis.http.request{
    upstream = config.upstream,
    path = config.path or "/check",
    headers = {
      authorization = auth,
      ["x-original-method"] = txn.req.method,
      ["x-original-path"] = txn.req.path,
    },
    timeout = config.timeout or 0.5,
  }
  if not res then
    pyxis.log.warn("authorization service unavailable:", err)
    return txn:respond(503, "authorization unavailable\n")
  end
  if res.status ~= 200 then
    return txn:respond(res.status == 401 and 401 or 403, "forbidden\n")
  end
  txn.req.headers["authorization"] = nil            -- the upstream trusts X-User instead
  txn.req.headers["x-user"] = res.headers["x-user"]
end

return M
