/* vg_admin — the gateway's admin protocol (docs/operations.md, "Admin protocol"): the one owner
 * of its request line and of its JSON replies, for the gateway (socks-gw/admin.c) and for
 * vmgatectl alike.  No sockets here.
 *
 * A connection to the admin socket carries one request line and gets one reply, then closes:
 *
 *   request = command *(SP word) [CR] LF      at most VG_ADMIN_LINE_MAX octets, LF included;
 *                                             words are printable ASCII (0x21..0x7e), separated
 *                                             by one or more spaces
 *   command = "sessions" ["--user" U] ["--vm" NAME]
 *           / "kill" 1*ID / "kill" "--user" U / "kill" "--vm" NAME
 *           / "vms" / "stats" / "reload" ["--enforce"]
 *           / "policy" "test" USER VM PORT ["--from" ADDR]
 *   reply   = one JSON object, one line: {"ok":true,...} or {"ok":false,"error":"TEXT"}
 *
 * VM names are normalized (vg_name) by the parser; IDs are decimal session ids (1..2^64-1).
 *
 * The reply side has two halves: a bounded output buffer with the JSON writers the gateway
 * builds replies with (vg_admin_out_*, vg_admin_reply_*), and a small JSON reader (vg_jnode)
 * with which vmgatectl turns a reply into a table.
 */
#ifndef VG_ADMIN_H
#define VG_ADMIN_H

#include "vg_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_ADMIN_SOCKET_DEFAULT "/run/vmgate/admin.sock"
#define VG_ADMIN_LINE_MAX 4096 /* one request line, LF included */
#define VG_ADMIN_WORD_MAX 255  /* a user name, a VM name, an address */
#define VG_ADMIN_IDS_MAX 256   /* ids in one "kill" */

enum vg_admin_cmd {
    VG_ADM_SESSIONS,
    VG_ADM_KILL,
    VG_ADM_VMS,
    VG_ADM_STATS,
    VG_ADM_RELOAD,
    VG_ADM_POLICY_TEST,
};

struct vg_admin_req {
    enum vg_admin_cmd cmd;
    char user[VG_ADMIN_WORD_MAX + 1]; /* --user U, policy test USER; "" = not given */
    char vm[VG_ADMIN_WORD_MAX + 1];   /* --vm NAME, policy test VM (normalized); "" = not given */
    char from[VG_ADMIN_WORD_MAX + 1]; /* policy test --from ADDR; "" = not given */
    uint16_t port;                    /* policy test PORT (1..65535) */
    bool enforce;                     /* reload --enforce */
    unsigned nids;                    /* kill ID...: the ids; 0 with user or vm set */
    uint64_t ids[VG_ADMIN_IDS_MAX];
};

/* Parse one request line from buf[0..len) (vg_parse.h convention): NEED_MORE while no LF has
 * come and nothing wrong was seen; OK with *rq and *used (the line, LF included); ERROR with a
 * message in err (a line longer than VG_ADMIN_LINE_MAX, a control or non-ASCII byte, an unknown
 * command, a bad argument). */
enum vg_parse vg_admin_parse_request(const uint8_t *buf, size_t len, struct vg_admin_req *rq,
                                     size_t *used, char *err, size_t errlen);

/* The request line for rq (LF included, NUL-terminated) into out; its length, or 0 when rq is
 * not valid or the line does not fit.  Parsing the result gives rq back. */
size_t vg_admin_format_request(const struct vg_admin_req *rq, char *out, size_t cap);

/* The command name ("sessions", "kill", "policy test", ...). */
const char *vg_admin_cmd_name(enum vg_admin_cmd c);

/* ---- replies: writing ------------------------------------------------------------------ */

/* A growing output buffer that stops at `max` bytes: once over, every write is dropped and
 * `over` is set (the caller then replies with an error instead). */
struct vg_admin_out {
    char *p;
    size_t len, cap, max;
    bool over; /* out of memory or above max */
};

void vg_admin_out_init(struct vg_admin_out *o, size_t max);
void vg_admin_out_free(struct vg_admin_out *o);
void vg_admin_out_reset(struct vg_admin_out *o); /* empty again (keeps the memory) */
void vg_admin_out_raw(struct vg_admin_out *o, const char *s, size_t n);
void vg_admin_out_printf(struct vg_admin_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string (quotes included); NULL writes null. */
void vg_admin_out_str(struct vg_admin_out *o, const char *s);

/* One session, as the reply carries it (strings may be NULL: null, e.g. user of an anonymous
 * client, agent_session of a non-serial channel). */
struct vg_admin_session {
    uint64_t id;
    const char *user, *groups, *client, *vm, *channel, *front, *state, *agent_session;
    uint16_t port;
    int64_t started; /* Unix time, seconds */
    uint64_t bytes_up, bytes_down, idle_s;
};

/* One VM of the table as the gateway sees it.  agent/agent_version/agent_session NULL and
 * streams 0 for channels other than serial:. */
struct vg_admin_vm {
    const char *name, *channel, *status, *error; /* status "ok" | "broken"; error or NULL */
    unsigned sessions;                           /* live connections to it */
    const char *agent;                           /* serial: "up" | "down" */
    const char *agent_version, *agent_session;
    unsigned streams; /* serial: open streams of its session */
};

struct vg_admin_stats {
    const char *version;
    uint64_t uptime_s;
    unsigned connections, max_connections, guest_streams, serial_sessions;
    unsigned nstates;
    const char *state_names[8];
    unsigned state_counts[8];
};

/* {"ok":false,"error":TEXT}\n */
void vg_admin_reply_error(struct vg_admin_out *o, const char *text);
/* {"ok":true}\n, and {"ok":true,"KEY":N}\n (kill: "killed") */
void vg_admin_reply_ok(struct vg_admin_out *o);
void vg_admin_reply_count(struct vg_admin_out *o, const char *key, uint64_t n);
/* policy test: {"ok":true,"verdict":"allow"|"deny","line":N,"rule":TEXT}\n (line 0: no rule
 * matched, the default deny) */
void vg_admin_reply_verdict(struct vg_admin_out *o, bool allow, unsigned line, const char *rule);
/* {"ok":true,"KEY":[ ... ]}\n : begin, one item per call (first: no comma), end */
void vg_admin_reply_list_begin(struct vg_admin_out *o, const char *key);
void vg_admin_reply_session(struct vg_admin_out *o, const struct vg_admin_session *s, bool first);
void vg_admin_reply_vm(struct vg_admin_out *o, const struct vg_admin_vm *v, bool first);
void vg_admin_reply_list_end(struct vg_admin_out *o);
void vg_admin_reply_stats(struct vg_admin_out *o, const struct vg_admin_stats *s);

/* RFC 3339 UTC ("2024-05-01T12:34:56Z") of Unix time t into out[21]. */
char *vg_admin_rfc3339(int64_t t, char out[21]);

/* ---- replies: reading (vmgatectl) ------------------------------------------------------ */

enum vg_jtype { VG_J_NULL, VG_J_BOOL, VG_J_NUM, VG_J_STR, VG_J_ARR, VG_J_OBJ };

/* A parsed JSON value: text holds a string's decoded bytes or a number's text (NUL-terminated);
 * arrays and objects list their members through child/next; members of an object have key. */
struct vg_jnode {
    enum vg_jtype type;
    bool b;
    char *key, *text;
    struct vg_jnode *child, *next;
};

/* Parse one JSON value (nesting at most 16 deep, trailing blanks allowed).  NULL + err when it
 * is not JSON or memory runs out.  Free with vg_jnode_free. */
struct vg_jnode *vg_jnode_parse(const char *s, size_t len, char *err, size_t errlen);
void vg_jnode_free(struct vg_jnode *n);
/* The member `key` of an object, or NULL. */
const struct vg_jnode *vg_jnode_get(const struct vg_jnode *obj, const char *key);

#endif
