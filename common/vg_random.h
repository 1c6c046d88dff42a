/* vg_random — unpredictable numbers for identifiers a peer must not guess (liveness ping ids,
 * request ids), from the kernel's CSPRNG (getrandom(2)).  No state, no locks.
 */
#ifndef VG_RANDOM_H
#define VG_RANDOM_H

#include <stdint.h>

/* 64 random bits.  getrandom(2) blocks only until the kernel's pool is first initialized (early
 * boot); should it fail anyway, the clock and a counter are mixed in instead, and a warning is
 * logged once: the value is then unique but not secret. */
uint64_t vg_random_u64(void);

#endif
