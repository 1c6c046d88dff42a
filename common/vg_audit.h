/* vg_audit — the gateway's audit log: one JSON object per line (docs/operations.md, "Audit log").
 *
 * Two halves:
 *   - vg_audit_format(): the one owner of the line format.  Pure: no clock, no I/O, no state.
 *   - struct vg_audit: the writer.  vg_audit_emit() formats the event and copies the line into a
 *     bounded queue under a mutex the writer thread holds only to take or give back bytes, never
 *     across a system call: emit never blocks on the file.  A writer thread appends queued
 *     lines with write(2) to a file opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0640.
 *
 * Line format: {"ts":…,"event":…, then the fields of that event in the fixed order
 *   id, user, client, vm, port, front, via, rule, reason, by, bytes_up, bytes_down, duration_s
 * Each event has a fixed set of fields (table in vg_audit.c and docs/operations.md); a field of
 * the event whose value is unknown (NULL string, id 0, port 0, negative duration) is written as
 * null, so every line of an event has the same keys.  Fields that do not belong to the event are
 * left out.  ts is the wall-clock time, RFC 3339 UTC with milliseconds
 * ("2024-05-01T12:00:00.123Z").  duration_s has three decimals.  Each string value is cut to at
 * most VG_AUDIT_FIELD_MAX bytes after escaping (vg_json), so a line never exceeds
 * VG_AUDIT_LINE_MAX bytes and a hostile name cannot push an event out of the log.
 *
 * Queue bounds: at most queue_max lines and queue_max × VG_AUDIT_AVG_LINE bytes (but at least
 * 4 × VG_AUDIT_LINE_MAX bytes).  An event that does not fit is dropped and counted (drops).
 *
 * Errors: a failed write(2) (disk full, EIO) is counted, the bytes stay queued and the writer
 * retries after VG_AUDIT_RETRY_MS; new events are dropped once the queue is full.  The writer
 * thread never logs (vg_log_max is written by the loop on reload): the loop thread reports once
 * when drops or write errors start (from vg_audit_emit or vg_audit_tick) and once when they
 * stop, with counts (drops: at the first vg_audit_tick that saw no new drop, or at close).
 *
 * Threads: every function is called from one thread (the gateway's loop), except
 * vg_audit_drops() and vg_audit_get_stats(), which any thread may call.
 */
#ifndef VG_AUDIT_H
#define VG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define VG_AUDIT_FIELD_MAX 512 /* bytes of an escaped string value, quotes excluded */
#define VG_AUDIT_LINE_MAX 8192 /* bytes of a line, '\n' included */
#define VG_AUDIT_AVG_LINE 512  /* queue byte budget per line of audit-queue */
#define VG_AUDIT_RETRY_MS 1000 /* pause after a failed write or reopen */
#define VG_AUDIT_QUEUE_DEFAULT 65536

enum vg_audit_kind {
    VG_AUDIT_SESSION_START,   /* "session.start": a request was allowed, relaying begins */
    VG_AUDIT_SESSION_REFUSED, /* "session.refused": a request was refused (reason, rule) */
    VG_AUDIT_SESSION_END,     /* "session.end": a relay ended (bytes, duration, reason) */
    VG_AUDIT_SESSION_KILLED,  /* "session.killed": ended by an operator or policy (by) */
    VG_AUDIT_AUTH_FAILED,     /* "auth.failed": RFC 1929 / hop credentials refused */
    VG_AUDIT_POLICY_RELOADED, /* "policy.reloaded": configuration and users reloaded (by) */
    VG_AUDIT_KIND_COUNT
};

/* The event name ("session.start"); NULL outside the enum. */
const char *vg_audit_kind_name(enum vg_audit_kind k);

/* One event.  Strings are borrowed for the call only; NULL = unknown (null in the line). */
struct vg_audit_event {
    enum vg_audit_kind kind;
    struct timespec ts; /* CLOCK_REALTIME; {0, 0}: vg_audit_emit stamps the current time */
    uint64_t id;        /* the gateway's connection id; 0 = unknown */
    const char *user;   /* authenticated (or, for auth.failed, claimed) user */
    const char *client; /* client address "ADDR:PORT" ("[V6]:PORT"), or the guest VM's name */
    const char *vm;     /* requested VM name */
    unsigned port;      /* requested port; 0 = unknown */
    const char *front;  /* "socks5", "http", "https", "guest", "hop" */
    const char *via;    /* the host of a hop: the fleet host the request came through / went to */
    const char *rule;   /* the policy rule that decided (allow / refuse) */
    const char *reason; /* why refused / ended / failed (vg_outcome_str …); reload details */
    const char *by;     /* who: killed by (operator, "drain", "idle-timeout"), reloaded by */
    uint64_t bytes_up, bytes_down; /* client → VM, VM → client */
    double duration_s;             /* < 0 = unknown */
};

/* Encode one line, '\n'-terminated, into out (NUL-terminated when cap > 0).  Returns its length
 * without the NUL, or 0 when cap is too small (cap >= VG_AUDIT_LINE_MAX always suffices) or the
 * kind is outside the enum. */
size_t vg_audit_format(const struct vg_audit_event *ev, char *out, size_t cap);

struct vg_audit;

/* Open (create) `path` for appending and start the writer thread.  queue_max >= 1 lines.
 * NULL + message in err when the file cannot be opened or memory or a thread is missing. */
struct vg_audit *vg_audit_open(const char *path, unsigned queue_max, char *err, size_t errlen);
/* Queue one event.  Never blocks on the file: false when it was dropped (queue full, or
 * the audit log is closing), and the drop is counted. */
bool vg_audit_emit(struct vg_audit *a, const struct vg_audit_event *ev);
/* SIGHUP / logrotate: lines queued before this call go to the file open now, the later ones to
 * the file that `path` names when the writer gets to them (reopened O_APPEND|O_CREAT, 0640).
 * If that open fails the writer keeps the old file and retries every VG_AUDIT_RETRY_MS. */
void vg_audit_reopen(struct vg_audit *a);
/* Lines lost: dropped by emit, or left unwritten at close. */
uint64_t vg_audit_drops(const struct vg_audit *a);

struct vg_audit_stats {
    uint64_t queued;       /* lines accepted by emit */
    uint64_t written;      /* lines written completely */
    uint64_t drops;        /* lines lost (vg_audit_drops) */
    uint64_t write_errors; /* failed write(2) and open(2) calls */
    uint64_t reopens;      /* files opened by vg_audit_reopen */
    unsigned pending;      /* lines in the queue now */
    int last_errno;        /* of the last failed call, 0 = none yet */
    bool failing;          /* the last write or reopen failed and has not succeeded since */
};
void vg_audit_get_stats(const struct vg_audit *a, struct vg_audit_stats *out);
/* From a loop timer (the gateway: every second): log the start and the end of a burst of drops
 * or write errors, once each. */
void vg_audit_tick(struct vg_audit *a);
/* Write what is queued (one attempt per chunk on a failing file: the rest counts as drops),
 * stop the thread, close the file, free.  NULL is fine. */
void vg_audit_close(struct vg_audit *a);

#endif
