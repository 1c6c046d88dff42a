/* admin — the gateway's admin socket ([gateway] admin-socket, vmgatectl): a unix socket on the
 * gateway's loop speaking the protocol of common/vg_admin.h (one request line, one JSON reply,
 * then the connection closes).
 *
 * Who may use it: the socket file is 0660, owner root, group `admin-group` (root's group without
 * it); each peer is checked again with SO_PEERCRED: uid 0, the gateway's own uid, or a member of
 * admin-group (primary group, or a supplementary group of the peer process from
 * /proc/PID/status, else getgrouplist of its user).  Others get {"ok":false,"error":"permission
 * denied"} and the connection closes.
 *
 * Bounds: ADMIN_CLIENTS_MAX connections at once (more are closed at accept), one request line of
 * VG_ADMIN_LINE_MAX octets (a longer one gets an error reply), ADMIN_TIMEOUT_S for the whole
 * exchange, replies of at most ADMIN_REPLY_MAX bytes written without blocking the loop.
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

struct gw;
struct gw_admin;

/* Open [gateway] admin-socket (none when it is empty).  NULL when there is none or it cannot be
 * opened (logged: the gateway then runs without one).  A stale socket file (nobody listening)
 * is replaced; a live one (another gateway) is left alone.  The default directory /run/vmgate
 * is created (0755) when missing; other directories must exist. */
struct gw_admin *gw_admin_open(struct gw *g);
/* After a reload: apply a changed admin-group to the socket file (admin-socket itself changes
 * only with a restart). */
void gw_admin_reconfigure(struct gw *g);
/* Close the socket and its connections, remove the socket file. */
void gw_admin_close(struct gw_admin *a);

#endif
