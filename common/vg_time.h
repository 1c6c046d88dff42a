/* Monotonic time: the one clock every vmgate program reads for timeouts, deadlines, back-off and
 * durations in logs and reports.
 *
 * CLOCK_MONOTONIC counts from an arbitrary start (boot), never jumps with the wall clock and
 * does not count suspend.  Every value is an unsigned count since that start: subtract two for a
 * duration; deadline arithmetic that can go below zero converts to a signed type first
 * ((int64_t)deadline - (int64_t)vg_now_ms()).  Header only: no state, safe from any thread.
 * Wall-clock time (log timestamps) is not here: see vg_log.c.
 */
#ifndef VG_TIME_H
#define VG_TIME_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t vg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The same clock in microseconds and in milliseconds (truncated). */
static inline uint64_t vg_now_us(void)
{
    return vg_now_ns() / 1000u;
}

static inline uint64_t vg_now_ms(void)
{
    return vg_now_ns() / 1000000u;
}

/* The same clock in seconds, for reports and benchmarks that compute with doubles. */
static inline double vg_now_s(void)
{
    return (double)vg_now_ns() / 1e9;
}

/* Seconds elapsed since t0_ns, an earlier vg_now_ns(). */
static inline double vg_secs_since(uint64_t t0_ns)
{
    return (double)(vg_now_ns() - t0_ns) / 1e9;
}

/* Whole seconds of CLOCK_MONOTONIC_COARSE: the value at the last timer tick (a few ms old) and
 * cheaper to read than vg_now_ns(); for second-granularity bookkeeping on hot paths (the relay's
 * idle timeout).  Never compare it with the precise clock: the two may differ by a tick. */
static inline uint64_t vg_now_coarse_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec;
}

#endif
