/* vg_addr — socket addresses, CIDR prefixes and strict number parsing.
 *
 * All parsers are strict: "12abc", "", "+1", " 1" and out-of-range values are errors, never a
 * partial number.  IPv4 and IPv6 are handled alike everywhere (struct sockaddr_storage).
 */
#ifndef VG_ADDR_H
#define VG_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Unsigned decimal in [min, max]; returns false on any other text. */
bool vg_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);
/* A TCP/UDP port 1..65535. */
bool vg_parse_port(const char *s, uint16_t *out);

/* "ADDR:PORT", "[V6]:PORT", or a bare "ADDR" when default_port != 0.  Literal addresses only. */
bool vg_sockaddr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *ss,
                       socklen_t *len);

/* "198.18.0.1:1080" / "[fd00::1]:1080" (or without port when with_port is false) into buf. */
#define VG_ADDRSTRLEN 64
const char *vg_sockaddr_format(const struct sockaddr *sa, bool with_port, char *buf, size_t len);
uint16_t vg_sockaddr_port(const struct sockaddr *sa);

/* The one form of a client address: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a
 * dual-stack IPv6 socket reports for an IPv4 peer) becomes the IPv4 address with the same port;
 * any other address is copied as it is.  Counting, ACLs and logs use this form, so a client is
 * one client whichever family it arrived on.  Returns the length of *out. */
socklen_t vg_sockaddr_unmap(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *out);

/* A listening TCP socket on sa (non-blocking, close-on-exec, SO_REUSEADDR): IPv6 sockets get
 * IPV6_V6ONLY, so "0.0.0.0:P, [::]:P" are two listeners that do not collide; only an
 * IPv4-mapped address (which only IPv4 clients can reach) is bound without it.  Returns the fd,
 * or -1 with errno set. */
int vg_listen_tcp(const struct sockaddr *sa, socklen_t len, int backlog);

/* A CIDR prefix: "198.18.0.0/15", "fd00::/8", or a bare address (full length). */
struct vg_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix; /* bits */
};
bool vg_cidr_parse(const char *s, struct vg_cidr *out);
/* IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 prefixes. */
bool vg_cidr_match(const struct vg_cidr *c, const struct sockaddr *sa);

/* Split a comma/space separated list in place: calls fn for each non-empty item (trimmed).
 * Stops and returns false as soon as fn returns false. */
bool vg_list_foreach(char *list, bool (*fn)(const char *item, void *arg), void *arg);

#endif
