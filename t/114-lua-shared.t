# 114-lua-shared: pyxis.shared.NAME across workers: get, set (with ttl), add, incr, delete,
# ttl, keys; strings, numbers, booleans and tables; an unknown dict is an error.
use strict;
use warnings;
use Test::More;
use PxTest;

my $dir = write_files('dict.lua' => <<'LUA');
local d = pyxis.shared.store
local ops = {}
function ops.set(a) return tostring(d:set(a.k, a.v)) end
function ops.setn(a) return tostring(d:set(a.k, tonumber(a.v))) end
function ops.settrue(a) return tostring(d:set(a.k, true)) end
function ops.settable(a)
  return tostring(d:set(a.k, { name = a.v, list = { 1, 2, { deep = true } } }))
end
function ops.setttl(a) return tostring(d:set(a.k, a.v, tonumber(a.ttl))) end
function ops.add(a) local ok, err = d:add(a.k, a.v) return tostring(ok) .. " " .. tostring(err) end
function ops.incr(a) return tostring(d:incr(a.k, tonumber(a.by or 1), 10)) end
function ops.delete(a) return tostring(d:delete(a.k)) end
function ops.ttl(a) local t = d:ttl(a.k) return t and string.format("%.0f", t) or "nil" end
function ops.keys(a) local k = d:keys() table.sort(k) return table.concat(k, ",") end
function ops.get(a)
  local v = d:get(a.k)
  if type(v) == "table" then
    return "table " .. v.name .. " " .. #v.list .. " " .. tostring(v.list[3].deep)
  end
  return type(v) .. " " .. tostring(v)
end
function ops.missing() return tostring(pyxis.shared.nope) end
return { on_request = function(txn)
  local a = txn.req.args
  txn:respond(200, ops[a.op](a) .. " w" .. pyxis.worker_id())
end }
LUA

my $px = PxTest::Pyxis->start(vars => { LUA => $dir }, yaml => <<'YAML');
workers: 4
shared_dicts: { store: 1m }
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        filters: [ { lua: "%%LUA%%/dict.lua" } ]
        respond: { status: 200 }
YAML
my $port = $px->port('front');
sub op { my $r = http_req($port, path => "/?$_[0]"); return ($r->{body} =~ s/ w\d+\z//r) }

is(op('op=set&k=a&v=hello'), 'true', 'set a string');
is(op('op=get&k=a'), 'string hello', 'get it back');
is(op('op=setn&k=n&v=2.5'), 'true', 'set a number');
is(op('op=get&k=n'), 'number 2.5', 'numbers stay numbers');
is(op('op=settrue&k=b'), 'true', 'set a boolean');
is(op('op=get&k=b'), 'boolean true', 'booleans stay booleans');
is(op('op=settable&k=t&v=x'), 'true', 'set a table');
is(op('op=get&k=t'), 'table x 3 true', 'tables come back whole, nested');
is(op('op=add&k=a&v=other'), 'false exists', 'add on an existing key: false, "exists"');
is(op('op=add&k=new&v=1'), 'true nil', 'add on a new key');
is(op('op=incr&k=c'), '11', 'incr on a missing key starts from init');
is(op('op=incr&k=c&by=5'), '16', 'incr adds');
is(op('op=incr&k=a'), 'nil', 'incr on a string fails');
is(op('op=setttl&k=tmp&v=1&ttl=100'), 'true', 'set with a ttl');
is(op('op=ttl&k=tmp'), '100', 'ttl() gives the remaining seconds');
is(op('op=keys'), 'a,b,c,n,new,t,tmp', 'keys()');
is(op('op=delete&k=tmp'), 'true', 'delete');
is(op('op=get&k=tmp'), 'nil nil', 'a deleted key is gone');

# The dict is shared by the workers: counts from many connections add up.
my %workers;
for (1 .. 40) {
    my $r = http_req($port, path => '/?op=incr&k=hits');
    $workers{$1} = 1 if $r->{body} =~ / w(\d+)\z/;
}
is(op('op=get&k=hits'), 'number 50', '40 increments from every worker add up (from init 10)');
cmp_ok(scalar keys %workers, '>', 1, 'the requests were served by several workers');

my $r = http_req($port, path => '/?op=missing');
is($r->{status}, 500, 'an undeclared dict is an error');
ok($px->wait_log(qr/pyxis\.shared\.nope: no such shared dict/, 5), '... saying so');

is($px->stop, 0, 'pyxis exits cleanly');
done_testing;
