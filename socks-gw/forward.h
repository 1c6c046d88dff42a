/* forward — chain a request to the gateway of the host that owns the VM, one hop at most.
 *
 * The VM's name is resolved (vg_resolve: A/AAAA, owner TXT, gateway SRV); every address of the
 * owning host is tried in turn with a short connect timeout; on the first connection the
 * gateway sends greeting, RFC 1929 authentication as `[gateway] forward-user` and the CONNECT
 * request in one write, then reads the three answers.  The other gateway recognizes that user
 * and never chains such a request again, so stale or hostile DNS cannot make a loop; a record
 * naming this very host as the owner is refused at once.
 */
#ifndef VG_FORWARD_H
#define VG_FORWARD_H

#include "vg_outcome.h"

#include <stdint.h>
#include <sys/socket.h>

struct gw;
struct gw_fwd;

/* fd: connected to the owning gateway with the tunnel established (the caller owns it), or -1;
 * out: VG_OUT_OK, or what to answer (the owning gateway's own reply code comes back as its
 * vg_outcome_of_socks); bnd: the BND.ADDR the owning gateway reported (NULL on failure); why: a
 * short text for failures.  All valid during the call only. */
typedef void (*gw_fwd_done_fn)(void *arg, int fd, enum vg_outcome out, const char *why,
                               const struct sockaddr *bnd);

/* Never calls done from inside; NULL when out of memory. */
struct gw_fwd *gw_fwd_start(struct gw *g, const char *name, uint16_t port, gw_fwd_done_fn done,
                            void *arg);
void gw_fwd_cancel(struct gw_fwd *f);

#endif
