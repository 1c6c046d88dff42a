/* vg_rcache — bounded answer cache of the resolver, keyed by normalized VM name.
 *
 * Pure: the caller passes the time (milliseconds, any monotonic origin), so tests drive expiry
 * with a fake clock.  Entries expire after their TTL; when full, the least recently used entry
 * makes room.  Internal to the resolver library.
 */
#ifndef VG_RCACHE_H
#define VG_RCACHE_H

#include "vg_resolve.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_rcache;

/* max 0 is a cache that stores nothing. */
struct vg_rcache *vg_rcache_new(size_t max);
void vg_rcache_free(struct vg_rcache *c);
void vg_rcache_clear(struct vg_rcache *c);
size_t vg_rcache_count(const struct vg_rcache *c);

/* Store (or replace) the outcome for `name`, valid for ttl_s seconds from now_ms.  loc is copied
 * when st == VG_RES_OK and ignored otherwise.  ttl_s == 0 stores nothing (and drops an older
 * entry).  False only when out of memory. */
bool vg_rcache_put(struct vg_rcache *c, const char *name, enum vg_res_status st,
                   const struct vg_vm_location *loc, unsigned ttl_s, uint64_t now_ms);

/* A live entry: true, *st, and for OK a copy in *loc with ttl = the seconds left (rounded up)
 * and from_cache set.  An expired entry is removed and false returned. */
bool vg_rcache_get(struct vg_rcache *c, const char *name, uint64_t now_ms, enum vg_res_status *st,
                   struct vg_vm_location *loc);

#endif
