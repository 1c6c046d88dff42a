/* reg_qemu — `vmgate-reg qemu [--takeover] [--name N] [--channel SPEC] [--ports L]
 * [--allow-out L] [--set K=V] -- QEMU-COMMAND...` (registrar/hooks/vmgate-qemu): run a plain QEMU
 * with its VM registered for as long as it runs.
 *
 *   1. name, channel and qmp from the QEMU command line (reg_hook.h), --name / --channel override;
 *      no channel: refused (65), QEMU is not started;
 *   2. registered before QEMU starts, so the name exists for all of QEMU's run (if that fails,
 *      QEMU runs unregistered and is not withdrawn);
 *   3. QEMU started (PATH searched), SIGTERM/SIGINT/SIGHUP forwarded to it, waited for;
 *   4. withdrawn however QEMU ended; the exit code is QEMU's (128 + signal when killed, 127 when
 *      it could not be started).
 */
#ifndef REG_QEMU_H
#define REG_QEMU_H

#include "reg_cli.h"

/* The command (a row of main.c's table; call->argv[0] is "qemu"). */
int reg_qemu_command(const struct reg_cli_call *call);

#endif
