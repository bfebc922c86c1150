-- bench/lua-filter.lua: the Lua case of the benchmark (issue 3, "Speed"): read one request
-- header, set one request header and one response header. The nginx + Lua equivalent:
--   access_by_lua_block { local v = ngx.var.http_x_bench; ngx.req.set_header("x-lua", "1") }
--   header_filter_by_lua_block { ngx.header["x-lua-resp"] = "1" }
-- Use it in a route as:  filters: [ { lua: /path/to/bench/lua-filter.lua } ]
local M = {}

function M.on_request(txn)
  local h = txn.req.headers
  local v = h["x-bench"]
  h["x-lua"] = v or "1"
end

function M.on_response(txn)
  txn.resp.headers["x-lua-resp"] = "1"
end

return M
