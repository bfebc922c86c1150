# 081-module-loading: which module files pyxis accepts and what it says about the others, at
# config time (pyxis -t) and in `pyxis modules DIR`. The bad modules are compiled here from a few
# lines of C against include/pyxis/module.h, each breaking one rule.
use strict;
use warnings;
use Test::More;
use PxTest;

my $cc = $ENV{CC} // 'cc';
plan skip_all => "no C compiler ($cc)" unless PxTest::run_cmd([$cc, '--version'])->{exit} == 0;

my $dir = PxTest::testdir() . '/mods';
mkdir $dir or die "mkdir $dir: $!";
my $inc = "$ENV{PYXIS_SRCDIR}/include";

# Build NAME.so from a descriptor body (the part after PYXIS_EXPORT ... = {).
sub build_module {
    my ($file, $c) = @_;
    open my $fh, '>', "$dir/$file.c" or die $!;
    print $fh "#include <pyxis/module.h>\n$c\n";
    close $fh;
    my $r = PxTest::run_cmd([$cc, '-shared', '-fPIC', "-I$inc", '-o', "$dir/$file.so", "$dir/$file.c"]);
    die "cannot build $file: $r->{err}" if $r->{exit} != 0;
}

build_module('good', <<'C');
PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER, .name = "good", .version = "2.3.4", .description = "a good module" };
C
build_module('major2', <<'C');
PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    .abi_major = 2, .abi_minor = 0, .size = sizeof(pyxis_module_t), .name = "major2" };
C
build_module('newer', <<'C');
PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    .abi_major = PYXIS_ABI_MAJOR, .abi_minor = PYXIS_ABI_MINOR + 7,
    .size = sizeof(pyxis_module_t), .name = "newer" };
C
build_module('tiny', <<'C');
PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    .abi_major = PYXIS_ABI_MAJOR, .abi_minor = 0, .size = 16, .name = "tiny" };
C
build_module('nosym', 'PYXIS_EXPORT int not_a_module = 1;');
build_module('dup1', <<'C');
PYXIS_EXPORT const pyxis_module_t pyxis_module = { PYXIS_MODULE_HEADER, .name = "dup" };
C
build_module('dup2', <<'C');
PYXIS_EXPORT const pyxis_module_t pyxis_module = { PYXIS_MODULE_HEADER, .name = "dup" };
C
build_module('initfail', <<'C');
static pyxis_rc_t init(const pyxis_api_t *api) { (void)api; return PYXIS_ERROR; }
PYXIS_EXPORT const pyxis_module_t pyxis_module = {
    PYXIS_MODULE_HEADER, .name = "initfail", .init = init };
C

sub check_with {
    my ($filters, %o) = @_;
    my $extra = $o{extra} // '';
    return PxTest::Pyxis->check(vars => { MODS => $dir }, yaml => <<"YAML");
modules_path: %%MODS%%
$extra
listeners:
  - listen: 127.0.0.1:%%PORT_front%%
    routes:
      - match: { path_prefix: / }
        filters:
$filters
        respond: { status: 200 }
YAML
}

my $r = check_with('          - good');
is($r->{exit}, 0, 'a good module loads') or diag $r->{err};

my %refused = (
    major2 => qr/major2\.so was built for pyxis module ABI 2\.0; this pyxis has ABI 1\.\d+/,
    newer => qr/newer\.so needs pyxis module ABI 1\.\d+, newer than this pyxis's 1\.\d+/,
    tiny => qr/tiny\.so has a descriptor of 16 bytes, smaller than/,
    nosym => qr/nosym\.so is not a pyxis module: it does not export the "pyxis_module" symbol/,
    initfail => qr/module initfail \(.*initfail\.so\): init failed/,
);
for my $name (sort keys %refused) {
    $r = check_with("          - $name");
    isnt($r->{exit}, 0, "$name: refused at config time");
    like($r->{err}, qr/pyxis\.yaml:\d+:\d+: .*filters\[0\]\.$name: .*$refused{$name}/,
        "$name: file:line:col and the reason") or diag $r->{err};
}

$r = check_with('          - missing');
like($r->{err}, qr/pyxis\.yaml:8:13: .*unknown filter "missing": no missing\.so in \Q$dir\E/,
    'an unknown filter names the directories searched') or diag $r->{err};

# Two files naming the same module: the second is refused.
$r = check_with('          - dup', extra => "load_modules: [ $dir/dup1.so, $dir/dup2.so ]");
like($r->{err}, qr/dup2\.so is named "dup", like the module already loaded from .*dup1\.so/,
    'a duplicate module name is refused') or diag $r->{err};

# A module with no conf_create takes no configuration.
$r = check_with('          - good: { x: 1 }');
like($r->{err}, qr/module "good" takes no configuration/, 'config for a module without any')
    or diag $r->{err};

# A top-level key that is neither the core's nor a module's; one for a module without
# conf_global.
$r = check_with('          - good', extra => 'nosuchthing: { a: 1 }');
like($r->{err}, qr/pyxis\.yaml:2:1: unknown key "nosuchthing" at the top level \(neither a top-level key nor a module's\)/,
    'an unknown top-level key') or diag $r->{err};
$r = check_with('          - good', extra => 'good: { a: 1 }');
like($r->{err}, qr/unknown key "good" at the top level \(a module of that name exists but takes no top-level configuration\)/,
    'a top-level key for a module without conf_global') or diag $r->{err};

# pyxis modules DIR: one line per file, refused ones with the reason; exit 1 when any is.
$r = pyxis_run('modules', $dir);
is($r->{exit}, 1, 'pyxis modules: exit 1 when some module would be refused');
like($r->{out}, qr/^  good\s+2\.3\.4\s+ABI 1\.0  a good module$/m, 'lists a good module');
like($r->{out}, qr/^  major2\.so\s+refused: .*ABI 2\.0/m, 'says why major2 is refused');
like($r->{out}, qr/^  newer\.so\s+refused: .*newer than/m, 'says why newer is refused');
like($r->{out}, qr/^  tiny\.so\s+refused: .*descriptor of 16 bytes/m, 'says why tiny is refused');
like($r->{out}, qr/^  nosym\.so\s+refused: .*does not export/m, 'says why nosym is refused');
like($r->{out}, qr/^  dup2\.so\s+refused: .*named "dup", like an earlier file/m,
    'says the second dup is a duplicate');
like($r->{out}, qr/^  dup\s+-\s+ABI 1\.0  .*load_modules/m,
    'a module whose file name differs is listed with a hint');

# The test module directory of the build holds only good modules.
$r = pyxis_run('modules', "$ENV{PYXIS_BUILDDIR}/t/modules/.libs");
is($r->{exit}, 0, 'pyxis modules on the build\'s test modules: exit 0');
like($r->{out}, qr/^  testfilter\s+1\.0\.0\s+ABI 1\.0/m, 'lists testfilter');

done_testing;
