#include "vg_name.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

const char *vg_name_strerror(enum vg_name_status st)
{
    switch (st) {
    case VG_NAME_OK:
        return "ok";
    case VG_NAME_EMPTY:
        return "empty name";
    case VG_NAME_TOO_LONG:
        return "name longer than 253 octets";
    case VG_NAME_LABEL_EMPTY:
        return "empty label";
    case VG_NAME_LABEL_LONG:
        return "label longer than 63 octets";
    case VG_NAME_BAD_CHAR:
        return "character other than letter, digit or hyphen";
    case VG_NAME_HYPHEN:
        return "label begins or ends with a hyphen";
    case VG_NAME_RESERVED:
        return "label beginning with '_' is reserved";
    case VG_NAME_NUMERIC:
        return "last label is numeric (an address, not a name)";
    }
    if ((int)st == VG_NAME_OUTSIDE)
        return "name is outside the zone";
    return "unknown name error";
}

static enum vg_name_status normalize(const char *in, size_t len, char out[VG_NAME_MAX + 1])
{
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0)
        return VG_NAME_EMPTY;
    if (len > VG_NAME_MAX)
        return VG_NAME_TOO_LONG;

    size_t label_start = 0;
    bool all_digits = true;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || in[i] == '.') {
            size_t llen = i - label_start;
            if (llen == 0)
                return VG_NAME_LABEL_EMPTY;
            if (llen > 63)
                return VG_NAME_LABEL_LONG;
            if (out[label_start] == '-' || out[i - 1] == '-')
                return VG_NAME_HYPHEN;
            if (i < len) {
                out[i] = '.';
                all_digits = true;
            }
            label_start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)in[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c == '_' && i == label_start)
            return VG_NAME_RESERVED;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return VG_NAME_BAD_CHAR;
        if (!(c >= '0' && c <= '9'))
            all_digits = false;
        out[i] = (char)c;
    }
    out[len] = '\0';
    if (all_digits)
        return VG_NAME_NUMERIC;
    return VG_NAME_OK;
}

enum vg_name_status vg_name_normalize(const char *in, size_t len, char out[VG_NAME_MAX + 1])
{
    enum vg_name_status st = normalize(in, len, out);
    if (st != VG_NAME_OK)
        out[0] = '\0'; /* never leave a half-written, unterminated name behind */
    return st;
}

bool vg_name_under(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);
    if (z == 0)
        return n > 0;
    return n > z + 1 && name[n - z - 1] == '.' && strcmp(name + n - z, zone) == 0;
}

bool vg_name_is_ip_literal(const char *s, size_t len)
{
    char buf[64];
    unsigned char tmp[16];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, tmp) == 1 || inet_pton(AF_INET6, buf, tmp) == 1;
}

int vg_name_qualify(const char *in, const char *zone, char out[VG_NAME_MAX + 1])
{
    size_t len = strlen(in);
    bool absolute = len > 0 && in[len - 1] == '.';
    enum vg_name_status st = vg_name_normalize(in, len, out);
    if (st != VG_NAME_OK)
        return st;
    if (vg_name_under(out, zone))
        return VG_NAME_OK;
    if (absolute || strchr(out, '.') != NULL) {
        /* "web1.vm" under "vm.test" is not a short name: it is outside */
        return VG_NAME_OUTSIDE;
    }
    char joined[VG_NAME_MAX + 2];
    int w = snprintf(joined, sizeof joined, "%s.%s", out, zone);
    if (w < 0 || (size_t)w >= sizeof joined)
        return VG_NAME_TOO_LONG;
    return vg_name_normalize(joined, (size_t)w, out);
}
