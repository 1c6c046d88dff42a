#include "vg_random.h"

#include "vg_log.h"
#include "vg_time.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

/* splitmix64 finalizer: spreads the fallback's clock and counter over all 64 bits */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t vg_random_u64(void)
{
    static bool warned;
    static uint64_t counter;
    uint64_t v;
    ssize_t n;
    do
        n = getrandom(&v, sizeof v, 0);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof v)
        return v;
    if (!warned) {
        warned = true;
        vg_warn("getrandom: %s: ids are unique but predictable", n < 0 ? strerror(errno) : "short");
    }
    return mix(vg_now_ns() + 0x9e3779b97f4a7c15ULL * ++counter);
}
