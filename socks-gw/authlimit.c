#include "authlimit.h"

#include "vg_addr.h"
#include "vg_alloc.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>

#define NSEC 1000000000ull
#define NSETS (GW_LIMIT_SLOTS / GW_LIMIT_WAYS)

struct entry {
    uint8_t key[17]; /* address: family byte + 16 bytes; user: 8-byte keyed hash */
    uint8_t used;
    uint32_t fails;     /* within the window */
    uint32_t level;     /* back-offs so far: the next lasts BACKOFF_MIN << level */
    uint64_t last_fail; /* ns */
    uint64_t until;     /* back-off ends (ns) */
    uint64_t probe;     /* over the free failures: one check in flight until then (ns) */
};

struct table {
    struct entry e[GW_LIMIT_SLOTS];
};

struct gw_limit {
    uint64_t seed;
    struct table addr, user;
};

static uint64_t hash_bytes(uint64_t seed, const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 29; /* finalizer: spread the low bits used for the set */
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static void addr_key(const struct sockaddr *sa, uint8_t key[17])
{
    struct sockaddr_storage ss;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memset(key, 0, 17);
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        key[0] = (uint8_t)sa->sa_family; /* unix (guest streams): one key */
        return;
    }
    vg_sockaddr_unmap(sa, len, &ss);
    key[0] = (uint8_t)ss.ss_family;
    if (ss.ss_family == AF_INET)
        memcpy(key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    else
        memcpy(key + 1, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
}

static void user_key(uint64_t seed, const char *user, uint8_t key[17])
{
    uint64_t h = hash_bytes(seed ^ 0x5bd1e995u, (const uint8_t *)user, strlen(user));
    memset(key, 0, 17);
    key[0] = 0xff;
    memcpy(key + 1, &h, 8);
}

/* The entry for key; with create, a new (or the set's stalest, reused) one; else NULL. */
static struct entry *find(struct gw_limit *l, struct table *t, const uint8_t key[17], bool create,
                          uint64_t now)
{
    struct entry *set = &t->e[(hash_bytes(l->seed, key, 17) % NSETS) * GW_LIMIT_WAYS];
    struct entry *victim = NULL;
    for (int i = 0; i < GW_LIMIT_WAYS; i++) {
        struct entry *e = &set[i];
        if (e->used && now - e->last_fail > (uint64_t)GW_LIMIT_WINDOW_S * NSEC && now >= e->until)
            e->used = 0; /* forgotten */
        if (e->used && memcmp(e->key, key, 17) == 0)
            return e;
        if (!e->used) {
            if (victim == NULL || victim->used)
                victim = e;
        } else if (victim == NULL || (victim->used && e->last_fail < victim->last_fail)) {
            victim = e;
        }
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof *victim);
    memcpy(victim->key, key, 17);
    victim->used = 1;
    return victim;
}

struct gw_limit *gw_limit_new(uint64_t seed)
{
    struct gw_limit *l = vg_calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    if (seed == 0 && getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)(uintptr_t)l ^ 0x9e3779b97f4a7c15ull;
    l->seed = seed;
    return l;
}

void gw_limit_free(struct gw_limit *l)
{
    vg_free(l);
}

static uint64_t left(const struct entry *e, uint64_t now)
{
    return e && e->until > now ? e->until - now : 0;
}

/* 0 when e lets a check through now (and then, over the free failures, reserves the one check
 * allowed in flight); otherwise how long to wait. */
static uint64_t admit_one(struct entry *e, uint64_t now)
{
    if (e == NULL)
        return 0;
    if (e->until > now)
        return e->until - now;
    if (e->fails < GW_LIMIT_FREE)
        return 0;
    if (e->probe > now) /* a check after the back-off is still running */
        return (uint64_t)GW_LIMIT_BACKOFF_MIN_MS * 1000000ull;
    e->probe = now + (uint64_t)GW_LIMIT_PROBE_S * NSEC;
    return 0;
}

uint64_t gw_limit_admit(struct gw_limit *l, const struct sockaddr *peer, const char *user,
                        uint64_t now)
{
    uint8_t ka[17], ku[17];
    addr_key(peer, ka);
    user_key(l->seed, user, ku);
    struct entry *a = find(l, &l->addr, ka, false, now);
    if (a == NULL || a->fails == 0)
        return 0; /* an address without failures is always checked */
    struct entry *u = find(l, &l->user, ku, false, now);
    uint64_t w = admit_one(a, now);
    if (w)
        return w;
    uint64_t wu = admit_one(u, now);
    if (wu)
        a->probe = 0; /* not checked after all: the address's turn is not used up */
    return wu;
}

/* A failure while a back-off already runs (checks that were in flight together) is counted but
 * does not double it: the back-off doubles per round of guessing, not per concurrent guess. */
static uint64_t fail_one(struct entry *e, uint64_t now)
{
    e->fails++;
    e->last_fail = now;
    e->probe = 0;
    if (e->fails > GW_LIMIT_FREE && now >= e->until) {
        uint64_t b = (uint64_t)GW_LIMIT_BACKOFF_MIN_MS * 1000000ull;
        uint64_t max = (uint64_t)GW_LIMIT_BACKOFF_MAX_S * NSEC;
        b = e->level >= 16 ? max : b << e->level;
        if (b > max)
            b = max;
        else
            e->level++;
        e->until = now + b;
    }
    return left(e, now);
}

uint64_t gw_limit_failed(struct gw_limit *l, const struct sockaddr *peer, const char *user,
                         uint64_t now)
{
    uint8_t ka[17], ku[17];
    addr_key(peer, ka);
    user_key(l->seed, user, ku);
    uint64_t wa = fail_one(find(l, &l->addr, ka, true, now), now);
    uint64_t wu = fail_one(find(l, &l->user, ku, true, now), now);
    return wa > wu ? wa : wu;
}

void gw_limit_succeeded(struct gw_limit *l, const struct sockaddr *peer, const char *user,
                        uint64_t now)
{
    uint8_t ku[17];
    user_key(l->seed, user, ku);
    struct entry *e = find(l, &l->user, ku, false, now);
    if (e)
        memset(e, 0, sizeof *e);
    uint8_t ka[17];
    addr_key(peer, ka);
    if ((e = find(l, &l->addr, ka, false, now)) != NULL)
        e->probe = 0;
}
