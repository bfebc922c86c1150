# 090-sdk-install: the module SDK as a third party meets it. `make install` puts module.h,
# pyxis.pc and the modules directory in place; examples/modules/hello, copied out of the tree,
# builds against that install alone (pkg-config, no -I into the sources) and installs into the
# modules directory pyxis.pc names; the installed pyxis lists it, refuses a bad config for it
# at its line, and runs it on requests.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Copy qw(copy);
use File::Find qw(find);
use Test::More;
use PxTest;

plan skip_all => 'make is not available'
    unless grep { -x "$_/make" } split /:/, $ENV{PATH} // '';

my $builddir = $ENV{PYXIS_BUILDDIR} or die "PYXIS_BUILDDIR is not set (run with ./dev test)\n";
my $srcdir = $ENV{PYXIS_SRCDIR} // '.';

# The make below is not part of any make that may be running the tests: no jobserver, no
# inherited command-line variables.
delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES)};

sub slurp { open my $f, '<', $_[0] or return undef; local $/; return scalar <$f> }

# run($name, CMD...): runs CMD (bounded), records a test that it exited 0, returns the result.
sub run {
    my ($name, @cmd) = @_;
    my $r = PxTest::run_cmd(\@cmd, timeout => 180);
    ok($r->{exit} == 0, $name) or diag("@cmd\nexit $r->{exit}\n$r->{out}$r->{err}");
    return $r;
}

# ---- make install: header, pyxis.pc, modules directory --------------------------------------
my $dest = abs_path(PxTest::subdir('destdir'));
run('make install DESTDIR=...', 'make', '-C', $builddir, 'install', "DESTDIR=$dest");

my (@pc, @bin, @so, @la);
find(sub {
    push @pc, $File::Find::name if $_ eq 'pyxis.pc' && -f;
    push @bin, $File::Find::name if $_ eq 'pyxis' && -f && -x && $File::Find::dir =~ m{/bin\z};
    push @so, $_ if /\.so\z/ && $File::Find::dir =~ m{/modules\z};
    push @la, $File::Find::name if /\.la\z/;
}, $dest);
ok((grep { $_ eq 'headers.so' } @so) && (grep { $_ eq 'lua.so' } @so),
    'the built-in modules are installed (' . join(' ', sort @so) . ')');
is_deeply(\@la, [], 'no libtool .la file is installed');
if (!is(scalar @pc, 1, 'one pyxis.pc installed') | !is(scalar @bin, 1, 'one bin/pyxis installed')) {
    done_testing;
    exit;
}
(my $pcdir = $pc[0]) =~ s{/pyxis\.pc\z}{};
like($pcdir, qr{/lib[^/]*/pkgconfig\z}, "pyxis.pc is in LIBDIR/pkgconfig ($pcdir)");

# pkg-config sees only the install: its pyxis.pc first, its paths under DESTDIR.
$ENV{PKG_CONFIG_PATH} = $pcdir;
$ENV{PKG_CONFIG_SYSROOT_DIR} = $dest;
$ENV{PKG_CONFIG_ALLOW_SYSTEM_CFLAGS} = 1;    # keep -I even for a prefix of /usr
sub pkgconf { my $r = PxTest::run_cmd(['pkg-config', @_]); chomp $r->{out}; return $r->{out} }

my $header = slurp("$srcdir/include/pyxis/module.h");
my ($major) = $header =~ /^#define PYXIS_ABI_MAJOR (\d+)/m;
my ($minor) = $header =~ /^#define PYXIS_ABI_MINOR (\d+)/m;
is(pkgconf('--variable=abi_major', 'pyxis'), $major, "pyxis.pc abi_major is the header's");
is(pkgconf('--variable=abi_minor', 'pyxis'), $minor, "pyxis.pc abi_minor is the header's");
is(pkgconf('--libs', 'pyxis'), '', 'pyxis.pc has no Libs: modules link against nothing');

my ($incdir) = pkgconf('--cflags', 'pyxis') =~ /-I(\S+)/;
is(slurp("$incdir/pyxis/module.h"), $header, 'Cflags finds the installed module.h');

# pkgconf prefixes variables with the sysroot too; the original pkg-config does not.
my $moddir = pkgconf('--variable=modulesdir', 'pyxis');
my @destdir = ();
if (index($moddir, $dest) != 0) {
    @destdir = ("DESTDIR=$dest");
    $moddir = "$dest$moddir";
}
like($moddir, qr{/pyxis/modules\z}, 'modulesdir is LIBDIR/pyxis/modules');
ok(-d $moddir, 'make install created the modules directory');

# ---- the example, copied out of the tree, built against the install -------------------------
my $hello = PxTest::subdir('hello');
for my $f (qw(hello.c Makefile README.md)) {
    copy("$srcdir/examples/modules/hello/$f", "$hello/$f") or die "copy $f: $!";
}
my ($version) = slurp("$hello/hello.c") =~ /#define HELLO_VERSION "([^"]+)"/;

my $r = run('the example builds against the installed SDK', 'make', '-C', $hello);
my ($cc) = grep {/-shared/} split /\n/, $r->{out};
my @inc = ($cc // '') =~ /-I\s*(\S+)/g;
ok(@inc && !grep({ index($_, $dest) != 0 } @inc), 'every -I points into the install')
    or diag("compile line: " . ($cc // $r->{out}));
ok(!grep({ (abs_path($_) // '') eq abs_path("$srcdir/include") } @inc),
    'no -I into the source tree');
like($cc // '', qr/-fvisibility=hidden/, 'built with -fvisibility=hidden');
run('make install puts hello.so in modulesdir', 'make', '-C', $hello, 'install', @destdir);
ok(-f "$moddir/hello.so", "hello.so installed in $moddir");

# ---- the installed pyxis runs it --------------------------------------------------------------
$ENV{PYXIS_BIN} = $bin[0];

$r = pyxis_run('modules', $moddir);
is($r->{exit}, 0, 'pyxis modules DIR exits 0') or diag($r->{out} . $r->{err});
like($r->{out}, qr/^\s*hello\b.*\Q$version\E.*\b\Q$major.$minor\E\b/m,
    'pyxis modules DIR lists hello, its version and its ABI') or diag($r->{out});

my $config = <<'YAML';
workers: 1
modules_path: %%MODULES%%
listeners:
  - name: front
    listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: /custom/ }
        filters:
          - hello: { greeting: "good day", header: x-greet }
        upstream: app
      - match: { path_prefix: /bare/ }
        filters:
          - hello
        upstream: app
      - match: { path_prefix: / }
        filters:
          - hello: { greeting: hi }
        upstream: app
upstreams:
  app: { endpoints: [ "127.0.0.1:%%BACKEND_app%%" ] }
YAML

# The module's own config errors name the file, line and column.
(my $bad = $config) =~ s/greeting: hi/greting: hi/;
$r = PxTest::Pyxis->check(yaml => $bad, vars => { MODULES => $moddir, BACKEND_app => 1 });
isnt($r->{exit}, 0, 'pyxis -t refuses an unknown key in the module config');
like($r->{err} . $r->{out}, qr/pyxis\.yaml:17:\d+:.*greting/,
    'the error names the file, line and key') or diag($r->{err} . $r->{out});

# Found through modules_path and nowhere else; or loaded by file name with load_modules.
(my $no_path = $config) =~ s/^modules_path: .*\n//m;
$r = PxTest::Pyxis->check(yaml => $no_path, vars => { BACKEND_app => 1 });
like($r->{err} . $r->{out}, qr/unknown filter "hello": no hello\.so in/,
    'without modules_path the module is not found') or diag($r->{err} . $r->{out});
$r = PxTest::Pyxis->check(yaml => "load_modules: [ $moddir/hello.so ]\n$no_path",
    vars => { BACKEND_app => 1 });
is($r->{exit}, 0, 'load_modules: [ .../hello.so ] loads it by file name')
    or diag($r->{err} . $r->{out});

my $be = PxTest::Backend->echo(name => 'app');
my $px = PxTest::Pyxis->start(vars => { MODULES => $moddir, BACKEND_app => $be->port },
    yaml => $config);
my $port = $px->port('front');

$r = http_req($port, path => '/a', headers => ['X-Hello' => 'spoofed']);
is($r->{status}, 200, 'GET /a through hello -> 200');
is(parse_echo($r->{body})->{h}{'x-hello'}, 'hi', 'the upstream gets x-hello: hi (replacing the client\'s)');
is($r->{h}{'x-hello-module'}, $version, 'the response has x-hello-module: VERSION');
is($r->{h}{'x-hello-count'}, 1, 'first request on the worker: x-hello-count 1');

$r = http_req($port, path => '/custom/b');
my $seen = parse_echo($r->{body});
is($seen->{h}{'x-greet'}, 'good day', 'a second hello entry with its own config: x-greet');
ok(!exists $seen->{h}{'x-hello'}, '... and no x-hello');
is($r->{h}{'x-hello-count'}, 2, 'the count is per worker, across routes: 2');

$r = http_req($port, path => '/bare/c');
is(parse_echo($r->{body})->{h}{'x-hello'}, 'hello', 'a bare "- hello" takes the defaults');

my $before = scalar $be->requests;
$r = http_req($port, path => '/a?x=1&hello=reply');
is($r->{status}, 200, '?hello=reply -> 200');
is($r->{body}, "hello from a module\n", 'the local reply body');
is($r->{h}{'x-hello-count'}, 4, 'the local reply has x-hello-count 4');
is($r->{h}{'x-hello-module'}, $version, 'and x-hello-module, once');
is(scalar $be->requests, $before, 'the local reply did not reach the upstream');

is($px->stop, 0, 'pyxis exits 0');

done_testing;
