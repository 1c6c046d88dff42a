#include "reg_libvirt.h"

#include "reg_hook.h"
#include "reg_store.h"
#include "vg_alloc.h"
#include "vg_file.h"
#include "vg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *operation;
    enum reg_libvirt_action action;
} policy[] = {
    {"started", REG_LIBVIRT_REGISTER},   {"reconnect", REG_LIBVIRT_REGISTER},
    {"migrate", REG_LIBVIRT_MIGRATE_IN}, {"stopped", REG_LIBVIRT_WITHDRAW},
    {"release", REG_LIBVIRT_WITHDRAW},
};

enum reg_libvirt_action reg_libvirt_action(const char *operation)
{
    for (size_t i = 0; i < sizeof policy / sizeof policy[0]; i++)
        if (strcmp(policy[i].operation, operation) == 0)
            return policy[i].action;
    return REG_LIBVIRT_NOTHING;
}

/* All of stdin (libvirt writes the domain XML and must not block on a full pipe), at most 16 MiB;
 * NULL when memory ran out. */
static char *read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = vg_malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= 16u << 20)
                break;
            char *g = vg_realloc(buf, cap * 2);
            if (g == NULL)
                break;
            buf = g;
            cap *= 2;
        }
        ssize_t r = read(0, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* STATE-DIR/migrating/DOMAIN: create it, or say whether it exists (and remove it). */
static bool migrating_marker(const struct vg_config *cfg, const char *domain, bool create,
                             bool remove)
{
    char dir[4200], path[4500], err[256];
    snprintf(dir, sizeof dir, "%s/migrating", cfg->state_dir);
    snprintf(path, sizeof path, "%s/%s", dir, domain);
    if (create) {
        if (!vg_file_mkdirs(dir, err, sizeof err))
            return false;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        if (fd >= 0)
            close(fd);
        return fd >= 0;
    }
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (remove)
        unlink(path);
    return exists;
}

/* started/reconnect: the add the live domain XML describes. */
static int do_register(const struct reg_cli_call *call, struct reg_change *c, const char *domain,
                       const char *xml, size_t len)
{
    struct reg_vmspec spec;
    char err[512];
    int code = REG_EXIT_OK;
    memset(&spec, 0, sizeof spec);
    if (xml == NULL || !reg_libvirt_parse(xml, len, &spec, err, sizeof err)) {
        reg_cli_error("libvirt-hook: %s: %s", domain, xml ? err : "no XML");
        code = REG_EXIT_DATAERR;
        goto done;
    }
    if (strcmp(spec.name, domain) != 0)
        vg_warn("libvirt-hook: argument %s but XML names %s; using %s", domain, spec.name, domain);
    if (spec.channel[0] == '\0') {
        vg_info("libvirt-hook: %s has no vmgate channel (<channel type='unix'> with target "
                "name " REG_VMGATE_PORT_NAME "*) and no <vsock>: not registered",
                domain);
        goto done;
    }
    bool takeover = migrating_marker(call->cfg, domain, false, true);
    if (!reg_change_set_add(c, spec.channel, NULL, takeover, &spec.sets)) {
        reg_cli_rejected(c);
        code = REG_EXIT_DATAERR;
        goto done;
    }
    code = reg_cli_submit(call->cfg, c, 1, call->direct, takeover ? "taken over" : "published");
done:
    reg_sets_clear(&spec.sets);
    return code;
}

/* stopped/release: the withdrawal, if this host has the VM. */
static int do_withdraw(const struct reg_cli_call *call, struct reg_change *c, const char *domain,
                       const char *op)
{
    migrating_marker(call->cfg, domain, false, true);
    if (!reg_table_has(call->cfg->vm_dir, c->name)) {
        vg_info("libvirt-hook: %s %s: not registered by this host", domain, op);
        return REG_EXIT_OK;
    }
    c->kind = REG_CHANGE_DEL;
    return reg_cli_submit(call->cfg, c, 1, call->direct, "withdrawn");
}

int reg_libvirt_hook(const struct reg_cli_call *call)
{
    if (call->argc < 5 || strcmp(call->argv[1], "qemu") != 0) {
        reg_cli_error("usage: libvirt-hook qemu DOMAIN OPERATION SUBOPERATION [EXTRA]");
        return REG_EXIT_USAGE;
    }
    const char *domain = call->argv[2], *op = call->argv[3];
    enum reg_libvirt_action action = reg_libvirt_action(op);
    size_t len = 0;
    char *xml = read_stdin(&len); /* always drain what libvirt writes */
    struct reg_change c = {0};
    int code = REG_EXIT_OK;

    if (strchr(domain, '/') != NULL || domain[0] == '.' || domain[0] == '\0') {
        reg_cli_error("libvirt-hook: bad domain name '%s'", domain);
        code = REG_EXIT_DATAERR;
        goto done;
    }
    switch (action) {
    case REG_LIBVIRT_NOTHING:
        break;
    case REG_LIBVIRT_MIGRATE_IN:
        /* the incoming side of a migration: the VM will start here while the source still owns
         * its name; "started" then takes it over */
        migrating_marker(call->cfg, domain, true, false);
        break;
    case REG_LIBVIRT_REGISTER:
    case REG_LIBVIRT_WITHDRAW:
        if (!reg_change_name(&c, call->cfg, domain)) {
            reg_cli_error("libvirt-hook: domain %s cannot be a VM name: %s", domain, c.detail);
            code = action == REG_LIBVIRT_REGISTER ? REG_EXIT_DATAERR : REG_EXIT_OK;
            break;
        }
        code = action == REG_LIBVIRT_REGISTER ? do_register(call, &c, domain, xml, len)
                                              : do_withdraw(call, &c, domain, op);
        break;
    }
done:
    reg_change_clear(&c);
    vg_free(xml);
    return code;
}
