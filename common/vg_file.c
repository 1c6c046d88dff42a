#include "vg_file.h"

#include "vg_alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool vg_file_mkdirs(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "%s: path too long", path);
        return false;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0750) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
                return false;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return true;
}

static bool tmp_name(char *buf, size_t len, const char *name)
{
    int w = snprintf(buf, len, ".%s.%ld.tmp", name, (long)getpid());
    return w > 0 && (size_t)w < len;
}

static bool write_one(int dfd, const char *tmp, const char *text, bool sync_each, char *err,
                      size_t errlen)
{
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return false;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "write %s: %s", tmp, w < 0 ? strerror(errno) : "no progress");
            goto fail;
        }
        off += (size_t)w;
    }
    if (sync_each && fsync(fd) < 0) {
        snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
        goto fail;
    }
    return true;
fail:
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, tmp, 0);
    return false;
}

bool vg_file_write(const char *dir, const char *const *names, const char *const *texts, size_t n,
                   char *err, size_t errlen)
{
    bool ok = false;
    size_t written = 0;
    char tmp[512];
    int dfd;
    if (n == 0)
        return true;
    if (!vg_file_mkdirs(dir, err, errlen))
        return false;
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return false;
    }
    bool sync_each = n <= 4;
    for (; written < n; written++) {
        if (!tmp_name(tmp, sizeof tmp, names[written])) {
            snprintf(err, errlen, "%s: name too long", names[written]);
            goto done;
        }
        if (!write_one(dfd, tmp, texts[written], sync_each, err, errlen))
            goto done;
    }
    if (!sync_each && syncfs(dfd) < 0) {
        snprintf(err, errlen, "syncfs %s: %s", dir, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        tmp_name(tmp, sizeof tmp, names[i]);
        if (renameat(dfd, tmp, dfd, names[i]) < 0) {
            snprintf(err, errlen, "rename %s/%s: %s", dir, names[i], strerror(errno));
            goto done;
        }
    }
    written = 0; /* all renamed: no temporary file left to remove */
    if (fsync(dfd) < 0) {
        snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
        goto done;
    }
    ok = true;
done:
    for (size_t i = 0; i < written; i++) {
        tmp_name(tmp, sizeof tmp, names[i]);
        unlinkat(dfd, tmp, 0);
    }
    close(dfd);
    return ok;
}

bool vg_file_remove(const char *dir, const char *const *names, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return true;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT)
            return true;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = true, changed = false;
    for (size_t i = 0; i < n; i++) {
        if (unlinkat(dfd, names[i], 0) == 0)
            changed = true;
        else if (errno != ENOENT) {
            snprintf(err, errlen, "unlink %s/%s: %s", dir, names[i], strerror(errno));
            ok = false;
        }
    }
    if (changed && fsync(dfd) < 0 && ok) {
        snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
        ok = false;
    }
    close(dfd);
    return ok;
}

char *vg_file_read(int dirfd, const char *path, size_t max, size_t *len)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    if ((size_t)st.st_size > max) {
        errno = EFBIG;
        goto fail;
    }
    if ((buf = vg_malloc(max + 1)) == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) { /* grew while we read */
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
fail : {
    int e = errno;
    vg_free(buf);
    close(fd);
    errno = e;
    return NULL;
}
}
