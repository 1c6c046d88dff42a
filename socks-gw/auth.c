/* auth — the worker pool and the job life cycle (auth.h).
 *
 * A job is in one of these states; `a->mu` guards the state and the lists of the first three:
 *   J_QUEUED   on a->queue, waiting for a worker            (cancel: unlinked and freed)
 *   J_RUNNING  a worker hashes it                           (cancel: marked, freed when drained)
 *   J_DONE     on a->done, the eventfd written              (cancel: marked, freed when drained)
 *   J_TIMER    in the loop only: its answer is held back    (cancel: timer and job freed)
 * Draining a->done (loop) accounts every result in the limiter, cancelled or not, then either
 * answers at once or holds the answer (J_TIMER).
 */
#include "auth.h"

#include "authlimit.h"
#include "users.h"

#include "vg_alloc.h"
#include "vg_log.h"
#include "vg_time.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_THREADS 16
#define WORKER_NICE 10 /* the workers' nice value above the loop's */

enum jstate { J_QUEUED, J_RUNNING, J_DONE, J_TIMER };

struct gw_auth_job {
    struct gw_auth_job *next, *prev; /* on a->queue or a->done */
    struct gw_auth *a;
    enum jstate st;
    bool cancelled;
    bool ok;           /* the worker's answer */
    uint64_t t_start;  /* ns: queued */
    uint64_t t_hashed; /* ns: hashing took */
    enum gw_auth_verdict verdict;
    struct event *timer;
    gw_auth_done_cb done;
    void *arg;
    struct sockaddr_storage peer;
    char user[256];
    char pass[256];
    char ident[80];
    struct vg_users_target target;
};

struct list {
    struct gw_auth_job *head, *tail;
    unsigned n;
};

struct gw_auth {
    struct event_base *base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct list queue, done;
    unsigned queue_max;
    bool stop;
    pthread_t threads[MAX_THREADS];
    struct crypt_data *cd[MAX_THREADS];
    unsigned nthreads;
    int efd;
    struct event *eev;
    struct gw_limit *limit;
    struct gw_auth_stats stats;
};

struct worker_arg {
    struct gw_auth *a;
    struct crypt_data *cd;
};

static void list_push(struct list *l, struct gw_auth_job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static void list_unlink(struct list *l, struct gw_auth_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->next = j->prev = NULL;
    l->n--;
}

static void job_free(struct gw_auth_job *j)
{
    if (j->timer)
        event_free(j->timer);
    explicit_bzero(j, sizeof *j);
    vg_free(j);
}

static void *worker(void *arg)
{
    struct gw_auth *a = ((struct worker_arg *)arg)->a;
    struct crypt_data *cd = ((struct worker_arg *)arg)->cd;
    vg_free(arg);
    /* below the loop's priority: when the CPUs are short, relays go first, hashing waits */
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0); /* Linux: this thread */
    if (errno == 0)
        (void)!setpriority(PRIO_PROCESS, 0, prio + WORKER_NICE > 19 ? 19 : prio + WORKER_NICE);
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->queue.head == NULL && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        struct gw_auth_job *j = a->queue.head;
        list_unlink(&a->queue, j);
        j->st = J_RUNNING;
        pthread_mutex_unlock(&a->mu);

        uint64_t t0 = vg_now_ns();
        bool ok = vg_users_verify(&j->target, j->pass, cd);
        explicit_bzero(j->pass, sizeof j->pass);

        pthread_mutex_lock(&a->mu);
        j->ok = ok;
        j->t_hashed = vg_now_ns() - t0;
        j->st = J_DONE;
        list_push(&a->done, j);
        uint64_t one = 1;
        (void)!write(a->efd, &one, sizeof one);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void answer(struct gw_auth_job *j)
{
    j->done(j->arg, j->verdict);
    job_free(j);
}

static void on_held(evutil_socket_t fd, short what, void *arg)
{
    answer(arg);
}

/* Answer now, or after delay_ns (capped). */
static void answer_after(struct gw_auth_job *j, uint64_t delay_ns)
{
    uint64_t max = (uint64_t)GW_AUTH_DELAY_MAX_MS * 1000000ull;
    if (delay_ns > max)
        delay_ns = max;
    if (delay_ns == 0 || (j->timer = evtimer_new(j->a->base, on_held, j)) == NULL) {
        answer(j);
        return;
    }
    j->st = J_TIMER;
    struct timeval tv = {(time_t)(delay_ns / 1000000000ull),
                         (suseconds_t)(delay_ns % 1000000000ull / 1000)};
    evtimer_add(j->timer, &tv);
}

/* A hashed result, in the loop. */
static void finish(struct gw_auth *a, struct gw_auth_job *j)
{
    uint64_t now = vg_now_ns(), delay = 0;
    struct sockaddr *peer = (struct sockaddr *)&j->peer;
    a->stats.checked++;
    VG_CLOG(VG_LOG_DEBUG, j->ident,
            "password checked for %s user '%.64s' with %s in %.1f ms (%.1f ms queued)",
            j->target.known ? "known" : "unknown", j->user, j->target.method,
            (double)j->t_hashed / 1e6, (double)(now - j->t_start - j->t_hashed) / 1e6);
    if (j->ok) {
        a->stats.ok++;
        gw_limit_succeeded(a->limit, peer, j->user, now);
        j->verdict = GW_AUTH_OK;
    } else {
        a->stats.failed++;
        delay = gw_limit_failed(a->limit, peer, j->user, now);
        j->verdict = GW_AUTH_FAILED;
        if (delay)
            VG_CLOG(VG_LOG_NOTICE, j->ident,
                    "authentication failed for user '%.64s'; back-off %.1f s for this address%s",
                    j->user, (double)delay / 1e9, j->cancelled ? " (client gone)" : "");
        else
            VG_CLOG(VG_LOG_NOTICE, j->ident, "authentication failed for user '%.64s'%s", j->user,
                    j->cancelled ? " (client gone)" : "");
    }
    if (j->cancelled) {
        job_free(j);
        return;
    }
    answer_after(j, delay);
}

static void on_results(evutil_socket_t fd, short what, void *arg)
{
    struct gw_auth *a = arg;
    uint64_t n;
    (void)!read(a->efd, &n, sizeof n);
    pthread_mutex_lock(&a->mu);
    struct gw_auth_job *list = a->done.head;
    a->done.head = a->done.tail = NULL;
    a->done.n = 0;
    pthread_mutex_unlock(&a->mu);
    while (list) {
        struct gw_auth_job *j = list;
        list = j->next;
        j->next = j->prev = NULL;
        finish(a, j);
    }
}

struct gw_auth *gw_auth_new(struct event_base *base, unsigned threads, unsigned queue_max)
{
    struct gw_auth *a = vg_calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->base = base;
    a->queue_max = queue_max;
    a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->limit = gw_limit_new(0);
    if (a->efd < 0 || a->limit == NULL ||
        (a->eev = event_new(base, a->efd, EV_READ | EV_PERSIST, on_results, a)) == NULL ||
        event_add(a->eev, NULL) != 0) {
        vg_err("auth: cannot set up the worker pool: %s", strerror(errno));
        goto fail;
    }
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    /* workers take no signals: they go to the loop's thread (libevent's signal events) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < threads; i++) {
        struct worker_arg *wa = vg_malloc(sizeof *wa);
        a->cd[i] = vg_calloc(1, sizeof *a->cd[i]);
        if (wa == NULL || a->cd[i] == NULL) {
            vg_free(wa);
            break;
        }
        wa->a = a;
        wa->cd = a->cd[i];
        int rc = pthread_create(&a->threads[i], NULL, worker, wa);
        if (rc != 0) {
            vg_free(wa);
            vg_err("auth: pthread_create: %s", strerror(rc));
            break;
        }
        a->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (a->nthreads != threads)
        goto fail;
    return a;
fail:
    gw_auth_free(a);
    return NULL;
}

void gw_auth_free(struct gw_auth *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (unsigned i = 0; i < a->nthreads; i++)
        pthread_join(a->threads[i], NULL);
    /* the workers are gone: what is left is on the lists, or held by a timer (the caller's
     * connections cancel those before this) */
    struct list *ls[2] = {&a->queue, &a->done};
    for (int k = 0; k < 2; k++)
        while (ls[k]->head) {
            struct gw_auth_job *j = ls[k]->head;
            list_unlink(ls[k], j);
            job_free(j);
        }
    for (unsigned i = 0; i < MAX_THREADS; i++)
        vg_free(a->cd[i]);
    if (a->eev)
        event_free(a->eev);
    if (a->efd >= 0)
        close(a->efd);
    gw_limit_free(a->limit);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    vg_free(a);
}

struct gw_auth_job *gw_auth_start(struct gw_auth *a, const struct vg_users *u,
                                  const struct sockaddr *peer, const char *user, const char *pass,
                                  const char *ident, gw_auth_done_cb done, void *arg)
{
    struct gw_auth_job *j = vg_calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    uint64_t now = vg_now_ns();
    j->a = a;
    j->done = done;
    j->arg = arg;
    j->t_start = now;
    memcpy(&j->peer, peer,
           peer->sa_family == AF_INET6  ? sizeof(struct sockaddr_in6)
           : peer->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                        : sizeof(sa_family_t));
    snprintf(j->user, sizeof j->user, "%s", user);
    snprintf(j->ident, sizeof j->ident, "%s", ident);

    uint64_t wait = gw_limit_admit(a->limit, peer, user, now);
    if (wait) {
        a->stats.throttled++;
        VG_CLOG(VG_LOG_INFO, j->ident,
                "authentication refused for user '%.64s' without a check: back-off, %.1f s left",
                j->user, (double)wait / 1e9);
        j->verdict = GW_AUTH_THROTTLED;
        j->st = J_TIMER;
        if ((j->timer = evtimer_new(a->base, on_held, j)) == NULL) {
            job_free(j);
            return NULL;
        }
        uint64_t max = (uint64_t)GW_AUTH_DELAY_MAX_MS * 1000000ull;
        if (wait > max)
            wait = max;
        struct timeval tv = {(time_t)(wait / 1000000000ull),
                             (suseconds_t)(wait % 1000000000ull / 1000)};
        evtimer_add(j->timer, &tv);
        return j;
    }
    vg_users_target(u, user, &j->target);
    snprintf(j->pass, sizeof j->pass, "%s", pass);

    pthread_mutex_lock(&a->mu);
    bool full = a->queue.n >= a->queue_max;
    if (!full) {
        j->st = J_QUEUED;
        list_push(&a->queue, j);
        pthread_cond_signal(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    if (!full)
        return j;

    explicit_bzero(j->pass, sizeof j->pass);
    a->stats.busy++;
    VG_CLOG(VG_LOG_NOTICE, j->ident,
            "authentication refused for user '%.64s' without a check: %u checks waiting", j->user,
            a->queue_max);
    j->verdict = GW_AUTH_BUSY;
    j->st = J_TIMER;
    if ((j->timer = evtimer_new(a->base, on_held, j)) == NULL) {
        job_free(j);
        return NULL;
    }
    struct timeval zero = {0, 0};
    evtimer_add(j->timer, &zero);
    return j;
}

void gw_auth_cancel(struct gw_auth_job *j)
{
    struct gw_auth *a = j->a;
    pthread_mutex_lock(&a->mu);
    switch (j->st) {
    case J_QUEUED:
        list_unlink(&a->queue, j);
        pthread_mutex_unlock(&a->mu);
        job_free(j);
        return;
    case J_RUNNING:
    case J_DONE:
        j->cancelled = true; /* the drain accounts and frees it */
        pthread_mutex_unlock(&a->mu);
        return;
    case J_TIMER:
        pthread_mutex_unlock(&a->mu);
        job_free(j);
        return;
    }
    pthread_mutex_unlock(&a->mu);
}

void gw_auth_get_stats(const struct gw_auth *a, struct gw_auth_stats *s)
{
    *s = a->stats;
}
