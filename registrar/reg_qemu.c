#include "reg_qemu.h"

#include "reg_hook.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* Start argv (PATH searched) with the forwarded signals at their defaults, wait for it; its wait
 * status.  A QEMU that cannot be started is reported and "exits" 127, as a shell would say. */
static int run_qemu(char **argv)
{
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP};
    struct sigaction sa = {.sa_handler = forward_signal};
    posix_spawnattr_t attr;
    sigset_t dfl;
    pid_t pid;
    int status = 0, rc;

    sigemptyset(&sa.sa_mask);
    sigemptyset(&dfl);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        sigaction(forwarded[i], &sa, NULL);
        sigaddset(&dfl, forwarded[i]);
    }
    /* what was reported so far comes before anything QEMU writes */
    fflush(NULL);
    if ((rc = posix_spawnattr_init(&attr)) == 0) {
        posix_spawnattr_setsigdefault(&attr, &dfl);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawnp(&pid, argv[0], NULL, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
    }
    if (rc != 0) {
        reg_cli_error("%s: %s", argv[0], strerror(rc));
        return 127 << 8;
    }
    child_pid = pid;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child_pid = 0;
    return status;
}

int reg_qemu_command(const struct reg_cli_call *call)
{
    static const struct option opts[] = {{"takeover", no_argument, NULL, 'T'},
                                         {"name", required_argument, NULL, 'N'},
                                         {"channel", required_argument, NULL, 'C'},
                                         {"ports", required_argument, NULL, 'S'},
                                         {"allow-out", required_argument, NULL, 'S'},
                                         {"set", required_argument, NULL, 'S'},
                                         {NULL, 0, NULL, 0}};
    const char *name = NULL, *channel = NULL;
    bool takeover = false;
    struct reg_sets sets = {0};
    struct reg_change add = {0}, del = {0};
    struct reg_vmspec spec;
    char err[600];
    int c, li, code = REG_EXIT_DATAERR;
    optind = 0;
    while ((c = getopt_long(call->argc, call->argv, "+", opts, &li)) != -1) {
        switch (c) {
        case 'T':
            takeover = true;
            break;
        case 'N':
            name = optarg;
            break;
        case 'C':
            channel = optarg;
            break;
        case 'S':
            if (!reg_sets_add_option(&sets, opts[li].name, optarg, err, sizeof err)) {
                reg_cli_error("%s", err);
                goto done;
            }
            break;
        default:
            code = REG_EXIT_USAGE;
            goto done;
        }
    }
    if (optind >= call->argc) {
        reg_cli_error("usage: qemu [--takeover] [--name NAME] [--channel SPEC] [--ports LIST] "
                      "[--allow-out LIST] [--set KEY=VALUE] -- QEMU-COMMAND...");
        code = REG_EXIT_USAGE;
        goto done;
    }
    char **qargv = call->argv + optind;
    if (!reg_qemu_parse(call->argc - optind, qargv, &spec, err, sizeof err) && name == NULL) {
        reg_cli_error("qemu: %s", err);
        goto done;
    }
    if (name)
        snprintf(spec.name, sizeof spec.name, "%s", name);
    if (channel)
        snprintf(spec.channel, sizeof spec.channel, "%s", channel);
    if (spec.channel[0] == '\0') {
        reg_cli_error("qemu: no channel on the command line (-device "
                      "virtserialport,name=" REG_VMGATE_PORT_NAME
                      ".*,chardev=… with -chardev socket,path=…, or "
                      "vhost-vsock guest-cid=…) and no --channel");
        goto done;
    }
    if (!reg_change_add(&add, call->cfg, spec.name, spec.channel, spec.qmp[0] ? spec.qmp : NULL,
                        takeover, &sets)) {
        reg_cli_rejected(&add);
        goto done;
    }

    /* published before QEMU starts, so the name exists for the whole time QEMU runs (a client
     * that comes too early finds the channel not yet up, as with any booting VM) */
    int rc = reg_cli_submit(call->cfg, &add, 1, call->direct, "published");
    bool registered = rc == REG_EXIT_OK || rc == REG_EXIT_QUEUED;
    if (!registered)
        reg_cli_error("qemu: %s runs unregistered", add.name);
    int status = run_qemu(qargv);
    if (registered && reg_change_del(&del, call->cfg, add.name))
        reg_cli_submit(call->cfg, &del, 1, call->direct, "withdrawn");
    if (WIFEXITED(status))
        code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        code = 128 + WTERMSIG(status);
    else
        code = REG_EXIT_ERROR;
done:
    reg_sets_clear(&sets);
    reg_change_clear(&add);
    reg_change_clear(&del);
    return code;
}
