/* vg_records — the DNS records vmgate publishes (docs/records.md): their names and the texts
 * of their TXT records.  The registrar writes them, the resolver and the gateway read them; both
 * build and parse through this header only.
 *
 * Records for VM N (normalized, in zone Z) owned by host H:
 *     N                       A/AAAA  the host's addresses
 *     N                       TXT     "vmgate-owner=H"
 *     _vmgate._tcp.N          SRV     0 0 PORT H.vmgate-hosts.Z.   (absent: port 1080)
 *     H.vmgate-hosts.Z        A/AAAA  the host's addresses
 *     H.vmgate-hosts.Z        TXT     "vmgate-heartbeat=UNIXTIME"
 *
 * Host records live at H.vmgate-hosts.Z: an SRV target and the owner of A/AAAA records must be
 * a host name (BIND's check-names rejects '_' there), so the label is LDH and reserved instead:
 * no VM may be named vmgate-hosts.Z or anything under it.
 */
#ifndef VG_RECORDS_H
#define VG_RECORDS_H

#include "vg_name.h"

#include <stdbool.h>
#include <stddef.h>

#define VG_REC_OWNER_PREFIX "vmgate-owner="
#define VG_REC_HEARTBEAT_PREFIX "vmgate-heartbeat="
#define VG_REC_SRV_PREFIX "_vmgate._tcp."
#define VG_REC_HOSTS_LABEL "vmgate-hosts"
#define VG_REC_DEFAULT_PORT 1080 /* the gateway's port when a VM has no SRV record */
#define VG_REC_HOST_MAX 63       /* a host name in an owner TXT: one label */

/* "_vmgate._tcp.N" / "H.vmgate-hosts.Z" into out[VG_NAME_MAX + 1]; false if too long. */
bool vg_rec_srv_name(const char *vm, char *out);
bool vg_rec_host_name(const char *host, const char *zone, char *out);

/* Can the normalized name, under zone, be a VM?  Not when it is vmgate-hosts.ZONE or below it
 * (host records), nor when its SRV name would not fit in 253 octets.  A message in err. */
bool vg_rec_vm_name_ok(const char *name, const char *zone, char *err, size_t errlen);

/* TXT "vmgate-owner=HOST" (one character-string or their concatenation, len bytes) → the
 * normalized host into owner[VG_REC_HOST_MAX + 1]; false when it is not an owner record. */
bool vg_rec_owner_parse(const char *txt, size_t len, char *owner);
/* TXT "vmgate-heartbeat=UNIXTIME" → the time; false otherwise. */
bool vg_rec_heartbeat_parse(const char *txt, size_t len, long long *unixtime);

#endif
