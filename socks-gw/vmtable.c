#include "vmtable.h"

#include "vg_alloc.h"
#include "vg_file.h"
#include "vg_name.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NBUCKETS 256

struct entry {
    struct entry *next;
    char name[VG_NAME_MAX + 1];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool broken;
    char why[300];
    struct vg_vm vm;
};

struct vg_vmtable {
    char *dir;
    struct entry *buckets[NBUCKETS];
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

struct vg_vmtable *vg_vmtable_new(const char *dir)
{
    struct vg_vmtable *t = vg_calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if ((t->dir = vg_strdup(dir)) == NULL) {
        vg_free(t);
        return NULL;
    }
    return t;
}

void vg_vmtable_free(struct vg_vmtable *t)
{
    if (t == NULL)
        return;
    for (unsigned i = 0; i < NBUCKETS; i++) {
        struct entry *e = t->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            vg_free(e);
        }
    }
    vg_free(t->dir);
    vg_free(t);
}

static void drop(struct vg_vmtable *t, unsigned b, const char *name)
{
    for (struct entry **pp = &t->buckets[b]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            struct entry *e = *pp;
            *pp = e->next;
            vg_free(e);
            return;
        }
    }
}

enum vg_vm_status vg_vmtable_lookup(struct vg_vmtable *t, const char *name, const struct vg_vm **vm,
                                    char *err, size_t errlen)
{
    unsigned b = hash(name);
    struct stat st;

    char path[4096];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    if (lstat(path, &st) != 0) {
        drop(t, b, name);
        if (errno == ENOENT || errno == ENOTDIR)
            return VG_VM_UNKNOWN;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return VG_VM_BROKEN;
    }
    if (!S_ISREG(st.st_mode)) {
        drop(t, b, name);
        snprintf(err, errlen, "%s: not a regular file", path);
        return VG_VM_BROKEN;
    }
    struct entry *e = t->buckets[b];
    while (e && strcmp(e->name, name) != 0)
        e = e->next;
    if (e && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
        e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec)
        goto found;

    size_t n = 0;
    char *text = vg_file_read(AT_FDCWD, path, VG_VMENTRY_MAX, &n);
    if (text == NULL && (errno == ENOENT || errno == ENOTDIR)) {
        drop(t, b, name);
        return VG_VM_UNKNOWN;
    }
    if (text == NULL && errno != EFBIG) {
        drop(t, b, name);
        snprintf(err, errlen, "%s: %s", path,
                 errno == EINVAL ? "not a regular file" : strerror(errno));
        return VG_VM_BROKEN;
    }
    if (e == NULL) {
        if ((e = vg_calloc(1, sizeof *e)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return VG_VM_BROKEN;
        }
        snprintf(e->name, sizeof e->name, "%s", name);
        e->next = t->buckets[b];
        t->buckets[b] = e;
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->mtime = st.st_mtim;
    /* an entry replaced between lstat and read is read again at the next lookup: its size or
     * inode differs from what is recorded here */
    e->size = text ? (off_t)n : st.st_size;
    if (text == NULL || strlen(text) != n) {
        e->broken = true;
        snprintf(e->why, sizeof e->why,
                 text ? "not a text file (NUL byte)" : "larger than %d bytes", VG_VMENTRY_MAX);
    } else {
        e->broken = !vg_vm_parse(text, &e->vm, e->why, sizeof e->why);
    }
    vg_free(text);
found:
    if (e->broken) {
        snprintf(err, errlen, "%s: %s", name, e->why);
        return VG_VM_BROKEN;
    }
    *vm = &e->vm;
    return VG_VM_OK;
}

void vg_vmtable_foreach(struct vg_vmtable *t, vg_vmtable_fn fn, void *arg)
{
    DIR *d = opendir(t->dir);
    struct dirent *de;
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char norm[VG_NAME_MAX + 1], err[400] = "";
        const struct vg_vm *vm = NULL;
        size_t n = strlen(de->d_name);
        if (vg_name_normalize(de->d_name, n, norm) != VG_NAME_OK || strcmp(norm, de->d_name) != 0)
            continue;
        enum vg_vm_status st = vg_vmtable_lookup(t, norm, &vm, err, sizeof err);
        if (st != VG_VM_UNKNOWN)
            fn(norm, st, st == VG_VM_OK ? vm : NULL, err, arg);
    }
    closedir(d);
}
