/* reg_hook — find a VM's name and channel where the hypervisor describes it.
 *
 * libvirt: the domain XML the qemu hook gets on stdin (the live XML at "started"):
 *     <channel type='unix'> <source mode='bind' path='P'/> <target type='virtio'
 * name='org.vmgate.0'/> → serial:P            (target names "org.vmgate" and "org.vmgate.*") <vsock
 * model='virtio'> <cid auto='…' address='N'/>     → vsock:N The vmgate channel wins over vsock when
 * a domain has both. <metadata> <vmgate:vm xmlns:vmgate="urn:vmgate:libvirt:1" ports="22,80"
 * allow-out="…"/> → the VM table keys named by the attributes (settable keys only, checked)
 *
 * QEMU: a qemu-system-* command line:
 *     -name [guest=]NAME[,…]
 *     -chardev socket,id=ID,path=P,… + -device virtserialport,chardev=ID,name=org.vmgate.*  →
 * serial:P -device vhost-vsock-pci|vhost-vsock-device|vhost-vsock-ccw,guest-cid=N                →
 * vsock:N -qmp unix:P[,…]  or  -chardev socket,id=ID,path=P + -mon chardev=ID,mode=control      →
 * qmp P
 */
#ifndef REG_HOOK_H
#define REG_HOOK_H

#include "reg_change.h"

#include <stdbool.h>
#include <stddef.h>

#define REG_VMGATE_PORT_NAME "org.vmgate"
#define REG_LIBVIRT_NS "urn:vmgate:libvirt:1"

struct reg_vmspec {
    char name[256];       /* as the hypervisor names the VM (not yet checked as a DNS name) */
    char channel[300];    /* "" when none found */
    char qmp[256];        /* "" when none found */
    struct reg_sets sets; /* libvirt metadata: VM table keys; the caller clears them */
};

bool reg_libvirt_parse(const char *xml, size_t len, struct reg_vmspec *out, char *err,
                       size_t errlen);
/* argv[0] is the QEMU binary. */
bool reg_qemu_parse(int argc, char *const *argv, struct reg_vmspec *out, char *err, size_t errlen);

#endif
