/* auth — password checks off the event loop, with back-off for failed logins.
 *
 * crypt(3) costs 3–60 ms per check (sha512 … yescrypt): in the loop, a few guessers would stall
 * every relay.  Checks run on a small pool of worker threads (auth-threads) fed by a bounded
 * queue (auth-queue); the result comes back to the loop through an eventfd.  What the workers
 * touch is the job alone (a copy of the hash, the password); the users file, the limiter
 * (authlimit.h) and every callback stay on the loop's thread.
 *
 * A check is answered (done, always from the loop, never from inside gw_auth_start):
 *   GW_AUTH_OK         the password matches
 *   GW_AUTH_FAILED     it does not (or the user is unknown: same cost, same answer); the answer
 *                      is held back by the back-off now in force, at most GW_AUTH_DELAY_MAX_MS
 *   GW_AUTH_THROTTLED  refused without a check: a back-off runs for the address or the user
 *                      (answered after the back-off left, at most GW_AUTH_DELAY_MAX_MS)
 *   GW_AUTH_BUSY       refused without a check: the queue is full
 * Ownership: the caller holds the job until done runs or it calls gw_auth_cancel (a job that is
 * hashing then finishes on its worker and is freed unseen; its failure still counts).  The
 * password is copied into the job and wiped once hashed.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/socket.h>

#define GW_AUTH_DELAY_MAX_MS 1000

struct vg_users;
struct gw_auth;
struct gw_auth_job;

enum gw_auth_verdict { GW_AUTH_OK, GW_AUTH_FAILED, GW_AUTH_THROTTLED, GW_AUTH_BUSY };

typedef void (*gw_auth_done_cb)(void *arg, enum gw_auth_verdict v);

/* Counters since start (the log prints them at reload and exit). */
struct gw_auth_stats {
    uint64_t checked, ok, failed, throttled, busy;
};

/* threads workers, at most queue_max checks waiting; NULL on failure (logged).  Create it after
 * daemon(): threads do not survive fork. */
struct gw_auth *gw_auth_new(struct event_base *base, unsigned threads, unsigned queue_max);
/* Stops and joins the workers; pending jobs are dropped without their callbacks. */
void gw_auth_free(struct gw_auth *a);

/* Check user/pass from peer against u (ident names the connection in log lines). */
struct gw_auth_job *gw_auth_start(struct gw_auth *a, const struct vg_users *u,
                                  const struct sockaddr *peer, const char *user, const char *pass,
                                  const char *ident, gw_auth_done_cb done, void *arg);
void gw_auth_cancel(struct gw_auth_job *j);

void gw_auth_get_stats(const struct gw_auth *a, struct gw_auth_stats *s);

#endif
