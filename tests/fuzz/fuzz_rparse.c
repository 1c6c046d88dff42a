/* Fuzz target: the resolver's reply parser (common/vg_rparse.[ch]) — the four DNS replies of a
 * lookup (A, AAAA, TXT, SRV) as a DNS server, or anyone who can spoof one, sends them.
 *
 * Input layout (see gen_seeds.py):
 *   octet 0      the c-ares status of each query, 2 bits each (A in the low bits):
 *                0 ARES_SUCCESS, 1 ARES_ENODATA, 2 ARES_ENOTFOUND, 3 the status in octet 2
 *   octet 1      neg_ttl_max
 *   octet 2      a c-ares status (any value, also unknown ones)
 *   then for A, AAAA, TXT, SRV: a 16-bit big-endian length and that many octets of reply
 *                (cut short at the end of the input; a query without any octets has no reply,
 *                abuf NULL)
 * Every reply is passed in an exactly-sized heap copy, so reads past alen are caught.
 *
 * Checked: vg_rparse_ttls on each reply for each query type (TTLs at most 2^31 - 1 or
 * VG_TTL_NONE; the same answer twice), vg_rec_owner_parse on every TXT-sized slice (a normalized
 * host name of at most 63 octets), vg_rparse_status on any status, and vg_rparse_fold under an
 * open and a strict policy (zone vm.test, host networks 198.18.0.0/15 and fd00::/8, TTL cap
 * 300): the status is one of the enum, OK has 1..8 addresses of either family that the policy
 * allows, all with the SRV's port, IPv6 first when there are both, an SRV target inside the
 * zone, and cache_ttl = ttl <= the cap; NXDOMAIN/NODATA have no address and cache_ttl <=
 * neg_ttl_max; failures cache nothing, refusals say why; owner and gateway are normalized names;
 * folding again gives the same result; what the strict policy accepts the open one accepts.
 */
#include "fuzz.h"
#include "vg_addr.h"
#include "vg_name.h"
#include "vg_records.h"
#include "vg_rparse.h"

#include <ares.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

static bool normalized(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0)
        return true; /* absent */
    if (n > max)
        return false;
    char out[VG_NAME_MAX + 1];
    return vg_name_normalize(s, n, out) == VG_NAME_OK && strcmp(out, s) == 0;
}

static void check_ttls(const unsigned char *m, size_t len)
{
    static const int types[] = {1, 5, 6, 16, 28, 33, 255};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        unsigned a = 7, n = 7, a2, n2;
        bool ok = vg_rparse_ttls(m, len, types[i], &a, &n);
        FUZZ_CHECK(a == VG_TTL_NONE || a <= 0x7fffffffu);
        FUZZ_CHECK(n == VG_TTL_NONE || n <= 0x7fffffffu);
        if (!ok)
            continue;
        FUZZ_CHECK(vg_rparse_ttls(m, len, types[i], &a2, &n2) && a2 == a && n2 == n);
    }
}

static void check_owner(const unsigned char *p, size_t len)
{
    char owner[64];
    memset(owner, 0x5a, sizeof owner);
    unsigned char *copy = calloc(1, len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, p, len);
    bool ok = vg_rec_owner_parse((const char *)copy, len, owner);
    free(copy);
    if (!ok)
        return;
    FUZZ_CHECK(len > 13 && memcmp(p, "vmgate-owner=", 13) == 0);
    FUZZ_CHECK(memchr(owner, '\0', sizeof owner) != NULL);
    FUZZ_CHECK(owner[0] != '\0' && normalized(owner, 63));
}

/* One fold under pol, with the invariants of any policy; returns the status. */
static enum vg_res_status fold_checked(const struct vg_rpart parts[VG_RQ_N],
                                       const struct vg_rpolicy *pol, struct vg_vm_location *loc,
                                       unsigned *cttl)
{
    struct vg_vm_location loc2;
    unsigned cttl2;
    char why[256], why2[256];
    memset(loc, 0x5a, sizeof *loc);
    memset(why, 0x5a, sizeof why);
    snprintf(loc->name, sizeof loc->name, "web1.vm.test");
    *cttl = 12345;
    enum vg_res_status st = vg_rparse_fold(parts, pol, loc, cttl, why, sizeof why);
    FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
    FUZZ_CHECK(strcmp(loc->name, "web1.vm.test") == 0);
    FUZZ_CHECK(memchr(loc->owner, '\0', sizeof loc->owner) && normalized(loc->owner, 63));
    FUZZ_CHECK(memchr(loc->gateway, '\0', sizeof loc->gateway) &&
               normalized(loc->gateway, VG_NAME_MAX));
    FUZZ_CHECK(!loc->from_cache);
    FUZZ_CHECK(loc->naddrs <= VG_RES_MAX_ADDRS);
    switch (st) {
    case VG_RES_OK: {
        FUZZ_CHECK(loc->naddrs >= 1);
        FUZZ_CHECK(*cttl == loc->ttl && loc->ttl <= 0x7fffffffu && loc->ttl <= pol->ttl_max);
        bool v4 = false, v6 = false;
        for (size_t i = 0; i < loc->naddrs; i++) {
            const struct sockaddr_storage *ss = &loc->addrs[i];
            FUZZ_CHECK(vg_rparse_addr_ok(pol, (const struct sockaddr *)ss));
            if (ss->ss_family == AF_INET) {
                v4 = true;
                FUZZ_CHECK(ntohs(((const struct sockaddr_in *)ss)->sin_port) == loc->port);
            } else {
                FUZZ_CHECK(ss->ss_family == AF_INET6);
                v6 = true;
                FUZZ_CHECK(ntohs(((const struct sockaddr_in6 *)ss)->sin6_port) == loc->port);
            }
        }
        if (v4 && v6)
            FUZZ_CHECK(loc->addrs[0].ss_family == AF_INET6);
        /* an SRV target, when one was taken, is inside the zones (at or below one) */
        if (loc->gateway[0] && pol->nzones > 0) {
            bool under = false;
            for (size_t z = 0; z < pol->nzones; z++)
                under = under || vg_name_under(loc->gateway, pol->zones[z]) ||
                        strcmp(loc->gateway, pol->zones[z]) == 0; /* the apex is in the zone */
            FUZZ_CHECK(under);
        }
        break;
    }
    case VG_RES_NXDOMAIN:
    case VG_RES_NODATA:
        FUZZ_CHECK(loc->naddrs == 0 && *cttl <= pol->neg_ttl_max);
        break;
    case VG_RES_OFFZONE:
    case VG_RES_BADADDR:
        FUZZ_CHECK(why[0] != '\0'); /* a refusal always says why */
        /* fall through */
    case VG_RES_TIMEOUT:
    case VG_RES_UNREACHABLE:
    case VG_RES_SERVFAIL:
    case VG_RES_REFUSED:
    case VG_RES_BADRESP:
    case VG_RES_BADNAME:
    case VG_RES_NOMEM:
    case VG_RES_CANCELLED:
    case VG_RES_ERROR:
        FUZZ_CHECK(loc->naddrs == 0 && *cttl == 0);
        break;
    default:
        FUZZ_CHECK(!"unknown resolver status");
    }
    if (loc->naddrs == 0)
        FUZZ_CHECK(st != VG_RES_OK);

    /* the same replies fold the same */
    memset(&loc2, 0, sizeof loc2);
    snprintf(loc2.name, sizeof loc2.name, "web1.vm.test");
    FUZZ_CHECK(vg_rparse_fold(parts, pol, &loc2, &cttl2, why2, sizeof why2) == st &&
               cttl2 == *cttl);
    FUZZ_CHECK(loc2.naddrs == loc->naddrs && loc2.port == loc->port && loc2.ttl == loc->ttl);
    FUZZ_CHECK(strcmp(loc2.owner, loc->owner) == 0 && strcmp(loc2.gateway, loc->gateway) == 0);
    FUZZ_CHECK(strcmp(why, why2) == 0);
    return st;
}

/* Fold under the open policy (no zones, no host networks, no TTL cap but the negative one) and
 * under a strict one (zone vm.test, host networks 198.18.0.0/15 and fd00::/8, cap 300 s): what
 * the strict policy accepts, the open one accepts too, with at least its addresses. */
static void check_fold(const struct vg_rpart parts[VG_RQ_N], unsigned neg_max)
{
    static const char *const zones[] = {"vm.test"};
    struct vg_cidr nets[2];
    if (!vg_cidr_parse("198.18.0.0/15", &nets[0]) || !vg_cidr_parse("fd00::/8", &nets[1]))
        abort();
    const struct vg_rpolicy open = {NULL, 0, NULL, 0, 0x7fffffffu, neg_max};
    const struct vg_rpolicy strict = {zones, 1, nets, 2, 300, neg_max};
    struct vg_vm_location lo, ls;
    unsigned co, cs;
    enum vg_res_status so = fold_checked(parts, &open, &lo, &co);
    enum vg_res_status ss = fold_checked(parts, &strict, &ls, &cs);
    if (ss == VG_RES_OK) {
        FUZZ_CHECK(so == VG_RES_OK);
        FUZZ_CHECK(ls.naddrs <= lo.naddrs && ls.port == lo.port);
        FUZZ_CHECK(cs == (co < 300 ? co : 300));
        FUZZ_CHECK(strcmp(ls.owner, lo.owner) == 0 && strcmp(ls.gateway, lo.gateway) == 0);
    }
    if (vg_res_is_negative(ss) || vg_res_is_negative(so))
        FUZZ_CHECK(ss == so || ss == VG_RES_OFFZONE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t hdr[3] = {0, 0, 0};
    memcpy(hdr, data, size < 3 ? size : 3);
    size_t off = size < 3 ? size : 3;
    int other = (int)(int8_t)hdr[2]; /* also negative and unknown codes */

    struct vg_rpart parts[VG_RQ_N];
    unsigned char *bufs[VG_RQ_N] = {NULL};
    for (int i = 0; i < VG_RQ_N; i++) {
        static const int st[3] = {ARES_SUCCESS, ARES_ENODATA, ARES_ENOTFOUND};
        unsigned sel = (hdr[0] >> (2 * i)) & 3u;
        parts[i].status = sel < 3 ? st[sel] : other;
        parts[i].abuf = NULL;
        parts[i].alen = 0;
        if (off >= size)
            continue;
        size_t len = off + 2 <= size ? (size_t)data[off] << 8 | data[off + 1] : 0;
        off = off + 2 <= size ? off + 2 : size;
        if (len > size - off)
            len = size - off;
        if (len == 0)
            continue;
        bufs[i] = malloc(len);
        if (bufs[i] == NULL)
            abort();
        memcpy(bufs[i], data + off, len);
        off += len;
        parts[i].abuf = bufs[i];
        parts[i].alen = (int)len;
    }

    FUZZ_CHECK((int)vg_rparse_status(other) >= VG_RES_OK);
    for (int i = 0; i < VG_RQ_N; i++) {
        if (parts[i].abuf == NULL)
            continue;
        check_ttls(parts[i].abuf, (size_t)parts[i].alen);
        /* owner strings: the reply from each offset, as a TXT string of up to 255 octets */
        size_t len = (size_t)parts[i].alen;
        for (size_t s = 0; s < len; s += 1 + (len > 64 ? len / 64 : 0)) {
            size_t l = len - s;
            if (l > 80)
                l = 80;
            check_owner(parts[i].abuf + s, l);
            check_owner(parts[i].abuf + s, l / 2);
        }
    }
    /* the whole input as a TXT string too */
    check_owner(data, size < 255 ? size : 255);
    check_fold(parts, hdr[1]);

    for (int i = 0; i < VG_RQ_N; i++)
        free(bufs[i]);
    return 0;
}
