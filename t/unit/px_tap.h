/*
 * px_tap.h: a minimal TAP producer for the C unit tests (run by prove and by `make check`
 * through automake's TAP driver). Header-only; each test program includes it once.
 *
 *   plan_no_plan();  ok(cond, "name");  is_int(got, want, "name");
 *   is_str(got, want, "name");  is_mem(p, n, "lit", "name");  return done_testing();
 */
#ifndef PX_TAP_H
#define PX_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int px_tap_run, px_tap_failed;

static void plan_no_plan(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
}

static int px_tap_ok(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int px_tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    px_tap_run++;
    printf("%sok %d - ", cond ? "" : "not ", px_tap_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        px_tap_failed++;
        printf("#   Failed test at %s line %d.\n", file, line);
    }
    return cond;
}

#define ok(cond, ...) px_tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                                     \
    do {                                                                                           \
        long long px_g_ = (long long)(got), px_w_ = (long long)(want);                             \
        if (!ok(px_g_ == px_w_, __VA_ARGS__))                                                      \
            printf("#          got: %lld\n#     expected: %lld\n", px_g_, px_w_);                  \
    } while (0)

#define is_str(got, want, ...)                                                                     \
    do {                                                                                           \
        const char *px_g_ = (got), *px_w_ = (want);                                                \
        int px_c_ = (px_g_ == NULL && px_w_ == NULL) ||                                            \
                    (px_g_ != NULL && px_w_ != NULL && strcmp(px_g_, px_w_) == 0);                 \
        if (!ok(px_c_, __VA_ARGS__))                                                               \
            printf("#          got: '%s'\n#     expected: '%s'\n", px_g_ ? px_g_ : "(null)",       \
                   px_w_ ? px_w_ : "(null)");                                                      \
    } while (0)

/* Compare a (pointer, length) pair with a string literal. */
#define is_mem(p, n, lit, ...)                                                                     \
    do {                                                                                           \
        const char *px_p_ = (const char *)(p);                                                     \
        size_t px_n_ = (n);                                                                        \
        int px_c_ = px_n_ == strlen(lit) && (px_n_ == 0 || memcmp(px_p_, (lit), px_n_) == 0);      \
        if (!ok(px_c_, __VA_ARGS__))                                                               \
            printf("#          got: '%.*s'\n#     expected: '%s'\n", (int)px_n_,                   \
                   px_p_ ? px_p_ : "", (lit));                                                     \
    } while (0)

static int done_testing(void)
{
    printf("1..%d\n", px_tap_run);
    return px_tap_failed ? 1 : 0;
}

#endif
