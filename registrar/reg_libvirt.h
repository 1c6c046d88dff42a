/* reg_libvirt — `vmgate-reg libvirt-hook qemu DOMAIN OPERATION SUBOPERATION [EXTRA]`, the libvirt
 * qemu hook (registrar/hooks/libvirt-qemu runs it with the domain XML on stdin): what each
 * operation means for the VM's name.
 *
 *     started, reconnect   register (name and channel from the live XML, reg_hook.h); with
 *                          --takeover when a migration marker says the VM came from elsewhere
 *     migrate              incoming migration: leave a marker STATE-DIR/migrating/DOMAIN for the
 *                          "started" that follows (the source host still owns the name)
 *     stopped, release     withdraw, if this host's VM table has the VM (the second is a no-op);
 *                          the marker, if any, is removed
 *     anything else        nothing (prepare, start, restore, attach, …)
 *
 * A domain without a vmgate channel and without vsock is left alone.  libvirt is never stopped by
 * a DNS problem: the hook script always exits 0 (the exit code here is for logs and tests).
 */
#ifndef REG_LIBVIRT_H
#define REG_LIBVIRT_H

#include "reg_cli.h"

enum reg_libvirt_action {
    REG_LIBVIRT_NOTHING,
    REG_LIBVIRT_REGISTER,
    REG_LIBVIRT_MIGRATE_IN,
    REG_LIBVIRT_WITHDRAW,
};

/* What a libvirt operation asks of vmgate-reg (the table above). */
enum reg_libvirt_action reg_libvirt_action(const char *operation);

/* The command (a row of main.c's table; call->argv[0] is "libvirt-hook"). */
int reg_libvirt_hook(const struct reg_cli_call *call);

#endif
