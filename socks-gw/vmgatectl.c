/* vmgatectl — talk to a running vmgate-gw over its admin socket ([gateway] admin-socket).
 *
 * Builds the request line with common/vg_admin (the protocol's one owner), sends it, reads the
 * one JSON reply and prints it: raw with --json, else as a table.  Links common/ only, never
 * the gateway's objects.  Exit codes: see usage() and vmgatectl(1).
 */
#include "vg_admin.h"
#include "vg_config.h"
#include "vg_version.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum {
    EX_OK_ = 0,
    EX_ERROR = 1,       /* an error reply, or another failure */
    EX_USAGE_ = 2,      /* bad command line */
    EX_NOTRUNNING = 69, /* no gateway at the socket (EX_UNAVAILABLE) */
    EX_DENIED = 77,     /* the caller may not use the socket (EX_NOPERM) */
};

#define REPLY_MAX (256u << 20) /* what we read at most */
#define REPLY_TIMEOUT_MS 30000
#define DEFAULT_CONFIG "/etc/vmgate/vmgate.conf"

static void usage(FILE *f)
{
    fprintf(f, "Usage: vmgatectl [-c FILE] [--socket PATH] [--json] COMMAND [ARGS]\n"
               "\n"
               "Commands (the admin protocol of vmgate-gw, docs/operations.md):\n"
               "  sessions [--user U] [--vm NAME]   live connections: a table, or a JSON array\n"
               "  kill ID...                        end these sessions at once\n"
               "  kill --user U | kill --vm NAME    end every session of that user / VM\n"
               "  vms                               the VM table as the gateway sees it\n"
               "  policy test USER VM PORT [--from ADDR]   the verdict and the deciding rule\n"
               "  stats                             connections, states, uptime, version\n"
               "  reload [--enforce]                reload configuration, users, certificates\n"
               "\n"
               "  -c, --config FILE   find admin-socket in FILE (default " DEFAULT_CONFIG ")\n"
               "      --socket PATH   the admin socket (default: from the config, "
               "else " VG_ADMIN_SOCKET_DEFAULT ")\n"
               "      --json          print the gateway's JSON reply as it is\n"
               "  -V, --version       print the version\n"
               "  -h, --help          this text\n"
               "\n"
               "Exit status: 0 ok, 1 error reply (or other failure), 2 usage, 69 vmgate-gw not\n"
               "running, 77 permission denied (root and admin-group only).\n");
}

/* ---- printing ------------------------------------------------------------------------------ */

static const char *text_of(const struct vg_jnode *n)
{
    if (n == NULL || n->type == VG_J_NULL)
        return "-";
    if (n->type == VG_J_BOOL)
        return n->b ? "true" : "false";
    if (n->type == VG_J_STR || n->type == VG_J_NUM)
        return n->text[0] ? n->text : "-";
    return "?";
}

struct col {
    const char *head, *key;
};

static void print_table(const struct vg_jnode *arr, const struct col *cols, size_t ncols)
{
    size_t w[16] = {0};
    for (size_t i = 0; i < ncols; i++)
        w[i] = strlen(cols[i].head);
    for (const struct vg_jnode *r = arr ? arr->child : NULL; r; r = r->next)
        for (size_t i = 0; i < ncols; i++) {
            size_t n = strlen(text_of(vg_jnode_get(r, cols[i].key)));
            if (n > w[i])
                w[i] = n;
        }
    for (size_t i = 0; i < ncols; i++)
        printf("%-*s%s", (int)(i + 1 < ncols ? w[i] : 0), cols[i].head,
               i + 1 < ncols ? "  " : "\n");
    for (const struct vg_jnode *r = arr ? arr->child : NULL; r; r = r->next)
        for (size_t i = 0; i < ncols; i++)
            printf("%-*s%s", (int)(i + 1 < ncols ? w[i] : 0), text_of(vg_jnode_get(r, cols[i].key)),
                   i + 1 < ncols ? "  " : "\n");
}

static void print_reply(enum vg_admin_cmd cmd, const struct vg_jnode *root)
{
    static const struct col sessions[] = {
        {"ID", "id"},
        {"USER", "user"},
        {"CLIENT", "client"},
        {"VM", "vm"},
        {"PORT", "port"},
        {"CHANNEL", "channel"},
        {"FRONT", "front"},
        {"STATE", "state"},
        {"STARTED", "started"},
        {"UP", "bytes_up"},
        {"DOWN", "bytes_down"},
        {"IDLE", "idle_s"},
        {"AGENT-SESSION", "agent_session"},
    };
    static const struct col vms[] = {
        {"NAME", "name"},       {"CHANNEL", "channel"},
        {"STATUS", "status"},   {"SESSIONS", "sessions"},
        {"AGENT", "agent"},     {"VERSION", "agent_version"},
        {"STREAMS", "streams"}, {"AGENT-SESSION", "agent_session"},
        {"ERROR", "error"},
    };
    switch (cmd) {
    case VG_ADM_SESSIONS:
        print_table(vg_jnode_get(root, "sessions"), sessions, sizeof sessions / sizeof *sessions);
        return;
    case VG_ADM_VMS:
        print_table(vg_jnode_get(root, "vms"), vms, sizeof vms / sizeof *vms);
        return;
    case VG_ADM_KILL:
        printf("%s session(s) killed\n", text_of(vg_jnode_get(root, "killed")));
        return;
    case VG_ADM_RELOAD:
        if (vg_jnode_get(root, "ended"))
            printf("reloaded; %s session(s) the new policy denies ended\n",
                   text_of(vg_jnode_get(root, "ended")));
        else
            printf("reloaded\n");
        return;
    case VG_ADM_STATS:
    case VG_ADM_POLICY_TEST:
        for (const struct vg_jnode *m = root->child; m; m = m->next) {
            if (strcmp(m->key, "ok") == 0)
                continue;
            if (m->type == VG_J_OBJ) {
                for (const struct vg_jnode *s = m->child; s; s = s->next)
                    printf("%s.%s: %s\n", m->key, s->key, text_of(s));
                continue;
            }
            printf("%s: %s\n", m->key, text_of(m));
        }
        return;
    }
}

/* ---- the socket ---------------------------------------------------------------------------- */

/* Send line, read the reply into *out (NUL-terminated).  An exit code. */
static int exchange(const char *path, const char *line, char **out, size_t *outlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        fprintf(stderr, "vmgatectl: socket path too long: %s\n", path);
        return EX_ERROR;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "vmgatectl: socket: %s\n", strerror(errno));
        return EX_ERROR;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
            fprintf(stderr, "vmgatectl: vmgate-gw is not running (no socket at %s)\n", path);
            return EX_NOTRUNNING;
        }
        if (e == EACCES || e == EPERM) {
            fprintf(stderr, "vmgatectl: permission denied: %s (root and admin-group only)\n", path);
            return EX_DENIED;
        }
        fprintf(stderr, "vmgatectl: connect %s: %s\n", path, strerror(e));
        return EX_ERROR;
    }
    size_t n = strlen(line), off = 0;
    while (off < n) {
        ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break; /* the gateway may have answered already (permission denied): read it */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int rc = EX_ERROR;
    while (buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, REPLY_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            fprintf(stderr, "vmgatectl: no reply from %s within %d s\n", path,
                    REPLY_TIMEOUT_MS / 1000);
            break;
        }
        if (len + 1 == cap) {
            char *grown = cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;
            if (grown == NULL) {
                fprintf(stderr, "vmgatectl: reply too large\n");
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "vmgatectl: reading the reply: %s\n", strerror(errno));
            break;
        }
        if (r == 0) {
            rc = EX_OK_;
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    if (rc != EX_OK_ || len == 0) {
        if (rc == EX_OK_)
            fprintf(stderr, "vmgatectl: the gateway closed without a reply\n");
        free(buf);
        return EX_ERROR;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return EX_OK_;
}

static const char *socket_from_config(const char *cfg_path, bool explicit_cfg, int *rc)
{
    static char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char err[512];
    if (!explicit_cfg && access(cfg_path, F_OK) != 0)
        return VG_ADMIN_SOCKET_DEFAULT;
    struct vg_config *cfg = vg_config_load(cfg_path, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "vmgatectl: %s\n", err);
        *rc = EX_ERROR;
        return NULL;
    }
    if (cfg->admin_socket == NULL || cfg->admin_socket[0] == '\0') {
        fprintf(stderr, "vmgatectl: %s: [gateway] admin-socket is empty: no admin socket\n",
                cfg_path);
        vg_config_free(cfg);
        *rc = EX_NOTRUNNING;
        return NULL;
    }
    snprintf(path, sizeof path, "%s", cfg->admin_socket);
    vg_config_free(cfg);
    return path;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},         {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *cfg_path = DEFAULT_CONFIG, *sock = NULL;
    bool json = false, explicit_cfg = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "+c:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cfg_path = optarg;
            explicit_cfg = true;
            break;
        case 'S':
            sock = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'V':
            printf("vmgatectl %s\n", VMGATE_VERSION);
            return EX_OK_;
        case 'h':
            usage(stdout);
            return EX_OK_;
        default:
            usage(stderr);
            return EX_USAGE_;
        }
    }
    if (optind == argc) {
        usage(stderr);
        return EX_USAGE_;
    }

    /* the command's words, --json taken out, become one line the protocol's parser checks */
    char line[VG_ADMIN_LINE_MAX + 1];
    size_t n = 0;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        size_t k = strlen(argv[i]);
        if (k == 0 || strpbrk(argv[i], " \t\r\n") != NULL) {
            fprintf(stderr, "vmgatectl: argument '%s': empty or with blanks\n", argv[i]);
            return EX_USAGE_;
        }
        if (n + k + 2 > sizeof line) {
            fprintf(stderr, "vmgatectl: command line too long\n");
            return EX_USAGE_;
        }
        if (n)
            line[n++] = ' ';
        memcpy(line + n, argv[i], k);
        n += k;
    }
    line[n++] = '\n';
    line[n] = '\0';
    struct vg_admin_req *rq = malloc(sizeof *rq);
    char err[256], req[VG_ADMIN_LINE_MAX + 1];
    size_t used;
    if (rq == NULL)
        return EX_ERROR;
    if (vg_admin_parse_request((const uint8_t *)line, n, rq, &used, err, sizeof err) != VG_P_OK) {
        fprintf(stderr, "vmgatectl: %s (try --help)\n", err);
        free(rq);
        return EX_USAGE_;
    }
    enum vg_admin_cmd cmd = rq->cmd;
    size_t reqlen = vg_admin_format_request(rq, req, sizeof req);
    free(rq);
    if (reqlen == 0) {
        fprintf(stderr, "vmgatectl: cannot build the request\n");
        return EX_USAGE_;
    }

    int rc = EX_OK_;
    if (sock == NULL && (sock = socket_from_config(cfg_path, explicit_cfg, &rc)) == NULL)
        return rc;
    char *reply = NULL;
    size_t rlen = 0;
    if ((rc = exchange(sock, req, &reply, &rlen)) != EX_OK_)
        return rc;
    static const char ok_prefix[] = "{\"ok\":true";
    if (json && strncmp(reply, ok_prefix, sizeof ok_prefix - 1) == 0) {
        /* the protocol's success shape: printed as it is, no need to read it */
        fputs(reply, stdout);
        free(reply);
        return fflush(stdout) == 0 ? EX_OK_ : EX_ERROR;
    }
    struct vg_jnode *root = vg_jnode_parse(reply, rlen, err, sizeof err);
    const struct vg_jnode *ok = vg_jnode_get(root, "ok");
    if (root == NULL || ok == NULL || ok->type != VG_J_BOOL) {
        fprintf(stderr, "vmgatectl: %s\n", root ? "reply without \"ok\"" : err);
        vg_jnode_free(root);
        free(reply);
        return EX_ERROR;
    }
    if (!ok->b) {
        const char *e = text_of(vg_jnode_get(root, "error"));
        rc = strcmp(e, "permission denied") == 0 ? EX_DENIED : EX_ERROR;
        if (json)
            fputs(reply, stdout);
        else if (rc == EX_DENIED)
            fprintf(stderr, "vmgatectl: permission denied: %s (root and admin-group only)\n", sock);
        else
            fprintf(stderr, "vmgatectl: %s\n", e);
    } else if (json) {
        fputs(reply, stdout);
    } else {
        print_reply(cmd, root);
    }
    vg_jnode_free(root);
    free(reply);
    if (fflush(stdout) != 0)
        return EX_ERROR;
    return rc;
}
