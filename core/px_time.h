/*
 * px_time.h: the clock timeouts, ejections and health use.
 */
#ifndef PX_TIME_H
#define PX_TIME_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of the coarse monotonic clock: the kernel's tick-updated time (a few ms of
 * resolution), read without touching the hardware clock, cheap enough to call several times
 * per request. Only ever compare it with itself. */
static inline uint64_t px_time_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
