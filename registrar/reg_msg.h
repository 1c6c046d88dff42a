/* reg_msg — RFC 2136 UPDATE messages for vmgate's records, signed with TSIG (RFC 8945), and the
 * checks every reply goes through.  No sockets here: the transport (reg_net) moves the wire bytes.
 *
 * Records for VM N (normalized, in zone Z) owned by host H (names and texts: vg_records.h):
 *     N                       A/AAAA  the host's addresses
 *     N                       TXT     "vmgate-owner=H"
 *     _vmgate._tcp.N          SRV     0 0 PORT H.vmgate-hosts.Z.
 *     H.vmgate-hosts.Z        A/AAAA  the host's addresses
 *     H.vmgate-hosts.Z        TXT     "vmgate-heartbeat=UNIXTIME"
 * Every change to N carries a prerequisite on ownership (enum reg_mode).
 */
#ifndef REG_MSG_H
#define REG_MSG_H

#include "reg.h"
#include "reg_key.h"
#include "vg_name.h"
#include "vg_records.h"

#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdint.h>

#define REG_MAX_ADDRS 16
#define REG_TCP_MAX 65535 /* largest DNS message over TCP */

/* Who this host is: what its records say. */
struct reg_ident {
    char host[VG_NAME_MAX + 1]; /* normalized [host] name */
    struct in_addr v4[REG_MAX_ADDRS];
    size_t nv4;
    struct in6_addr v6[REG_MAX_ADDRS];
    size_t nv6;
    uint16_t port; /* gateway port published in SRV */
    uint32_t ttl;
};

/* Fill host, addresses (comma/space list of IPv4/IPv6 literals), port and ttl. */
bool reg_ident_init(struct reg_ident *id, const char *host, const char *addresses, uint16_t port,
                    uint32_t ttl, char *err, size_t errlen);

enum reg_mode {
    REG_M_FRESH,    /* add; prerequisite: N is not in use at all */
    REG_M_OWN,      /* add again; prerequisite: N's TXT RRset is exactly our owner TXT */
    REG_M_TAKEOVER, /* add --takeover; prerequisite: N has a TXT RRset (some host's VM) */
    REG_M_DEL,      /* withdraw; prerequisite: N's TXT RRset is exactly owner=item.arg */
    REG_M_HOSTDEL,  /* gc a host record N; prerequisite: its TXT RRset is exactly item.arg */
};

struct reg_item {
    enum reg_mode mode;
    const char *name; /* normalized FQDN without trailing dot */
    const char *arg;  /* REG_M_DEL: the owner host; REG_M_HOSTDEL: the heartbeat TXT text */
};

/* An UPDATE for `zone` with the items (none is fine when host_record is set); host_record
 * appends the replacement of this host's record with heartbeat `now`.  RD is clear, id 0 (set by
 * reg_msg_sign).  NULL on allocation failure. */
ldns_pkt *reg_msg_update(const struct reg_ident *id, const char *zone,
                         const struct reg_item *const *items, size_t n, bool host_record,
                         long long now);
/* Estimates of the wire size of an item's RRs placed at `offset` in the message, and of the rest
 * of an UPDATE (header, zone, host record, TSIG), to cut batches before anything is built (owner
 * names compress by suffix, but pointers reach only the first 16 KiB).  reg_msg_sign measures the
 * real size and refuses (REG_ERROR with *len above REG_TCP_MAX) a message that would not fit:
 * ldns 1.8.3 asserts instead of failing when a message outgrows 64 KiB. */
size_t reg_msg_item_size(const struct reg_ident *id, const char *zone, const struct reg_item *it,
                         size_t offset);
size_t reg_msg_base_size(const struct reg_ident *id, const char *zone, const struct reg_key *key);

/* A query (RD clear) for name/type, and an AXFR request for zone. */
ldns_pkt *reg_msg_query(const char *name, ldns_rr_type type);

/* Give the message `id`, sign it with `key` and render it.  *wire is malloc'ed (free()), *mac is
 * the request MAC the reply must be verified against (ldns_rdf_deep_free).  A message that would
 * exceed REG_TCP_MAX once signed is not signed: REG_ERROR with *len = its size. */
enum reg_result reg_msg_sign(ldns_pkt *pkt, const struct reg_key *key, uint16_t id, uint8_t **wire,
                             size_t *len, ldns_rdf **mac);

/* Check a reply to `req` (as signed by reg_msg_sign).  Only a reply that carries the request's id,
 * the QR bit, its opcode and its question (or none), and a TSIG of `key` that verifies against
 * `prior_mac` (the request MAC, or for the later messages of a zone transfer the previous
 * message's MAC with timers_only set) within its fudge of `now`, is believed: REG_OK for NOERROR,
 * else the classification of the RCODE (reg_rcode_result).  The one exception is a TSIG error
 * (BADSIG, BADKEY, BADTIME: the server could not authenticate the request, so the reply cannot be
 * signed, RFC 8945 5.3.2): NOTAUTH with a TSIG RR naming `key` → REG_BADSIG / REG_BADKEY /
 * REG_NOTAUTH, a failure and never a success.  Everything else — unsigned, another key, a MAC
 * that does not verify, wrong id or question, out of the time window, malformed — is
 * REG_BADREPLY whatever its RCODE claims, with *rcode -1.  err gets a specific message.
 * *out gets the parsed reply (caller frees) only when it was verified (NULL may be passed);
 * *next_mac the reply's MAC (for chaining). */
enum reg_result reg_msg_check(const uint8_t *wire, size_t len, const ldns_pkt *req,
                              const struct reg_key *key, const ldns_rdf *prior_mac,
                              bool timers_only, long long now, ldns_pkt **out, ldns_rdf **next_mac,
                              int *rcode, char *err, size_t errlen);

/* The rendered size of pkt as it stands (0 on failure), measured in a buffer that can grow past
 * 64 KiB. */
size_t reg_msg_wire_size(const ldns_pkt *pkt);

/* Map an RCODE of an UPDATE reply to a result (prerequisite failures to INUSE / NOTOWNER). */
enum reg_result reg_rcode_result(int rcode);
/* True for the RCODEs that report a failed prerequisite. */
bool reg_rcode_is_prereq(int rcode);

/* The text of a TXT RR's first string into out (NUL-terminated, truncated); false if not TXT. */
bool reg_txt_text(const ldns_rr *rr, char *out, size_t outlen);

#endif
