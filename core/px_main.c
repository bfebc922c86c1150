/*
 * px_main.c: the pyxis command line.
 *
 *   pyxis [-c FILE]         run in the foreground (default FILE: SYSCONFDIR/pyxis/pyxis.yaml)
 *   pyxis -t [-c FILE]      check the configuration and exit
 *   pyxis -V                print the version and the versions of the linked libraries
 *   pyxis modules [DIR]     list the filter modules in DIR (default: the modules directory)
 *   pyxis test-filter ...   run one request through a route's filters offline (px_testfilter.h)
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <luajit-2.1/luajit.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <yaml.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "config.h"
#include "px_conf.h"
#include "px_module.h"
#include "px_process.h"
#include "px_testfilter.h"
#include "px_upstream.h"

static void px_usage(FILE *out)
{
    fprintf(out,
            "usage: pyxis [-c FILE] [-t] [-V]\n"
            "       pyxis modules [DIR]\n"
            "       pyxis test-filter --config FILE --request FILE [options] (--help: options)\n"
            "  -c FILE  configuration file (default %s/pyxis/pyxis.yaml)\n"
            "  -t       check the configuration and exit\n"
            "  -V       print version information and exit\n"
            "  -h       this help\n"
            "  modules  list the filter modules in DIR (default %s) and which would be refused\n"
            "  test-filter  run one request through a route's filters, offline, and print what\n"
            "           the upstream and the client received\n",
            PX_SYSCONFDIR, px_module_builtin_path());
}

static void px_version(void)
{
    char pcre2[64] = "";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre2);
    printf("pyxis %s\n", PACKAGE_VERSION);
    printf("libevent %s\n", event_get_version());
    printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("libyaml %s\n", yaml_get_version_string());
    printf("PCRE2 %s\n", pcre2);
    printf("nghttp2 %s\n", nghttp2_version(0)->version_str);
    printf("%s (headers)\n", LUAJIT_VERSION);
    printf("module ABI %d.%d\n", PYXIS_ABI_MAJOR, PYXIS_ABI_MINOR);
}

static int px_check(const char *file)
{
    px_conf_t *conf = px_conf_load_or_report(file, stderr);
    if (conf == NULL)
        return 1;
    printf("%s: configuration OK\n", file);
    px_conf_release(conf);
    return 0;
}

/* Socket buffers come and go by the thousand per second, in sizes up to PX_IO's largest read.
 * glibc would serve the large ones with mmap and give freed memory back to the kernel at once,
 * so every new buffer costs page faults (15% of the CPU on 64 KiB responses). Keep it. */
static void px_tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

/* pyxis modules [DIR]: every directory of the built-in path when DIR is not given. */
static int px_modules_cmd(int argc, char **argv)
{
    if (argc > 3) {
        px_usage(stderr);
        return 2;
    }
    if (argc == 3)
        return px_module_list(argv[2], stdout) > 0 ? 1 : 0;
    int refused = 0;
    char *path = strdup(px_module_builtin_path());
    for (char *save = NULL, *dir = strtok_r(path, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save))
        refused += px_module_list(dir, stdout);
    free(path);
    return refused > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    px_tune_malloc();
    if (argc >= 2 && strcmp(argv[1], "modules") == 0)
        return px_modules_cmd(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "test-filter") == 0)
        return px_testfilter_main(argc - 1, argv + 1);
    const char *file = PX_SYSCONFDIR "/pyxis/pyxis.yaml";
    int test = 0, opt;
    while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
        switch (opt) {
        case 'c': file = optarg; break;
        case 't': test = 1; break;
        case 'V': px_version(); return 0;
        case 'h': px_usage(stdout); return 0;
        default: px_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        px_usage(stderr);
        return 2;
    }
    if (getenv("PYXIS_TEST_IDLE_UNWATCHED") != NULL) {
        px_upstream_idle_unwatched = 1;
        fprintf(stderr, "pyxis: PYXIS_TEST_IDLE_UNWATCHED is set: idle upstream connections are "
                        "not watched (a test hook, never for production)\n");
    }
    return test ? px_check(file) : px_process_run(file);
}
