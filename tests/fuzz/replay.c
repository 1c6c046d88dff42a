/* replay — run a fuzz target's LLVMFuzzerTestOneInput over corpus files without libFuzzer.
 *
 *   replay_<target> [-v] PATH...
 *
 * Each PATH is a file or a directory whose regular files (not recursive, dot-files skipped)
 * are replayed in name order.  Every input is passed in a heap buffer of exactly its size, so
 * a sanitized build catches reads past the end.  A target aborts on a broken invariant; the
 * replay fails if a PATH cannot be read or if no input was found at all.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static bool verbose;

static int replay_file(const char *path)
{
    int ret = -1;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fprintf(stderr, "replay: %s: cannot stat\n", path);
        goto done;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        goto done;
    }
    if (size > 0 && fread(buf, 1, size, f) != size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto done;
    }
    if (verbose)
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(buf, size);
    ret = 0;
done:
    free(buf);
    if (f != NULL)
        fclose(f);
    return ret;
}

static int skip_dots(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Returns the number of inputs replayed, or -1. */
static long replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path) == 0 ? 1 : -1;

    struct dirent **names = NULL;
    int n = scandir(path, &names, skip_dots, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    long count = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        int w = snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
        struct stat fst;
        if (count >= 0 && w > 0 && (size_t)w < sizeof full && stat(full, &fst) == 0 &&
            S_ISREG(fst.st_mode))
            count = replay_file(full) == 0 ? count + 1 : -1;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;
    int paths = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = true;
            continue;
        }
        paths++;
        long n = replay_path(argv[i]);
        if (n < 0)
            return 1;
        total += n;
    }
    if (paths == 0) {
        fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replay: %ld inputs, all passed\n", total);
    return 0;
}
