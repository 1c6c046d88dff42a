/* vg_rparse — pure functions that turn the four DNS replies of one lookup (A, AAAA, TXT and SRV)
 * into a struct vg_vm_location.  No sockets, no c-ares channel: unit-tested with canned messages.
 * Internal to the resolver library.
 */
#ifndef VG_RPARSE_H
#define VG_RPARSE_H

#include "vg_resolve.h"

#include <stdbool.h>
#include <stddef.h>

enum vg_rq { VG_RQ_A, VG_RQ_AAAA, VG_RQ_TXT, VG_RQ_SRV, VG_RQ_N };

/* One query's outcome as c-ares reported it: the ares status of the query callback and the raw
 * reply (abuf may be NULL when no reply arrived). */
struct vg_rpart {
    int status;
    const unsigned char *abuf;
    int alen;
};

#define VG_TTL_NONE 0xffffffffu

/* Minimum TTL of the answer RRs of type `qtype` (or CNAME) → *answer_ttl, and the negative TTL
 * of RFC 2308 (min of the SOA's TTL and its MINIMUM field, from the authority section) →
 * *neg_ttl; VG_TTL_NONE when absent.  False if the message is malformed. */
bool vg_rparse_ttls(const unsigned char *abuf, size_t alen, int qtype, unsigned *answer_ttl,
                    unsigned *neg_ttl);

/* Map a c-ares status (ARES_*) to a resolver status. */
enum vg_res_status vg_rparse_status(int ares_status);

/* Fold the four replies.  loc->name must be set by the caller; the rest is filled in.
 * Returns VG_RES_OK (at least one address), VG_RES_NXDOMAIN, VG_RES_NODATA or the first failure
 * (in the order A, AAAA, SRV, TXT).  *cache_ttl is how long the outcome may be cached in seconds
 * (0: not at all): for OK the smallest TTL of the records used (loc->ttl), for NXDOMAIN/NODATA
 * the negative TTL capped at neg_ttl_max, for failures 0. */
enum vg_res_status vg_rparse_fold(const struct vg_rpart parts[VG_RQ_N], unsigned neg_ttl_max,
                                  struct vg_vm_location *loc, unsigned *cache_ttl);

#endif
