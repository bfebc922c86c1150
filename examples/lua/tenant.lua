-- tenant.lua: every request must name a known tenant in X-Tenant; the upstream gets the
-- tenant's plan in X-Tenant-Plan, and the response says which tenant it was served for.
--   - lua: { file: tenant.lua, config: { tenants: { acme: gold, initech: free } } }
local config = ...
local tenants = config.tenants or {}

local M = {}

function M.on_request(txn)
  local tenant = txn.req.headers["x-tenant"]
  if not tenant then
    return txn:respond(400, "missing x-tenant\n")
  end
  local plan = tenants[tenant]
  if not plan then
    return txn:respond(403, "unknown tenant\n")
  end
  txn.req.headers["x-tenant-plan"] = plan
  txn.ctx.tenant = tenant
  txn:set_var("tenant", tenant)        -- ${var.tenant} in access logs and other filters
end

function M.on_response(txn)
  txn.resp.headers["x-served-for"] = txn.ctx.tenant
end

return M
