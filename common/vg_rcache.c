#include "vg_rcache.h"

#include "vg_alloc.h"

#include <string.h>

struct entry {
    struct entry *hnext;               /* hash chain */
    struct entry *lru_prev, *lru_next; /* most recently used at the head */
    uint64_t expires_ms;
    uint32_t hash;
    enum vg_res_status st;
    char name[254];
    struct vg_vm_location *loc; /* OK only */
};

struct vg_rcache {
    size_t max, count, nbuckets;
    struct entry **buckets;
    struct entry *lru_head, *lru_tail;
};

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

struct vg_rcache *vg_rcache_new(size_t max)
{
    struct vg_rcache *c = vg_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->max = max;
    c->nbuckets = 16;
    while (c->nbuckets < max && c->nbuckets < (1u << 20))
        c->nbuckets <<= 1;
    c->buckets = vg_calloc(c->nbuckets, sizeof *c->buckets);
    if (c->buckets == NULL) {
        vg_free(c);
        return NULL;
    }
    return c;
}

static void lru_unlink(struct vg_rcache *c, struct entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct vg_rcache *c, struct entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head)
        c->lru_head->lru_prev = e;
    c->lru_head = e;
    if (c->lru_tail == NULL)
        c->lru_tail = e;
}

static struct entry **find_slot(struct vg_rcache *c, const char *name, uint32_t h)
{
    struct entry **pp = &c->buckets[h & (c->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->name, name) != 0))
        pp = &(*pp)->hnext;
    return pp;
}

static void remove_entry(struct vg_rcache *c, struct entry **slot)
{
    struct entry *e = *slot;
    *slot = e->hnext;
    lru_unlink(c, e);
    vg_free(e->loc);
    vg_free(e);
    c->count--;
}

void vg_rcache_clear(struct vg_rcache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nbuckets; i++)
        while (c->buckets[i])
            remove_entry(c, &c->buckets[i]);
}

void vg_rcache_free(struct vg_rcache *c)
{
    if (c == NULL)
        return;
    vg_rcache_clear(c);
    vg_free(c->buckets);
    vg_free(c);
}

size_t vg_rcache_count(const struct vg_rcache *c)
{
    return c ? c->count : 0;
}

bool vg_rcache_put(struct vg_rcache *c, const char *name, enum vg_res_status st,
                   const struct vg_vm_location *loc, unsigned ttl_s, uint64_t now_ms)
{
    if (strlen(name) >= sizeof((struct entry *)0)->name)
        return true; /* cannot be a valid name: nothing to cache */
    uint32_t h = hash_name(name);
    struct entry **slot = find_slot(c, name, h);
    if (*slot)
        remove_entry(c, slot);
    if (ttl_s == 0 || c->max == 0)
        return true;
    while (c->count >= c->max) {
        struct entry *victim = c->lru_tail;
        remove_entry(c, find_slot(c, victim->name, victim->hash));
    }
    struct entry *e = vg_calloc(1, sizeof *e);
    if (e == NULL)
        return false;
    if (st == VG_RES_OK) {
        if ((e->loc = vg_malloc(sizeof *e->loc)) == NULL) {
            vg_free(e);
            return false;
        }
        *e->loc = *loc;
    }
    e->st = st;
    e->hash = h;
    e->expires_ms = now_ms + (uint64_t)ttl_s * 1000u;
    memcpy(e->name, name, strlen(name) + 1);
    slot = find_slot(c, name, h); /* evictions may have moved the end of the chain */
    *slot = e;
    lru_push(c, e);
    c->count++;
    return true;
}

bool vg_rcache_get(struct vg_rcache *c, const char *name, uint64_t now_ms, enum vg_res_status *st,
                   struct vg_vm_location *loc)
{
    if (c->count == 0)
        return false;
    uint32_t h = hash_name(name);
    struct entry **slot = find_slot(c, name, h);
    struct entry *e = *slot;
    if (e == NULL)
        return false;
    if (now_ms >= e->expires_ms) {
        remove_entry(c, slot);
        return false;
    }
    lru_unlink(c, e);
    lru_push(c, e);
    *st = e->st;
    if (e->st == VG_RES_OK && loc != NULL) {
        *loc = *e->loc;
        loc->ttl = (unsigned)((e->expires_ms - now_ms + 999) / 1000);
        loc->from_cache = true;
    }
    return true;
}
