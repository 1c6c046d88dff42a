#include "vg_kvfile.h"

#include "vg_alloc.h"

#include <stdio.h>
#include <string.h>

/* One line of the file.  key != NULL: a "key = value" line, value and comment (the trailing
 * comment with the white space before it, or NULL) live; key == NULL: text is the verbatim
 * line (blank or comment). */
struct kvline {
    char *key;
    char *value;
    char *comment;
    char *text;
};

struct vg_kvfile {
    struct kvline *v;
    size_t n, cap;
};

struct vg_kvfile *vg_kvfile_new(void)
{
    return vg_calloc(1, sizeof(struct vg_kvfile));
}

static void line_clear(struct kvline *l)
{
    vg_free(l->key);
    vg_free(l->value);
    vg_free(l->comment);
    vg_free(l->text);
    memset(l, 0, sizeof *l);
}

void vg_kvfile_free(struct vg_kvfile *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        line_clear(&f->v[i]);
    vg_free(f->v);
    vg_free(f);
}

static struct kvline *push(struct vg_kvfile *f)
{
    if (!vg_grow(&f->v, &f->cap, f->n, sizeof *f->v, 16))
        return NULL;
    struct kvline *l = &f->v[f->n++];
    memset(l, 0, sizeof *l);
    return l;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool vg_kvfile_key_ok(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!key_char(key[i]))
            return false;
    return true;
}

static struct kvline *find(const struct vg_kvfile *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].key && strcmp(f->v[i].key, key) == 0)
            return &f->v[i];
    return NULL;
}

/* Lex one line [s, e) into l; false with a message in err. */
static bool lex_line(struct vg_kvfile *f, const char *s, const char *e, unsigned lineno, char *err,
                     size_t errlen)
{
    struct kvline *l;
    const char *p = s;
    while (e > s && e[-1] == '\r') /* CRLF files; what is left must print back the same */
        e--;
    while (p < e && blank(*p))
        p++;
    if (p == e || *p == '#' || *p == ';') {
        if ((l = push(f)) == NULL || (l->text = vg_strndup(s, (size_t)(e - s))) == NULL)
            goto oom;
        return true;
    }
    const char *k = p;
    while (p < e && key_char(*p))
        p++;
    const char *ke = p;
    while (p < e && blank(*p))
        p++;
    if (ke == k || ke - k > 32 || p == e || *p != '=') {
        snprintf(err, errlen, "line %u: expected key = value", lineno);
        return false;
    }
    p++;
    while (p < e && blank(*p))
        p++;
    const char *v = p, *c = NULL;
    for (const char *q = p; q < e; q++) {
        if ((*q == '#' || *q == ';') && (q == v || blank(q[-1]))) {
            c = q;
            break;
        }
    }
    const char *ve = c ? c : e;
    while (ve > v && blank(ve[-1]))
        ve--;
    char key[33];
    memcpy(key, k, (size_t)(ke - k));
    key[ke - k] = '\0';
    if (find(f, key)) {
        snprintf(err, errlen, "line %u: '%s' given twice", lineno, key);
        return false;
    }
    if ((l = push(f)) == NULL || (l->key = vg_strdup(key)) == NULL ||
        (l->value = vg_strndup(v, (size_t)(ve - v))) == NULL)
        goto oom;
    if (c && (l->comment = vg_strndup(ve, (size_t)(e - ve))) == NULL)
        goto oom;
    return true;
oom:
    snprintf(err, errlen, "out of memory");
    return false;
}

struct vg_kvfile *vg_kvfile_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct vg_kvfile *f = vg_kvfile_new();
    unsigned lineno = 0;
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "not a text file (NUL byte)");
        goto fail;
    }
    for (const char *s = text, *end = text + len; s < end;) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (e == NULL)
            e = end;
        if (!lex_line(f, s, e, ++lineno, err, errlen))
            goto fail;
        s = e + 1;
    }
    return f;
fail:
    vg_kvfile_free(f);
    return NULL;
}

const char *vg_kvfile_get(const struct vg_kvfile *f, const char *key)
{
    const struct kvline *l = find(f, key);
    return l ? l->value : NULL;
}

unsigned vg_kvfile_line(const struct vg_kvfile *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].key && strcmp(f->v[i].key, key) == 0)
            return (unsigned)i + 1;
    return 0;
}

bool vg_kvfile_key(const struct vg_kvfile *f, size_t i, const char **key, const char **value)
{
    for (size_t j = 0; j < f->n; j++) {
        if (f->v[j].key == NULL)
            continue;
        if (i-- == 0) {
            *key = f->v[j].key;
            *value = f->v[j].value;
            return true;
        }
    }
    return false;
}

bool vg_kvfile_set(struct vg_kvfile *f, const char *key, const char *value)
{
    struct kvline *l = find(f, key);
    if (!vg_kvfile_key_ok(key))
        return false;
    if (value == NULL) {
        if (l) {
            line_clear(l);
            memmove(l, l + 1, (size_t)(f->v + f->n - (l + 1)) * sizeof *l);
            f->n--;
        }
        return true;
    }
    size_t vn = strlen(value);
    if (strpbrk(value, "\r\n") != NULL || (vn > 0 && (blank(value[0]) || blank(value[vn - 1]))))
        return false;
    for (size_t i = 0; i < vn; i++) /* it must read back as the same value, no comment */
        if ((value[i] == '#' || value[i] == ';') && (i == 0 || blank(value[i - 1])))
            return false;
    char *d = vg_strdup(value);
    if (d == NULL)
        return false;
    if (l == NULL) {
        if ((l = push(f)) == NULL || (l->key = vg_strdup(key)) == NULL) {
            if (l)
                f->n--;
            vg_free(d);
            return false;
        }
    }
    vg_free(l->value);
    l->value = d;
    return true;
}

bool vg_kvfile_comment(struct vg_kvfile *f, const char *text)
{
    size_t n = strlen(text);
    if (strpbrk(text, "\r\n") != NULL)
        return false;
    struct kvline *l = push(f);
    if (l == NULL)
        return false;
    if ((l->text = vg_malloc(n + 3)) == NULL) {
        f->n--;
        return false;
    }
    snprintf(l->text, n + 3, "%s%s", text[0] == '#' ? "" : "# ", text);
    return true;
}

char *vg_kvfile_format(const struct vg_kvfile *f, size_t *len)
{
    size_t total = 1;
    for (size_t i = 0; i < f->n; i++) {
        const struct kvline *l = &f->v[i];
        total += l->key
                     ? strlen(l->key) + 3 + strlen(l->value) + (l->comment ? strlen(l->comment) : 0)
                     : strlen(l->text);
        total++;
    }
    char *out = vg_malloc(total), *p = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < f->n; i++) {
        const struct kvline *l = &f->v[i];
        if (l->key)
            p += sprintf(p, "%s = %s%s\n", l->key, l->value, l->comment ? l->comment : "");
        else
            p += sprintf(p, "%s\n", l->text);
    }
    *p = '\0';
    if (len)
        *len = (size_t)(p - out);
    return out;
}
