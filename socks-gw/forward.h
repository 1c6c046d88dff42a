/* forward — chain a request to the gateway of the host that owns the VM, one hop at most.
 *
 * The VM's name is resolved (vg_resolve: A/AAAA, owner TXT, gateway SRV); every address of the
 * owning host is tried in turn with a short connect timeout.  On each connection TLS comes
 * first (tls.h): the peer's certificate must chain to tls-ca and name the owning host, else
 * nothing is sent and the next address is tried.  Then, in one write, the greeting, the
 * identity and the CONNECT request: a host's gateway states the person's identity (method
 * VG_S5_METHOD_HOPID, vg_socks.h), proved a host by its own certificate; a front authenticates
 * as its user (RFC 1929, forward-user).  Then the three answers are read.  The other gateway
 * never chains a hop's request again, so stale or hostile DNS cannot make a loop; a record
 * naming this very host as the owner is refused at once.
 */
#ifndef VG_FORWARD_H
#define VG_FORWARD_H

#include "vg_outcome.h"
#include "vg_socks.h"

#include <stdint.h>
#include <sys/socket.h>

struct gw;
struct gw_fwd;

/* fd: connected to the owning gateway with the tunnel established (the caller owns it and the
 * TLS session tls), or -1;
 * out: VG_OUT_OK, or what to answer (the owning gateway's own reply code comes back as its
 * vg_outcome_of_socks); bnd: the BND.ADDR the owning gateway reported (NULL on failure); why: a
 * short text for failures.  All valid during the call only. */
typedef struct ssl_st SSL;
typedef void (*gw_fwd_done_fn)(void *arg, int fd, SSL *tls, enum vg_outcome out, const char *why,
                               const struct sockaddr *bnd);

/* `who`: the person (user, groups, client address) or VM the request is for; copied.  Never
 * calls done from inside; NULL when out of memory. */
struct gw_fwd *gw_fwd_start(struct gw *g, const char *name, uint16_t port,
                            const struct vg_s5_hopid *who, gw_fwd_done_fn done, void *arg);
void gw_fwd_cancel(struct gw_fwd *f);

#endif
