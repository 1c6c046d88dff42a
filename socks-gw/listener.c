/* listener — listening sockets, accept with back-off on EMFILE, and connection caps. */
#include "front.h"
#include "gw.h"

#include "vg_alloc.h"
#include "vg_log.h"

#include <errno.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#define ACCEPT_BACKOFF_MS 250

struct gw_listener {
    struct gw_listener *next;
    struct gw *g;
    struct evconnlistener *l;
    struct event *backoff;
    const struct gw_front_ops *front;
    bool tls; /* listen-https */
    char addr[VG_ADDRSTRLEN];
};

struct gw_client_count {
    struct gw_client_count *next;
    int family;
    uint8_t addr[16];
    unsigned n;
};

static bool client_key(const struct sockaddr *sa0, int *family, uint8_t addr[16])
{
    struct sockaddr_storage ss; /* ::ffff:a.b.c.d counts as a.b.c.d */
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    if (sa0->sa_family != AF_INET6)
        sa = sa0;
    else
        vg_sockaddr_unmap(sa0, sizeof(struct sockaddr_in6), &ss);
    memset(addr, 0, 16);
    if (sa->sa_family == AF_INET) {
        *family = AF_INET;
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        *family = AF_INET6;
        memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

static unsigned bucket_of(int family, const uint8_t addr[16])
{
    unsigned h = 2166136261u ^ (unsigned)family;
    for (int i = 0; i < 16; i++)
        h = (h ^ addr[i]) * 16777619u;
    return h % (sizeof gw_main->counts / sizeof gw_main->counts[0]);
}

bool gw_client_acquire(struct gw *g, const struct sockaddr *sa)
{
    int family;
    uint8_t addr[16];
    if (!client_key(sa, &family, addr))
        return true;
    unsigned b = bucket_of(family, addr);
    struct gw_client_count *e = g->counts[b];
    while (e && !(e->family == family && memcmp(e->addr, addr, 16) == 0))
        e = e->next;
    if (e == NULL) {
        if ((e = vg_calloc(1, sizeof *e)) == NULL)
            return false;
        e->family = family;
        memcpy(e->addr, addr, 16);
        e->next = g->counts[b];
        g->counts[b] = e;
    }
    if (e->n >= g->cfg->max_per_client)
        return false;
    e->n++;
    return true;
}

void gw_client_release(struct gw *g, const struct sockaddr *sa)
{
    int family;
    uint8_t addr[16];
    if (!client_key(sa, &family, addr))
        return;
    unsigned b = bucket_of(family, addr);
    for (struct gw_client_count **pp = &g->counts[b]; *pp; pp = &(*pp)->next) {
        struct gw_client_count *e = *pp;
        if (e->family == family && memcmp(e->addr, addr, 16) == 0) {
            if (--e->n == 0) {
                *pp = e->next;
                vg_free(e);
            }
            return;
        }
    }
}

static void turn_away(int fd, const struct gw_front_ops *front)
{
    if (front->answers_early) {
        char out[256];
        size_t n = front->refusal(VG_OUT_OVERLOADED, "gateway full", out, sizeof out);
        if (n)
            (void)!send(fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa0,
                      int salen0, void *arg)
{
    struct gw_listener *li = arg;
    struct gw *g = li->g;
    char a[VG_ADDRSTRLEN];
    /* one form of the client's address from here on: caps, ACLs, back-off, logs */
    struct sockaddr_storage ss;
    int salen = (int)vg_sockaddr_unmap(sa0, (socklen_t)salen0, &ss);
    struct sockaddr *sa = (struct sockaddr *)&ss;
    if (g->nconns >= g->cfg->max_connections) {
        vg_info("%s: max-connections (%u) reached: closed",
                vg_sockaddr_format(sa, true, a, sizeof a), g->cfg->max_connections);
        turn_away(fd, li->front);
        return;
    }
    if (!gw_client_acquire(g, sa)) {
        vg_info("%s: max-per-client (%u) reached: closed",
                vg_sockaddr_format(sa, true, a, sizeof a), g->cfg->max_per_client);
        turn_away(fd, li->front);
        return;
    }
    gw_conn_accept(g, fd, sa, (socklen_t)salen, li->front, li->tls);
}

static void on_backoff_over(evutil_socket_t fd, short what, void *arg)
{
    struct gw_listener *li = arg;
    evconnlistener_enable(li->l);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct gw_listener *li = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        /* out of descriptors: stop accepting for a moment instead of spinning on the error */
        vg_warn("listener %s: accept: %s; pausing accepts for %d ms", li->addr, strerror(err),
                ACCEPT_BACKOFF_MS);
        evconnlistener_disable(li->l);
        struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
        event_add(li->backoff, &tv);
        return;
    }
    vg_warn("listener %s: accept: %s", li->addr, strerror(err));
}

struct open_ctx {
    struct gw *g;
    const struct gw_front_ops *front;
    bool tls;
    struct gw_listener *list;
    bool ok;
};

static bool open_one(const char *item, void *arg)
{
    struct open_ctx *o = arg;
    struct sockaddr_storage ss;
    socklen_t len;
    if (!vg_sockaddr_parse(item, 0, &ss, &len)) {
        vg_err("listen: bad address '%s'", item);
        return o->ok = false;
    }
    struct gw_listener *li = vg_calloc(1, sizeof *li);
    if (li == NULL)
        return o->ok = false;
    li->g = o->g;
    li->front = o->front;
    li->tls = o->tls;
    vg_sockaddr_format((struct sockaddr *)&ss, true, li->addr, sizeof li->addr);
    /* IPV6_V6ONLY on [::]: "0.0.0.0:P, [::]:P" are two listeners (vg_listen_tcp) */
    int fd = vg_listen_tcp((struct sockaddr *)&ss, len, 1024);
    li->l = fd < 0 ? NULL
                   : evconnlistener_new(
                         o->g->base, on_accept, li,
                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 0, fd);
    if (fd >= 0 && li->l == NULL)
        close(fd);
    li->backoff = event_new(o->g->base, -1, 0, on_backoff_over, li);
    if (li->l == NULL || li->backoff == NULL) {
        vg_err("listen %s (%s): %s", li->addr, o->front->name, strerror(errno));
        if (li->l)
            evconnlistener_free(li->l);
        if (li->backoff)
            event_free(li->backoff);
        vg_free(li);
        return o->ok = false;
    }
    evconnlistener_set_error_cb(li->l, on_accept_error);
    /* accepted sockets inherit TCP_NODELAY: handshake replies and interactive traffic go out at
     * once, without a setsockopt per connection */
    int one = 1;
    setsockopt(evconnlistener_get_fd(li->l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    li->next = o->list;
    o->list = li;
    return true;
}

static void free_list(struct gw_listener *li)
{
    while (li) {
        struct gw_listener *next = li->next;
        evconnlistener_free(li->l);
        event_free(li->backoff);
        vg_free(li);
        li = next;
    }
}

bool gw_listeners_open(struct gw *g, const struct vg_config *cfg)
{
    struct open_ctx o = {g, &gw_front_socks5, false, NULL, true};
    const char *lists[3] = {cfg->listen, cfg->listen_http, cfg->listen_https};
    for (int i = 0; i < 3 && o.ok; i++) {
        if (lists[i] == NULL)
            continue;
        char *copy = vg_strdup(lists[i]);
        o.front = i == 0 ? &gw_front_socks5 : &gw_front_http;
        o.tls = i == 2;
        if (copy == NULL)
            o.ok = false;
        else
            vg_list_foreach(copy, open_one, &o);
        vg_free(copy);
    }
    if (!o.ok) {
        free_list(o.list);
        return false;
    }
    gw_listeners_close(g);
    g->listeners = o.list;
    for (struct gw_listener *li = o.list; li; li = li->next) {
        evconnlistener_enable(li->l);
        vg_notice("listening on %s (%s%s)", li->addr, li->front->name, li->tls ? " over TLS" : "");
    }
    return true;
}

void gw_listeners_close(struct gw *g)
{
    free_list(g->listeners);
    g->listeners = NULL;
}
