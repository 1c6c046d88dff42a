#include "vg_yamux.h"

#include <stdio.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void vg_yamux_encode(uint8_t out[VG_YAMUX_HDR_LEN], uint8_t type, uint16_t flags,
                     uint32_t stream_id, uint32_t length)
{
    out[0] = VG_YAMUX_VERSION;
    out[1] = type;
    put16(out + 2, flags);
    put32(out + 4, stream_id);
    put32(out + 8, length);
}

enum vg_yamux_status vg_yamux_decode(const uint8_t *buf, size_t len, struct vg_yamux_hdr *out,
                                     size_t *used)
{
    /* The version and type bytes come first: reject a bad prefix as early as it is visible. */
    if (len >= 1 && buf[0] != VG_YAMUX_VERSION)
        return VG_YAMUX_E_VERSION;
    if (len >= 2 && buf[1] > VG_YAMUX_GO_AWAY)
        return VG_YAMUX_E_TYPE;
    if (len < VG_YAMUX_HDR_LEN)
        return VG_YAMUX_NEED_MORE;
    out->version = buf[0];
    out->type = buf[1];
    out->flags = get16(buf + 2);
    out->stream_id = get32(buf + 4);
    out->length = get32(buf + 8);
    *used = VG_YAMUX_HDR_LEN;
    return VG_YAMUX_OK;
}

enum vg_yamux_status vg_yamux_check(const struct vg_yamux_hdr *h, uint32_t max_data)
{
    if (h->version != VG_YAMUX_VERSION)
        return VG_YAMUX_E_VERSION;
    if (h->type > VG_YAMUX_GO_AWAY)
        return VG_YAMUX_E_TYPE;
    if (h->flags & ~VG_YAMUX_FLAGS_ALL)
        return VG_YAMUX_E_FLAGS;
    switch (h->type) {
    case VG_YAMUX_DATA:
    case VG_YAMUX_WINDOW_UPDATE:
        if (h->stream_id == 0)
            return VG_YAMUX_E_STREAM_ID;
        if ((h->flags & (VG_YAMUX_SYN | VG_YAMUX_ACK)) == (VG_YAMUX_SYN | VG_YAMUX_ACK))
            return VG_YAMUX_E_FLAGS;
        if (h->type == VG_YAMUX_DATA && h->length > max_data)
            return VG_YAMUX_E_LENGTH;
        break;
    case VG_YAMUX_PING:
        if (h->stream_id != 0)
            return VG_YAMUX_E_STREAM_ID;
        if (h->flags != VG_YAMUX_SYN && h->flags != VG_YAMUX_ACK)
            return VG_YAMUX_E_FLAGS;
        break;
    case VG_YAMUX_GO_AWAY:
        if (h->stream_id != 0)
            return VG_YAMUX_E_STREAM_ID;
        if (h->flags != 0)
            return VG_YAMUX_E_FLAGS;
        break;
    }
    return VG_YAMUX_OK;
}

const char *vg_yamux_strerror(enum vg_yamux_status st)
{
    switch (st) {
    case VG_YAMUX_OK:
        return "ok";
    case VG_YAMUX_NEED_MORE:
        return "incomplete header";
    case VG_YAMUX_E_VERSION:
        return "bad protocol version";
    case VG_YAMUX_E_TYPE:
        return "unknown frame type";
    case VG_YAMUX_E_FLAGS:
        return "bad flags";
    case VG_YAMUX_E_STREAM_ID:
        return "bad stream id for frame type";
    case VG_YAMUX_E_LENGTH:
        return "data frame too long";
    }
    return "unknown status";
}

const char *vg_yamux_type_name(uint8_t type)
{
    static const char *const names[] = {"Data", "WindowUpdate", "Ping", "GoAway"};
    return type <= VG_YAMUX_GO_AWAY ? names[type] : "?";
}

const char *vg_yamux_flags_format(uint16_t flags, char *buf, size_t len)
{
    static const char *const names[] = {"SYN", "ACK", "FIN", "RST"};
    size_t off = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (unsigned i = 0; i < 4; i++) {
        if (!(flags & (1u << i)))
            continue;
        int n = snprintf(buf + off, len - off, "%s%s", off ? "|" : "", names[i]);
        if (n < 0 || (size_t)n >= len - off) {
            buf[off] = '\0'; /* no partial names */
            return buf;
        }
        off += (size_t)n;
    }
    if (flags & ~VG_YAMUX_FLAGS_ALL) {
        int n = snprintf(buf + off, len - off, "%s0x%x", off ? "|" : "",
                         (unsigned)(flags & ~VG_YAMUX_FLAGS_ALL));
        if (n > 0 && (size_t)n < len - off)
            off += (size_t)n;
    }
    if (off == 0)
        snprintf(buf, len, "-");
    return buf;
}
