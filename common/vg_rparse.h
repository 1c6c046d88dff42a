/* vg_rparse — pure functions that turn the four DNS replies of one lookup (A, AAAA, TXT and SRV)
 * into a struct vg_vm_location, and judge them against the resolver's policy (struct vg_rpolicy:
 * zones, host networks, TTL caps).  No sockets, no c-ares channel: unit-tested with canned
 * messages and fuzzed (tests/fuzz/fuzz_rparse.c).  Internal to the resolver library.
 *
 * What a reply must be to be used (docs/clients.md, "What the resolver refuses"):
 *   - the answer to the question asked: QR set, opcode QUERY, exactly one question with the name
 *     (any case), type and class IN that were asked.  The message ID is c-ares' business: it
 *     picks a random one per query and drops replies whose ID or question differ, before we
 *     ever see them; this is the second look, on the bytes we are given;
 *   - aliases stay inside the zones: every CNAME and DNAME of the answer section points at or
 *     below one of pol->zones (when it has any), the CNAMEs from the question name form one
 *     chain of at most VG_RPARSE_CHAIN_MAX links, and every record of the asked type belongs to
 *     that chain (c-ares 1.18 takes TXT and SRV records of any owner);
 *   - SRV targets are inside the zones too (they name the owning host's host record);
 *   - the owning host's addresses are in pol->nets, or, when it has none, not loopback,
 *     unspecified, link-local, multicast or reserved (vg_rparse_addr_ok);
 *   - TTLs are capped: positive answers at pol->ttl_max, negative ones at pol->neg_ttl_max.
 */
#ifndef VG_RPARSE_H
#define VG_RPARSE_H

#include "vg_resolve.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct vg_cidr;

enum vg_rq { VG_RQ_A, VG_RQ_AAAA, VG_RQ_TXT, VG_RQ_SRV, VG_RQ_N };

/* One query's outcome as c-ares reported it: the ares status of the query callback and the raw
 * reply (abuf may be NULL when no reply arrived). */
struct vg_rpart {
    int status;
    const unsigned char *abuf;
    int alen;
};

#define VG_TTL_NONE 0xffffffffu
#define VG_RPARSE_CHAIN_MAX 8 /* CNAME links followed from the question name */

/* What the resolver accepts.  The arrays are the caller's, read during the calls only. */
struct vg_rpolicy {
    const char *const *zones;   /* normalized zone names; CNAME/DNAME/SRV targets stay under one */
    size_t nzones;              /* 0: targets are not restricted (no [dns] zone configured) */
    const struct vg_cidr *nets; /* [dns] host-networks: the owning hosts' addresses */
    size_t nnets;               /* 0: any address but the special ones (vg_rparse_addr_ok) */
    unsigned ttl_max;           /* cap of positive answers, seconds */
    unsigned neg_ttl_max;       /* cap of negative answers (NXDOMAIN, NODATA), seconds */
};

/* Minimum TTL of the answer RRs of type `qtype` (or CNAME) → *answer_ttl, and the negative TTL
 * of RFC 2308 (min of the SOA's TTL and its MINIMUM field, from the authority section) →
 * *neg_ttl; VG_TTL_NONE when absent.  False if the message is malformed. */
bool vg_rparse_ttls(const unsigned char *abuf, size_t alen, int qtype, unsigned *answer_ttl,
                    unsigned *neg_ttl);

/* Map a c-ares status (ARES_*) to a resolver status. */
enum vg_res_status vg_rparse_status(int ares_status);

/* Is the reply (alen octets) the answer to (qname, qtype, IN), with its aliases inside the zones
 * of pol?  qname is normalized text ("web1.vm.test").  VG_RES_OK; VG_RES_BADRESP (malformed,
 * another question, a CNAME chain longer than VG_RPARSE_CHAIN_MAX or looping, a record of qtype
 * for a name off the chain) or VG_RES_OFFZONE (a CNAME or DNAME target outside every zone), with
 * the reason in why (always terminated; "" for OK). */
enum vg_res_status vg_rparse_check(const unsigned char *abuf, size_t alen, const char *qname,
                                   int qtype, const struct vg_rpolicy *pol, char *why,
                                   size_t whylen);

/* May the owning host's address sa (AF_INET or AF_INET6) be connected to?  With pol->nnets:
 * only inside one of those prefixes (which may include loopback and the like on purpose).
 * Without: unless it is unspecified (0.0.0.0/8, ::), loopback (127/8, ::1), link-local
 * (169.254/16, fe80::/10), multicast (224/4, ff00::/8) or reserved (240/4, broadcast).
 * An IPv4-mapped IPv6 address is judged as its IPv4 address. */
bool vg_rparse_addr_ok(const struct vg_rpolicy *pol, const struct sockaddr *sa);

/* Fold the four replies under pol.  loc->name must be set by the caller; the rest is filled in.
 * Returns VG_RES_OK (at least one usable address), VG_RES_NXDOMAIN, VG_RES_NODATA or the first
 * failure (in the order A, AAAA, SRV, TXT), including the refusals of vg_rparse_check,
 * VG_RES_OFFZONE for an SRV target outside the zones and VG_RES_BADADDR when every address
 * was refused.  Refused addresses are left out of an OK answer.  *cache_ttl is how long the
 * outcome may be cached in seconds (0: not at all): for OK the smallest TTL of the records used
 * capped at pol->ttl_max (= loc->ttl), for NXDOMAIN/NODATA the negative TTL capped at
 * pol->neg_ttl_max, for failures 0.  why (always terminated) says what was refused: the reason
 * of a refusal, or the addresses left out of an OK answer; "" otherwise. */
enum vg_res_status vg_rparse_fold(const struct vg_rpart parts[VG_RQ_N],
                                  const struct vg_rpolicy *pol, struct vg_vm_location *loc,
                                  unsigned *cache_ttl, char *why, size_t whylen);

#endif
