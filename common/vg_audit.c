/* vg_audit — see vg_audit.h.
 *
 * The queue is one byte ring holding whole lines back to back; head and tail are absolute byte
 * counts (position = count % cap), so head - tail is what is queued.  The loop thread copies a
 * line in at head under the mutex; the writer thread takes [tail, limit) under the mutex, writes
 * it with writev(2) without the mutex (the loop only writes outside [tail, head)), then moves
 * tail under the mutex.  A short write leaves tail inside a line; the rest follows in the next
 * call, to the same file.
 *
 * Reopen: vg_audit_reopen() records reopen_at = head; the writer writes up to reopen_at, then
 * opens the path again.  If the old file fails meanwhile, the reopen goes ahead anyway (what is
 * left of a half-written line is dropped).
 */
#include "vg_audit.h"

#include "vg_alloc.h"
#include "vg_json.h"
#include "vg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * the line format */

enum field {
    F_ID = 1u << 0,
    F_USER = 1u << 1,
    F_CLIENT = 1u << 2,
    F_VM = 1u << 3,
    F_PORT = 1u << 4,
    F_FRONT = 1u << 5,
    F_VIA = 1u << 6,
    F_RULE = 1u << 7,
    F_REASON = 1u << 8,
    F_BY = 1u << 9,
    F_BYTES = 1u << 10, /* bytes_up, bytes_down */
    F_DURATION = 1u << 11,
};

#define F_SESSION (F_ID | F_USER | F_CLIENT | F_VM | F_PORT | F_FRONT | F_VIA | F_RULE)

static const struct {
    const char *name;
    unsigned fields;
} kinds[VG_AUDIT_KIND_COUNT] = {
    [VG_AUDIT_SESSION_START] = {"session.start", F_SESSION},
    [VG_AUDIT_SESSION_REFUSED] = {"session.refused", F_SESSION | F_REASON},
    [VG_AUDIT_SESSION_END] = {"session.end", F_SESSION | F_REASON | F_BYTES | F_DURATION},
    [VG_AUDIT_SESSION_KILLED] = {"session.killed",
                                 F_SESSION | F_REASON | F_BY | F_BYTES | F_DURATION},
    [VG_AUDIT_AUTH_FAILED] = {"auth.failed", F_ID | F_USER | F_CLIENT | F_FRONT | F_VIA | F_REASON},
    [VG_AUDIT_POLICY_RELOADED] = {"policy.reloaded", F_BY | F_REASON},
};

const char *vg_audit_kind_name(enum vg_audit_kind k)
{
    return (unsigned)k < VG_AUDIT_KIND_COUNT ? kinds[k].name : NULL;
}

static void str_field(struct vg_json *j, const char *key, const char *v)
{
    vg_json_key(j, key);
    if (v)
        vg_json_strn_max(j, v, strlen(v), VG_AUDIT_FIELD_MAX);
    else
        vg_json_null(j);
}

static void uint_field(struct vg_json *j, const char *key, uint64_t v, bool known)
{
    vg_json_key(j, key);
    if (known)
        vg_json_uint(j, v);
    else
        vg_json_null(j);
}

size_t vg_audit_format(const struct vg_audit_event *ev, char *out, size_t cap)
{
    if ((unsigned)ev->kind >= VG_AUDIT_KIND_COUNT || cap < 2) {
        if (cap > 0)
            out[0] = '\0';
        return 0;
    }
    unsigned f = kinds[ev->kind].fields;
    char ts[96];
    struct tm tm;
    time_t sec = ev->ts.tv_sec;
    long ms = ev->ts.tv_nsec / 1000000;
    if (ms < 0 || ms > 999)
        ms = 0;
    if (gmtime_r(&sec, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);

    struct vg_json j;
    vg_json_init(&j, out, cap - 1); /* room for the '\n' */
    vg_json_object_begin(&j);
    vg_json_key(&j, "ts");
    vg_json_str(&j, ts);
    vg_json_key(&j, "event");
    vg_json_str(&j, kinds[ev->kind].name);
    if (f & F_ID)
        uint_field(&j, "id", ev->id, ev->id != 0);
    if (f & F_USER)
        str_field(&j, "user", ev->user);
    if (f & F_CLIENT)
        str_field(&j, "client", ev->client);
    if (f & F_VM)
        str_field(&j, "vm", ev->vm);
    if (f & F_PORT)
        uint_field(&j, "port", ev->port, ev->port != 0);
    if (f & F_FRONT)
        str_field(&j, "front", ev->front);
    if (f & F_VIA)
        str_field(&j, "via", ev->via);
    if (f & F_RULE)
        str_field(&j, "rule", ev->rule);
    if (f & F_REASON)
        str_field(&j, "reason", ev->reason);
    if (f & F_BY)
        str_field(&j, "by", ev->by);
    if (f & F_BYTES) {
        uint_field(&j, "bytes_up", ev->bytes_up, true);
        uint_field(&j, "bytes_down", ev->bytes_down, true);
    }
    if (f & F_DURATION) {
        vg_json_key(&j, "duration_s");
        if (ev->duration_s >= 0)
            vg_json_fixed(&j, ev->duration_s, 3);
        else
            vg_json_null(&j);
    }
    vg_json_object_end(&j);
    if (!vg_json_done(&j)) {
        out[0] = '\0';
        return 0;
    }
    out[j.len] = '\n';
    out[j.len + 1] = '\0';
    return j.len + 1;
}

/* ---------------------------------------------------------------------------------------------
 * the writer */

#define AUDIT_BATCH_MS 10 /* how long queued lines may wait to share a write */

struct vg_audit {
    char *path;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer waits here: bytes queued, reopen, close, retry time */

    /* guarded by mu */
    char *ring;
    size_t cap;
    uint64_t head, tail;
    unsigned nlines, max_lines;
    bool writer_waiting;
    bool batching; /* the writer waits AUDIT_BATCH_MS for more lines before it writes */
    bool closing;
    bool reopen_pending;
    uint64_t reopen_at;
    struct vg_audit_stats st; /* st.pending is nlines */

    /* the writer thread's own */
    int fd;
    bool at_line_start;   /* tail is at the start of a line */
    uint64_t retry_at_ms; /* no write / reopen before this (after a failure) */
    uint64_t reopen_not_before_ms;

    /* the loop thread's own: what was logged */
    bool drop_burst, err_burst;
    uint64_t burst_drops0, burst_errors0; /* counts when the burst began */
    uint64_t tick_drops;                  /* drops at the last tick */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

static unsigned count_lines(const struct vg_audit *a, uint64_t from, uint64_t to)
{
    unsigned n = 0;
    while (from < to) {
        size_t pos = (size_t)(from % a->cap);
        size_t len = a->cap - pos;
        if (len > to - from)
            len = (size_t)(to - from);
        for (const char *p = a->ring + pos, *e = p + len; (p = memchr(p, '\n', (size_t)(e - p)));
             p++)
            n++;
        from += len;
    }
    return n;
}

/* Position after the end of the line that `from` is in (mu held). */
static uint64_t line_end(const struct vg_audit *a, uint64_t from)
{
    while (from < a->head) {
        if (a->ring[from % a->cap] == '\n')
            return from + 1;
        from++;
    }
    return from;
}

/* Drop [tail, to) (mu held). */
static void drop_to(struct vg_audit *a, uint64_t to)
{
    unsigned n = count_lines(a, a->tail, to);
    a->tail = to;
    a->nlines -= n;
    a->st.drops += n;
    a->at_line_start = true;
}

/* Called with mu held; releases it around open(2). */
static void do_reopen(struct vg_audit *a)
{
    pthread_mutex_unlock(&a->mu);
    int fd = open_log(a->path);
    int err = errno;
    if (fd >= 0)
        close(a->fd);
    pthread_mutex_lock(&a->mu);
    if (fd >= 0) {
        a->fd = fd;
        a->reopen_pending = false;
        a->st.reopens++;
        a->st.failing = false;
    } else {
        a->st.write_errors++;
        a->st.last_errno = err;
        a->st.failing = true;
        a->reopen_at = 0; /* keep the old file; try again at the next line boundary */
        a->reopen_not_before_ms = mono_ms() + VG_AUDIT_RETRY_MS;
        if (a->closing)
            a->reopen_pending = false;
    }
}

/* Write [tail, limit) once (mu held; released around writev). */
static void write_some(struct vg_audit *a, uint64_t limit)
{
    struct iovec iov[2];
    int n = 0;
    uint64_t from = a->tail;
    while (from < limit && n < 2) {
        size_t pos = (size_t)(from % a->cap);
        size_t len = a->cap - pos;
        if (len > limit - from)
            len = (size_t)(limit - from);
        iov[n].iov_base = a->ring + pos;
        iov[n].iov_len = len;
        n++;
        from += len;
    }
    pthread_mutex_unlock(&a->mu);
    ssize_t w;
    do
        w = writev(a->fd, iov, n);
    while (w < 0 && errno == EINTR);
    int err = errno;
    pthread_mutex_lock(&a->mu);
    if (w < 0 || (w == 0 && limit > a->tail)) {
        a->st.write_errors++;
        a->st.last_errno = w < 0 ? err : EIO;
        a->st.failing = true;
        a->retry_at_ms = mono_ms() + VG_AUDIT_RETRY_MS;
        if (a->closing) {
            drop_to(a, a->head); /* one attempt at close */
        } else if (a->reopen_pending) {
            /* the old file fails: go to the new one; what is left of this line is lost */
            if (!a->at_line_start)
                drop_to(a, line_end(a, a->tail));
            a->reopen_at = 0;
        }
        return;
    }
    unsigned lines = count_lines(a, a->tail, a->tail + (uint64_t)w);
    a->tail += (uint64_t)w;
    a->nlines -= lines;
    a->st.written += lines;
    a->at_line_start = a->ring[(a->tail - 1) % a->cap] == '\n';
    if (!a->reopen_pending || a->reopen_at != 0)
        a->st.failing = false;
}

static void wait_until_ms(struct vg_audit *a, uint64_t when_ms)
{
    a->writer_waiting = true;
    if (when_ms == 0) {
        pthread_cond_wait(&a->wake, &a->mu);
    } else {
        struct timespec ts = {(time_t)(when_ms / 1000u), (long)(when_ms % 1000u) * 1000000L};
        pthread_cond_timedwait(&a->wake, &a->mu, &ts);
    }
    a->writer_waiting = false;
}

static void *writer_main(void *arg)
{
    struct vg_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        uint64_t now = mono_ms();
        bool backoff = !a->closing && now < a->retry_at_ms;
        if (a->reopen_pending && a->tail >= a->reopen_at && a->at_line_start &&
            (a->closing || now >= a->reopen_not_before_ms)) {
            do_reopen(a);
            continue;
        }
        uint64_t limit = a->head;
        if (a->reopen_pending && a->reopen_at > a->tail)
            limit = a->reopen_at;
        if (a->tail < limit && !backoff) {
            /* a moment for more lines, so that one write(2) and one wake-up carry many of
             * them (two per session otherwise); not when the queue fills or at close */
            if (!a->batching && !a->closing && a->head - a->tail < a->cap / 4 &&
                a->nlines < a->max_lines / 4) {
                a->batching = true;
                wait_until_ms(a, now + AUDIT_BATCH_MS);
                continue;
            }
            a->batching = false;
            write_some(a, limit);
            continue;
        }
        if (a->closing && a->tail == a->head)
            break;
        uint64_t when = 0;
        if (backoff)
            when = a->retry_at_ms;
        if (a->reopen_pending && a->reopen_at <= a->tail &&
            (when == 0 || a->reopen_not_before_ms < when))
            when = a->reopen_not_before_ms > now ? a->reopen_not_before_ms : now + 1;
        wait_until_ms(a, when);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

struct vg_audit *vg_audit_open(const char *path, unsigned queue_max, char *err, size_t errlen)
{
    struct vg_audit *a = vg_calloc(1, sizeof *a);
    pthread_condattr_t ca;
    bool mu_ok = false, cond_ok = false;
    if (a == NULL || queue_max == 0) {
        snprintf(err, errlen, "%s", a ? "audit-queue must be at least 1" : "out of memory");
        goto fail;
    }
    a->fd = -1;
    a->max_lines = queue_max;
    a->cap = (size_t)queue_max * VG_AUDIT_AVG_LINE;
    if (a->cap < 4 * VG_AUDIT_LINE_MAX)
        a->cap = 4 * VG_AUDIT_LINE_MAX;
    a->at_line_start = true;
    if ((a->path = vg_strdup(path)) == NULL || (a->ring = vg_malloc(a->cap)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((a->fd = open_log(path)) < 0) {
        snprintf(err, errlen, "audit-log %s: %s", path, strerror(errno));
        goto fail;
    }
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    mu_ok = true;
    if (pthread_condattr_init(&ca) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cond_ok = pthread_cond_init(&a->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cond_ok) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* signals stay with the loop thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&a->thread, NULL, writer_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "audit-log: cannot start the writer thread: %s", strerror(rc));
        goto fail;
    }
    return a;
fail:
    if (a) {
        if (cond_ok)
            pthread_cond_destroy(&a->wake);
        if (mu_ok)
            pthread_mutex_destroy(&a->mu);
        if (a->fd >= 0)
            close(a->fd);
        vg_free(a->ring);
        vg_free(a->path);
        vg_free(a);
    }
    return NULL;
}

/* Logging, from the loop thread only (the writer thread never logs): once when a burst of drops
 * or of write errors starts, once when it ends. */
static void drop_burst_start(struct vg_audit *a, uint64_t before)
{
    if (a->drop_burst)
        return;
    vg_warn("audit-log %s: queue full (%u lines) or file failing: dropping events", a->path,
            a->max_lines);
    a->drop_burst = true;
    a->burst_drops0 = before;
}

static void drop_burst_end(struct vg_audit *a, uint64_t drops)
{
    if (!a->drop_burst)
        return;
    vg_warn("audit-log %s: %llu events dropped (%llu in total)", a->path,
            (unsigned long long)(drops - a->burst_drops0), (unsigned long long)drops);
    a->drop_burst = false;
}

static void report_errors(struct vg_audit *a, const struct vg_audit_stats *st)
{
    if (st->failing && !a->err_burst) {
        vg_err("audit-log %s: %s; retrying, events queue up (dropped once the queue is full)",
               a->path, strerror(st->last_errno));
        a->err_burst = true;
        a->burst_errors0 = st->write_errors;
    } else if (!st->failing && a->err_burst) {
        vg_notice("audit-log %s: writing again after %llu failed attempts", a->path,
                  (unsigned long long)(st->write_errors - a->burst_errors0 + 1));
        a->err_burst = false;
    }
}

bool vg_audit_emit(struct vg_audit *a, const struct vg_audit_event *ev)
{
    char line[VG_AUDIT_LINE_MAX];
    struct vg_audit_event stamped;
    if (ev->ts.tv_sec == 0 && ev->ts.tv_nsec == 0) {
        stamped = *ev;
        clock_gettime(CLOCK_REALTIME, &stamped.ts);
        ev = &stamped;
    }
    size_t len = vg_audit_format(ev, line, sizeof line);
    bool ok = false;
    struct vg_audit_stats st;
    pthread_mutex_lock(&a->mu);
    if (len > 0 && !a->closing && a->nlines < a->max_lines && a->cap - (a->head - a->tail) >= len) {
        size_t pos = (size_t)(a->head % a->cap), first = a->cap - pos;
        if (first > len)
            first = len;
        memcpy(a->ring + pos, line, first);
        memcpy(a->ring, line + first, len - first);
        a->head += len;
        a->nlines++;
        a->st.queued++;
        if (a->writer_waiting &&
            (!a->batching || a->head - a->tail >= a->cap / 4 || a->nlines >= a->max_lines / 4))
            pthread_cond_signal(&a->wake);
        ok = true;
    } else {
        a->st.drops++;
    }
    st = a->st;
    pthread_mutex_unlock(&a->mu);
    if (!ok)
        drop_burst_start(a, st.drops - 1); /* ended by a tick without drops (or by close) */
    report_errors(a, &st);
    return ok;
}

void vg_audit_reopen(struct vg_audit *a)
{
    pthread_mutex_lock(&a->mu);
    if (!a->reopen_pending) {
        a->reopen_pending = true;
        a->reopen_at = a->head;
        a->reopen_not_before_ms = 0;
    }
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
}

void vg_audit_get_stats(const struct vg_audit *ca, struct vg_audit_stats *out)
{
    struct vg_audit *a = (struct vg_audit *)ca; /* the mutex is not part of the value */
    pthread_mutex_lock(&a->mu);
    *out = a->st;
    out->pending = a->nlines;
    pthread_mutex_unlock(&a->mu);
}

uint64_t vg_audit_drops(const struct vg_audit *a)
{
    struct vg_audit_stats st;
    vg_audit_get_stats(a, &st);
    return st.drops;
}

void vg_audit_tick(struct vg_audit *a)
{
    struct vg_audit_stats st;
    vg_audit_get_stats(a, &st);
    if (st.drops > a->tick_drops)
        drop_burst_start(a, a->tick_drops); /* (a no-op when emit began it) */
    else
        drop_burst_end(a, st.drops); /* nothing dropped since the last tick */
    a->tick_drops = st.drops;
    report_errors(a, &st);
}

void vg_audit_close(struct vg_audit *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->closing = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    struct vg_audit_stats st = a->st;
    drop_burst_end(a, st.drops);
    if (st.drops > 0)
        vg_warn("audit-log %s: closed; %llu events lost in total", a->path,
                (unsigned long long)st.drops);
    close(a->fd);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->mu);
    vg_free(a->ring);
    vg_free(a->path);
    vg_free(a);
}
