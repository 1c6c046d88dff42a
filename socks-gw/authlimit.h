/* authlimit — back-off for failed logins, per client address and per user name.
 *
 * No event loop, no clock of its own (the caller passes now, in ns), no I/O: unit-tested alone.
 *
 * Each table keeps, per key, the failures of the last GW_LIMIT_WINDOW_S seconds (a key whose
 * last failure is older starts again from zero).  The first GW_LIMIT_FREE failures cost nothing;
 * the next starts a back-off of GW_LIMIT_BACKOFF_MIN_MS, and each failure after a back-off ran
 * out starts one twice as long, up to GW_LIMIT_BACKOFF_MAX_S (failures of checks that were in
 * flight together count, but do not double it).  While a back-off runs, attempts are refused
 * without a check, and once it ran out only one check at a time is let through (for at most
 * GW_LIMIT_PROBE_S) until the key succeeds or fails again:
 *   - the address back-off applies to every attempt from that address;
 *   - the user back-off applies to attempts for that name from addresses that have failed at
 *     least once within the window themselves, so that guessing someone's password from
 *     elsewhere does not lock its owner out.
 * A success clears the user's record (not the address's: one valid account must not reset the
 * counter of an address that guesses others).  An attempt refused for a back-off is not a
 * failure: it neither counts nor extends the back-off.
 *
 * The tables have a fixed size (GW_LIMIT_SLOTS entries each, GW_LIMIT_WAYS-way sets; a full set
 * forgets its entry with the oldest failure), keyed with a per-process random seed so a client
 * cannot aim its entries at someone else's set.  User names are kept as 64-bit keyed hashes.
 * Addresses are compared in their unmapped form (vg_sockaddr_unmap).
 */
#ifndef GW_AUTHLIMIT_H
#define GW_AUTHLIMIT_H

#include <stdint.h>
#include <sys/socket.h>

#define GW_LIMIT_WINDOW_S 600
#define GW_LIMIT_FREE 5
#define GW_LIMIT_BACKOFF_MIN_MS 1000
#define GW_LIMIT_BACKOFF_MAX_S 60
#define GW_LIMIT_PROBE_S 10
#define GW_LIMIT_SLOTS 4096
#define GW_LIMIT_WAYS 8

struct gw_limit;

/* NULL when out of memory.  seed 0: a random one. */
struct gw_limit *gw_limit_new(uint64_t seed);
void gw_limit_free(struct gw_limit *l);

/* 0: an attempt for user from peer may be checked now (over the free failures this reserves the
 * one check allowed in flight: report its outcome); otherwise the ns to wait. */
uint64_t gw_limit_admit(struct gw_limit *l, const struct sockaddr *peer, const char *user,
                        uint64_t now);
/* A failed check: returns the back-off now in force for this peer/user (ns, 0 while free). */
uint64_t gw_limit_failed(struct gw_limit *l, const struct sockaddr *peer, const char *user,
                         uint64_t now);
void gw_limit_succeeded(struct gw_limit *l, const struct sockaddr *peer, const char *user,
                        uint64_t now);

#endif
