/* Fuzz target: the yamux frame codec (common/vg_yamux.[ch]).
 *
 * The input is read the way a session reads its byte stream: a header, then (Data) the payload
 * it announces, then the next header.  A header the decoder refuses is skipped by one byte so the
 * rest of the input is still decoded (a session would end there).  For every header:
 *   - every strict prefix (exactly-sized heap copies) is NEED_MORE with *used untouched, unless
 *     the version byte or the type byte already shows an error — then that error, and the same
 *     error for every longer prefix;
 *   - OK consumes exactly 12 octets, the fields are the big-endian values, and re-encoding gives
 *     the same 12 octets;
 *   - vg_yamux_check agrees with the rules of docs/protocol.md §1, written out again here
 *     independently: OK exactly when no rule is broken, otherwise an error naming a broken rule;
 *     and for several limits (0, the window, the length itself, UINT32_MAX);
 *   - vg_yamux_flags_format never writes past the buffer it is given and, given room, spells
 *     every flag (every buffer size for the first headers); the text helpers never return NULL.
 */
#include "fuzz.h"
#include "vg_yamux.h"

#include <stdbool.h>
#include <string.h>

#define UNTOUCHED ((size_t)-7)

static enum vg_yamux_status decode(const uint8_t *data, size_t len, struct vg_yamux_hdr *h,
                                   size_t *used)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, data, len);
    *used = UNTOUCHED;
    enum vg_yamux_status st = vg_yamux_decode(copy, len, h, used);
    free(copy);
    FUZZ_CHECK(st == VG_YAMUX_OK || st == VG_YAMUX_NEED_MORE || st == VG_YAMUX_E_VERSION ||
               st == VG_YAMUX_E_TYPE);
    if (st == VG_YAMUX_OK)
        FUZZ_CHECK(*used == VG_YAMUX_HDR_LEN && len >= VG_YAMUX_HDR_LEN);
    else
        FUZZ_CHECK(*used == UNTOUCHED);
    return st;
}

/* What vg_yamux_decode must say about the first len octets of data. */
static enum vg_yamux_status expected_decode(const uint8_t *data, size_t len)
{
    if (len >= 1 && data[0] != 0)
        return VG_YAMUX_E_VERSION;
    if (len >= 2 && data[1] > 3)
        return VG_YAMUX_E_TYPE;
    return len < VG_YAMUX_HDR_LEN ? VG_YAMUX_NEED_MORE : VG_YAMUX_OK;
}

/* The rules of docs/protocol.md §1, each on its own. */
struct broken {
    bool version, type, flag_bits, syn_ack, ping_flags, goaway_flags, id, length;
};

static struct broken rules(const struct vg_yamux_hdr *h, uint32_t max_data)
{
    struct broken b = {0};
    bool stream_type = h->type == VG_YAMUX_DATA || h->type == VG_YAMUX_WINDOW_UPDATE;
    b.version = h->version != 0;
    b.type = h->type > 3;
    b.flag_bits = (h->flags & ~0xfu) != 0;
    b.syn_ack = (h->flags & 0x3u) == 0x3u;
    b.ping_flags = h->type == VG_YAMUX_PING && h->flags != 0x1 && h->flags != 0x2;
    b.goaway_flags = h->type == VG_YAMUX_GO_AWAY && h->flags != 0;
    b.id = h->type <= 3 && (stream_type ? h->stream_id == 0 : h->stream_id != 0);
    b.length = h->type == VG_YAMUX_DATA && h->length > max_data;
    return b;
}

static void check_rules(const struct vg_yamux_hdr *h, uint32_t max_data)
{
    struct broken b = rules(h, max_data);
    enum vg_yamux_status st = vg_yamux_check(h, max_data);
    bool any = b.version || b.type || b.flag_bits || b.syn_ack || b.ping_flags || b.goaway_flags ||
               b.id || b.length;
    switch (st) {
    case VG_YAMUX_OK:
        FUZZ_CHECK(!any);
        break;
    case VG_YAMUX_E_VERSION:
        FUZZ_CHECK(b.version);
        break;
    case VG_YAMUX_E_TYPE:
        FUZZ_CHECK(b.type && !b.version);
        break;
    case VG_YAMUX_E_FLAGS:
        FUZZ_CHECK(b.flag_bits || b.syn_ack || b.ping_flags || b.goaway_flags);
        break;
    case VG_YAMUX_E_STREAM_ID:
        FUZZ_CHECK(b.id);
        break;
    case VG_YAMUX_E_LENGTH:
        FUZZ_CHECK(b.length);
        break;
    default:
        FUZZ_CHECK(!"unexpected status from vg_yamux_check");
    }
    /* a header that passes passes with any larger limit too; one refused for its length alone
     * passes without limit */
    if (st == VG_YAMUX_OK)
        FUZZ_CHECK(vg_yamux_check(h, UINT32_MAX) == VG_YAMUX_OK);
    if (st == VG_YAMUX_E_LENGTH)
        FUZZ_CHECK(vg_yamux_check(h, h->length) == VG_YAMUX_OK);
    FUZZ_CHECK(vg_yamux_strerror(st) != NULL);
}

static void check_flags_text(uint16_t flags, bool every_size)
{
    static const char *const names[] = {"SYN", "ACK", "FIN", "RST"};
    char full[64];
    vg_yamux_flags_format(flags, full, sizeof full);
    size_t flen = strlen(full);
    FUZZ_CHECK(flen > 0 && flen < 24); /* the header promises 24 bytes are enough */
    if ((flags & 0xfu) == 0 && (flags & ~0xfu) == 0)
        FUZZ_CHECK(strcmp(full, "-") == 0);
    for (unsigned i = 0; i < 4; i++)
        FUZZ_CHECK((strstr(full, names[i]) != NULL) == ((flags >> i) & 1u));
    /* every shorter buffer: NUL-terminated inside it, a prefix of the full text */
    for (size_t len = 0; every_size && len <= flen + 1; len++) {
        char *buf = malloc(len ? len : 1);
        if (buf == NULL)
            abort();
        const char *r = vg_yamux_flags_format(flags, buf, len);
        FUZZ_CHECK(r == buf);
        if (len > 0) {
            size_t n = strnlen(buf, len);
            FUZZ_CHECK(n < len);
            FUZZ_CHECK(strncmp(buf, full, n) == 0 || strcmp(buf, "-") == 0);
        }
        free(buf);
    }
}

static void check_header(const uint8_t *data, size_t len, bool every_size)
{
    if (len > VG_YAMUX_HDR_LEN + 1)
        len = VG_YAMUX_HDR_LEN + 1; /* a header and one octet more: the decoder looks at 12 */
    struct vg_yamux_hdr h, tmp;
    size_t used, pused;
    enum vg_yamux_status st = decode(data, len, &h, &used);
    FUZZ_CHECK(st == expected_decode(data, len));

    /* prefixes: NEED_MORE, or the error that the visible bytes already show */
    size_t upto = len < VG_YAMUX_HDR_LEN ? len : VG_YAMUX_HDR_LEN;
    for (size_t k = 0; k < upto; k++) {
        enum vg_yamux_status pst = decode(data, k, &tmp, &pused);
        FUZZ_CHECK(pst == expected_decode(data, k));
        if (pst != VG_YAMUX_NEED_MORE)
            FUZZ_CHECK(pst == st); /* an error stays the same error */
    }
    if (st != VG_YAMUX_OK)
        return;

    FUZZ_CHECK(h.version == data[0] && h.type == data[1]);
    FUZZ_CHECK(h.flags == ((unsigned)data[2] << 8 | data[3]));
    FUZZ_CHECK(h.stream_id == ((uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 |
                               (uint32_t)data[6] << 8 | data[7]));
    FUZZ_CHECK(h.length == ((uint32_t)data[8] << 24 | (uint32_t)data[9] << 16 |
                            (uint32_t)data[10] << 8 | data[11]));
    uint8_t again[VG_YAMUX_HDR_LEN];
    vg_yamux_encode(again, h.type, h.flags, h.stream_id, h.length);
    FUZZ_CHECK(memcmp(again, data, VG_YAMUX_HDR_LEN) == 0);

    check_rules(&h, 0);
    check_rules(&h, VG_YAMUX_INITIAL_WINDOW);
    check_rules(&h, h.length);
    check_rules(&h, h.length ? h.length - 1 : 0);
    check_rules(&h, UINT32_MAX);
    FUZZ_CHECK(vg_yamux_type_name(h.type) != NULL);
    FUZZ_CHECK(vg_yamux_id_is_client(h.stream_id) == (int)(h.stream_id & 1u));
    check_flags_text(h.flags, every_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    unsigned frames = 0;
    while (off < size && frames < 512) {
        struct vg_yamux_hdr h;
        size_t used;
        check_header(data + off, size - off, frames < 4); /* the costly part for the first few */
        frames++;
        size_t avail = size - off < VG_YAMUX_HDR_LEN + 1 ? size - off : VG_YAMUX_HDR_LEN + 1;
        if (decode(data + off, avail, &h, &used) != VG_YAMUX_OK) {
            if (size - off < VG_YAMUX_HDR_LEN &&
                expected_decode(data + off, size - off) == VG_YAMUX_NEED_MORE)
                break; /* a partial header at the end */
            off++;     /* a session would end here: resynchronise to decode the rest */
            continue;
        }
        off += used;
        if (h.type == VG_YAMUX_DATA)
            off += h.length < size - off ? h.length : size - off;
    }
    /* the type names of every type byte, a few flag words that no header above had */
    for (unsigned t = 0; t < 256; t += 51)
        FUZZ_CHECK(vg_yamux_type_name((uint8_t)t) != NULL);
    if (size >= 2)
        check_flags_text((uint16_t)(data[size - 2] << 8 | data[size - 1]), true);
    return 0;
}
