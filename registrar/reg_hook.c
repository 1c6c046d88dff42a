#include "reg_hook.h"

#include "vg_addr.h"
#include "vg_alloc.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

/* ---- libvirt ----------------------------------------------------------------------------- */

static bool is_elem(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0;
}

static const xmlNode *child(const xmlNode *parent, const char *name)
{
    for (const xmlNode *c = parent->children; c; c = c->next)
        if (is_elem(c, name))
            return c;
    return NULL;
}

/* copy attribute `attr` of n into out; false if absent */
static bool attr(const xmlNode *n, const char *attr_name, char *out, size_t outlen)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)attr_name);
    if (v == NULL)
        return false;
    snprintf(out, outlen, "%s", (const char *)v);
    xmlFree(v);
    return true;
}

static bool vmgate_port_name(const char *name)
{
    size_t pl = strlen(REG_VMGATE_PORT_NAME);
    return strncmp(name, REG_VMGATE_PORT_NAME, pl) == 0 && (name[pl] == '\0' || name[pl] == '.');
}

bool reg_libvirt_parse(const char *xml, size_t len, struct reg_vmspec *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > 16 * 1024 * 1024) {
        snprintf(err, errlen, "domain XML larger than 16 MiB");
        return false;
    }
    /* no network, no entity expansion, no DTD loading */
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    bool ok = false;
    if (doc == NULL) {
        snprintf(err, errlen, "domain XML does not parse");
        return false;
    }
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_elem(root, "domain")) {
        snprintf(err, errlen, "domain XML: root element is not <domain>");
        goto done;
    }
    const xmlNode *name = child(root, "name");
    xmlChar *nm = name ? xmlNodeGetContent(name) : NULL;
    if (nm == NULL || nm[0] == '\0') {
        xmlFree(nm);
        snprintf(err, errlen, "domain XML: no <name>");
        goto done;
    }
    snprintf(out->name, sizeof out->name, "%s", (const char *)nm);
    xmlFree(nm);

    const xmlNode *devices = child(root, "devices");
    char vsock[32] = "";
    for (const xmlNode *d = devices ? devices->children : NULL; d; d = d->next) {
        char buf[256], tname[128];
        if (is_elem(d, "channel") && attr(d, "type", buf, sizeof buf) && strcmp(buf, "unix") == 0) {
            const xmlNode *target = child(d, "target"), *source = child(d, "source");
            if (target == NULL || source == NULL || !attr(target, "name", tname, sizeof tname) ||
                !vmgate_port_name(tname))
                continue;
            if (attr(target, "type", buf, sizeof buf) && strcmp(buf, "virtio") != 0)
                continue;
            if (!attr(source, "path", buf, sizeof buf)) {
                snprintf(err, errlen, "domain XML: channel %s has no source path", tname);
                goto done;
            }
            if (out->channel[0] == '\0')
                snprintf(out->channel, sizeof out->channel, "serial:%s", buf);
        } else if (is_elem(d, "vsock")) {
            const xmlNode *cid = child(d, "cid");
            unsigned long v;
            if (cid && attr(cid, "address", buf, sizeof buf) &&
                vg_parse_uint(buf, 3, 0xFFFFFFFEul, &v))
                snprintf(vsock, sizeof vsock, "vsock:%lu", v);
        }
    }
    if (out->channel[0] == '\0' && vsock[0])
        snprintf(out->channel, sizeof out->channel, "%s", vsock);

    /* <metadata><vmgate:vm xmlns:vmgate="urn:vmgate:libvirt:1" ports="22" allow-out="…"/>:
     * each attribute sets that VM table key (what the operator decided about this VM lives with
     * the domain, so it holds at every start) */
    const xmlNode *meta = child(root, "metadata");
    for (const xmlNode *m = meta ? meta->children : NULL; m; m = m->next) {
        if (!is_elem(m, "vm") || m->ns == NULL || m->ns->href == NULL ||
            xmlStrcmp(m->ns->href, (const xmlChar *)REG_LIBVIRT_NS) != 0)
            continue;
        for (const xmlAttr *a = m->properties; a; a = a->next) {
            xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
            char why[600];
            bool set = reg_sets_add(&out->sets, (const char *)a->name, v ? (const char *)v : "",
                                    why, sizeof why);
            xmlFree(v);
            if (!set) {
                snprintf(err, errlen, "domain XML: <vmgate:vm %s=…>: %s", (const char *)a->name,
                         why);
                goto done;
            }
        }
    }
    ok = true;
done:
    if (!ok)
        reg_sets_clear(&out->sets);
    xmlFreeDoc(doc);
    return ok;
}

/* ---- QEMU command line ------------------------------------------------------------------- */

/* QEMU option strings: "driver,key=value,key2=value2"; ",," is a literal comma. */
static bool opt_get(const char *s, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    const char *p = s;
    while (*p) {
        /* p is at the start of an element */
        char elem[512];
        size_t n = 0;
        while (*p) {
            if (p[0] == ',' && p[1] == ',') {
                if (n + 1 < sizeof elem)
                    elem[n++] = ',';
                p += 2;
                continue;
            }
            if (*p == ',')
                break;
            if (n + 1 < sizeof elem)
                elem[n++] = *p;
            p++;
        }
        elem[n] = '\0';
        if (*p == ',')
            p++;
        if (strncmp(elem, key, kl) == 0 && elem[kl] == '=') {
            snprintf(out, outlen, "%s", elem + kl + 1);
            return true;
        }
    }
    return false;
}

/* the leading element without '=' ("socket" of "socket,id=x") */
static void opt_driver(const char *s, char *out, size_t outlen)
{
    size_t n = strcspn(s, ",");
    if (memchr(s, '=', n) != NULL)
        n = 0;
    snprintf(out, outlen, "%.*s", (int)n, s);
}

struct chardev {
    char id[64];
    char path[256];
};

bool reg_qemu_parse(int argc, char *const *argv, struct reg_vmspec *out, char *err, size_t errlen)
{
    struct chardev cd[32];
    size_t ncd = 0;
    char serial_id[64] = "", mon_id[64] = "", vsock[32] = "", drv[64], buf[256];
    memset(out, 0, sizeof *out);

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-')
            continue;
        if (o[1] == '-')
            o++;
        if (i + 1 >= argc)
            break;
        const char *v = argv[i + 1];
        if (strcmp(o, "-name") == 0) {
            if (!opt_get(v, "guest", out->name, sizeof out->name)) {
                opt_driver(v, out->name, sizeof out->name);
                if (out->name[0] == '\0')
                    snprintf(out->name, sizeof out->name, "%.*s", (int)strcspn(v, ","), v);
            }
            i++;
        } else if (strcmp(o, "-chardev") == 0) {
            opt_driver(v, drv, sizeof drv);
            if (strcmp(drv, "socket") == 0 && ncd < sizeof cd / sizeof cd[0] &&
                opt_get(v, "id", cd[ncd].id, sizeof cd[ncd].id) &&
                opt_get(v, "path", cd[ncd].path, sizeof cd[ncd].path))
                ncd++;
            i++;
        } else if (strcmp(o, "-device") == 0) {
            opt_driver(v, drv, sizeof drv);
            if ((strcmp(drv, "virtserialport") == 0 || strcmp(drv, "virtconsole") == 0) &&
                opt_get(v, "name", buf, sizeof buf) && vmgate_port_name(buf) &&
                serial_id[0] == '\0')
                opt_get(v, "chardev", serial_id, sizeof serial_id);
            else if (strncmp(drv, "vhost-vsock-", 12) == 0 &&
                     opt_get(v, "guest-cid", buf, sizeof buf)) {
                unsigned long cid;
                if (!vg_parse_uint(buf, 3, 0xFFFFFFFEul, &cid)) {
                    snprintf(err, errlen, "-device %s: bad guest-cid '%s'", drv, buf);
                    return false;
                }
                snprintf(vsock, sizeof vsock, "vsock:%lu", cid);
            }
            i++;
        } else if (strcmp(o, "-qmp") == 0) {
            if (strncmp(v, "unix:", 5) == 0)
                snprintf(out->qmp, sizeof out->qmp, "%.*s", (int)strcspn(v + 5, ","), v + 5);
            i++;
        } else if (strcmp(o, "-mon") == 0) {
            if (opt_get(v, "mode", buf, sizeof buf) && strcmp(buf, "control") == 0)
                opt_get(v, "chardev", mon_id, sizeof mon_id);
            i++;
        }
    }
    for (size_t k = 0; k < ncd; k++) {
        if (serial_id[0] && strcmp(cd[k].id, serial_id) == 0)
            snprintf(out->channel, sizeof out->channel, "serial:%s", cd[k].path);
        if (mon_id[0] && out->qmp[0] == '\0' && strcmp(cd[k].id, mon_id) == 0)
            snprintf(out->qmp, sizeof out->qmp, "%s", cd[k].path);
    }
    if (serial_id[0] && out->channel[0] == '\0') {
        snprintf(err, errlen,
                 "virtserialport " REG_VMGATE_PORT_NAME "* uses chardev '%s', which "
                 "is not a -chardev socket with a path",
                 serial_id);
        return false;
    }
    if (out->channel[0] == '\0' && vsock[0])
        snprintf(out->channel, sizeof out->channel, "%s", vsock);
    if (out->name[0] == '\0') {
        snprintf(err, errlen, "no -name on the QEMU command line");
        return false;
    }
    return true;
}
