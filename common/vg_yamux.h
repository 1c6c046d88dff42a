/* vg_yamux — the yamux frame codec (hashicorp/yamux spec.md), no I/O, no allocation.
 *
 * Every frame starts with a 12-byte big-endian header:
 *
 *   version u8 (0) | type u8 | flags u16 | stream id u32 | length u32
 *
 * For Data frames `length` payload bytes follow; for WindowUpdate it is a window delta, for Ping
 * an opaque value echoed back, for GoAway an error code.  Nothing else is ever on the wire.
 *
 * vg_yamux_decode() is a pure parser over (buf, len): NEED_MORE consumes nothing, OK consumes
 * exactly the header (the payload is the caller's business), an error code says why the bytes
 * can never be a frame.  vg_yamux_check() adds the frame-level rules a session enforces on top
 * of the header syntax.  docs/protocol.md describes how vmgate uses the frames.
 */
#ifndef VG_YAMUX_H
#define VG_YAMUX_H

#include "vg_parse.h"

#include <stddef.h>
#include <stdint.h>

#define VG_YAMUX_HDR_LEN 12
#define VG_YAMUX_VERSION 0
#define VG_YAMUX_INITIAL_WINDOW (256u * 1024u) /* per stream, each direction */

enum vg_yamux_type {
    VG_YAMUX_DATA = 0,
    VG_YAMUX_WINDOW_UPDATE = 1,
    VG_YAMUX_PING = 2,
    VG_YAMUX_GO_AWAY = 3,
};

enum vg_yamux_flag {
    VG_YAMUX_SYN = 0x1,
    VG_YAMUX_ACK = 0x2,
    VG_YAMUX_FIN = 0x4,
    VG_YAMUX_RST = 0x8,
};
#define VG_YAMUX_FLAGS_ALL 0xfu

enum vg_yamux_goaway {
    VG_YAMUX_GOAWAY_NORMAL = 0,
    VG_YAMUX_GOAWAY_PROTO = 1,
    VG_YAMUX_GOAWAY_INTERNAL = 2,
};

/* vg_parse.h's convention: NEED_MORE and OK have the values of VG_P_NEED_MORE and VG_P_OK; every
 * error is negative, as VG_P_ERROR, and says which rule was broken. */
enum vg_yamux_status {
    VG_YAMUX_NEED_MORE = VG_P_NEED_MORE,
    VG_YAMUX_OK = VG_P_OK,
    VG_YAMUX_E_VERSION = -1,   /* version byte is not 0 */
    VG_YAMUX_E_TYPE = -2,      /* type is not 0..3 */
    VG_YAMUX_E_FLAGS = -3,     /* undefined flag bits, or a flag combination that means nothing */
    VG_YAMUX_E_STREAM_ID = -4, /* Data/WindowUpdate on stream 0, Ping/GoAway on a stream */
    VG_YAMUX_E_LENGTH = -5,    /* Data frame longer than the caller's limit */
};

struct vg_yamux_hdr {
    uint8_t version;
    uint8_t type;
    uint16_t flags;
    uint32_t stream_id;
    uint32_t length;
};

/* Write the header into out (exactly VG_YAMUX_HDR_LEN bytes). */
void vg_yamux_encode(uint8_t out[VG_YAMUX_HDR_LEN], uint8_t type, uint16_t flags,
                     uint32_t stream_id, uint32_t length);

/* Parse one header from buf.  OK: *out filled, *used = 12.  NEED_MORE (len < 12) and errors:
 * *used untouched, *out unspecified.  Only the version and type are checked here. */
enum vg_yamux_status vg_yamux_decode(const uint8_t *buf, size_t len, struct vg_yamux_hdr *out,
                                     size_t *used);

/* Frame-level checks of a decoded header:
 *   - flags: only SYN/ACK/FIN/RST bits; Ping carries exactly one of SYN or ACK; GoAway none;
 *     SYN and ACK together never
 *   - stream id: 0 for Ping/GoAway, non-zero for Data/WindowUpdate
 *   - Data length <= max_data (pass UINT32_MAX for no limit)
 * Returns VG_YAMUX_OK or the first rule broken. */
enum vg_yamux_status vg_yamux_check(const struct vg_yamux_hdr *h, uint32_t max_data);

/* True when stream id `id` is one the client (odd) / server (even) side opens. */
static inline int vg_yamux_id_is_client(uint32_t id)
{
    return (id & 1u) == 1u;
}

const char *vg_yamux_strerror(enum vg_yamux_status st);
/* "Data", "WindowUpdate", "Ping", "GoAway" or "?" */
const char *vg_yamux_type_name(uint8_t type);
/* "SYN|FIN" style text of flags into buf (at least 24 bytes); "-" for none. */
const char *vg_yamux_flags_format(uint16_t flags, char *buf, size_t len);

#endif
