-- json-validate.lua: POST/PUT bodies must be JSON objects with the configured fields; anything
-- else is answered 400 (413 beyond max_body) before it reaches the upstream.
--   - lua: { file: json-validate.lua, config: { required: [name, email] }, max_body: 64k }
local config = ...
local required = config.required or {}

local M = {}

local function reject(txn, why)
  return txn:respond(400, pyxis.json.encode({ error = why }) .. "\n",
    { ["content-type"] = "application/json" })
end

function M.on_request(txn)
  local method = txn.req.method
  if method ~= "POST" and method ~= "PUT" then return end
  local ctype = txn.req.headers["content-type"] or ""
  if not ctype:find("^application/json") then return reject(txn, "content-type must be application/json") end
  local body = txn.req:read_body()
  local ok, doc = pcall(pyxis.json.decode, body)
  if not ok or type(doc) ~= "table" then return reject(txn, "body is not a JSON object") end
  for _, field in ipairs(required) do
    if doc[field] == nil then return reject(txn, "missing field: " .. field) end
  end
end

return M
