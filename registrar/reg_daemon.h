/* reg_daemon — `vmgate-reg daemon` and the client side of its socket.
 *
 * The daemon listens on STATE-DIR/reg.sock.  A client (add/del, the hooks) sends request lines
 *     add NAME CHANNEL QMP|- TAKEOVER(0|1) [KEY=VALUE…]
 *     del NAME
 * then shuts its write side; the daemon answers one line per request, in order:
 *     RESULT NAME DETAIL
 * (the lines are written and parsed by reg_change.h, the same code that checks the command line).
 * Requests that arrive within a few milliseconds of each other are carried out together (one
 * engine run: a few UPDATE messages for a boot storm).  The daemon also replays the journal with
 * exponential back-off capped at [registrar] retry-max, refreshes the heartbeat every
 * heartbeat-interval and runs gc every gc-interval (0 = never).
 */
#ifndef REG_DAEMON_H
#define REG_DAEMON_H

#include "reg_cmd.h"

/* Runs until SIGTERM/SIGINT; returns an exit code. */
int reg_daemon_run(struct reg_ctx *ctx);

/* Hand c[0..n) to a running daemon.  true: the daemon answered every change (results filled);
 * false: no daemon listens (the caller acts directly). */
bool reg_daemon_submit(const struct vg_config *cfg, struct reg_change *c, size_t n);

#endif
