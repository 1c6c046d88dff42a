#include "vg_records.h"

#include "vg_addr.h"

#include <stdio.h>
#include <string.h>

bool vg_rec_srv_name(const char *vm, char *out)
{
    int w = snprintf(out, VG_NAME_MAX + 1, VG_REC_SRV_PREFIX "%s", vm);
    return w > 0 && w <= VG_NAME_MAX;
}

bool vg_rec_host_name(const char *host, const char *zone, char *out)
{
    int w = snprintf(out, VG_NAME_MAX + 1, "%s." VG_REC_HOSTS_LABEL ".%s", host, zone);
    return w > 0 && w <= VG_NAME_MAX;
}

bool vg_rec_vm_name_ok(const char *name, const char *zone, char *err, size_t errlen)
{
    char hosts[VG_NAME_MAX + 2];
    int w = snprintf(hosts, sizeof hosts, VG_REC_HOSTS_LABEL ".%s", zone);
    if (w > 0 && (size_t)w < sizeof hosts &&
        (strcmp(name, hosts) == 0 || vg_name_under(name, hosts))) {
        snprintf(err, errlen, "names under " VG_REC_HOSTS_LABEL ".%s are reserved for host records",
                 zone);
        return false;
    }
    char srv[VG_NAME_MAX + 1];
    if (!vg_rec_srv_name(name, srv)) {
        snprintf(err, errlen,
                 "too long: its SRV name " VG_REC_SRV_PREFIX "… would exceed %d octets",
                 VG_NAME_MAX);
        return false;
    }
    return true;
}

bool vg_rec_owner_parse(const char *txt, size_t len, char *owner)
{
    const size_t plen = sizeof VG_REC_OWNER_PREFIX - 1;
    char norm[VG_NAME_MAX + 1];
    if (len <= plen || len - plen > VG_REC_HOST_MAX || memcmp(txt, VG_REC_OWNER_PREFIX, plen) != 0)
        return false;
    if (vg_name_normalize(txt + plen, len - plen, norm) != VG_NAME_OK ||
        strlen(norm) > VG_REC_HOST_MAX)
        return false;
    memcpy(owner, norm, strlen(norm) + 1);
    return true;
}

bool vg_rec_heartbeat_parse(const char *txt, size_t len, long long *unixtime)
{
    const size_t plen = sizeof VG_REC_HEARTBEAT_PREFIX - 1;
    char digits[24];
    unsigned long v;
    if (len <= plen || len - plen >= sizeof digits ||
        memcmp(txt, VG_REC_HEARTBEAT_PREFIX, plen) != 0)
        return false;
    memcpy(digits, txt + plen, len - plen);
    digits[len - plen] = '\0';
    if (!vg_parse_uint(digits, 0, 0xFFFFFFFFFFFFul, &v))
        return false;
    *unixtime = (long long)v;
    return true;
}
