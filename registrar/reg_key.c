#include "reg_key.h"

#include "vg_alloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct lex {
    const char *p;
    unsigned line;
    char tok[600];
    bool quoted;
};

/* Next token into lx->tok: a word, a quoted string or one of "{};".  0 = end, -1 = error. */
static int lex_next(struct lex *lx, char *err, size_t errlen)
{
    const char *p = lx->p;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) {
            if (*p == '\n')
                lx->line++;
            p++;
        }
        if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (end == NULL) {
                snprintf(err, errlen, "line %u: unterminated comment", lx->line);
                return -1;
            }
            for (; p < end; p++)
                if (*p == '\n')
                    lx->line++;
            p = end + 2;
            continue;
        }
        break;
    }
    lx->quoted = false;
    if (*p == '\0') {
        lx->p = p;
        return 0;
    }
    size_t n = 0;
    if (*p == '{' || *p == '}' || *p == ';') {
        lx->tok[n++] = *p++;
    } else if (*p == '"') {
        lx->quoted = true;
        p++;
        while (*p && *p != '"' && *p != '\n') {
            if (n + 1 >= sizeof lx->tok) {
                snprintf(err, errlen, "line %u: string too long", lx->line);
                return -1;
            }
            lx->tok[n++] = *p++;
        }
        if (*p != '"') {
            snprintf(err, errlen, "line %u: unterminated string", lx->line);
            return -1;
        }
        p++;
    } else {
        while (*p && !isspace((unsigned char)*p) && !strchr("{};\"", *p)) {
            if (n + 1 >= sizeof lx->tok) {
                snprintf(err, errlen, "line %u: word too long", lx->line);
                return -1;
            }
            lx->tok[n++] = *p++;
        }
    }
    lx->tok[n] = '\0';
    lx->p = p;
    return 1;
}

static bool expect(struct lex *lx, const char *what, char *err, size_t errlen)
{
    int rc = lex_next(lx, err, errlen);
    if (rc < 0)
        return false;
    if (rc == 0 || lx->quoted || strcmp(lx->tok, what) != 0) {
        snprintf(err, errlen, "line %u: expected '%s', got '%s'", lx->line, what,
                 rc == 0 ? "end of file" : lx->tok);
        return false;
    }
    return true;
}

static bool base64_ok(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n == 0 || n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '=') {
            pad++;
            if (i < n - 2)
                return false;
        } else if (pad || !(isalnum(c) || c == '+' || c == '/')) {
            return false;
        }
    }
    return n / 4 * 3 - pad >= 16; /* at least 128 bits of key */
}

static bool key_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)s[i]) || s[i] == '\\')
            return false;
    return strstr(s, "..") == NULL && s[0] != '.';
}

bool reg_key_parse(const char *text, struct reg_key *key, char *err, size_t errlen)
{
    struct lex lx = {.p = text, .line = 1};
    memset(key, 0, sizeof *key);
    int rc = lex_next(&lx, err, errlen);
    if (rc < 0)
        return false;
    if (rc == 0 || lx.quoted || strcmp(lx.tok, "key") != 0) {
        snprintf(err, errlen, "line %u: expected 'key \"NAME\" { ... };'", lx.line);
        return false;
    }
    rc = lex_next(&lx, err, errlen);
    if (rc <= 0 || (!lx.quoted && strchr("{};", lx.tok[0]))) {
        if (rc == 0)
            snprintf(err, errlen, "line %u: key name missing", lx.line);
        else if (rc > 0)
            snprintf(err, errlen, "line %u: key name missing", lx.line);
        return false;
    }
    if (!key_name_ok(lx.tok)) {
        snprintf(err, errlen, "line %u: bad key name '%s'", lx.line, lx.tok);
        return false;
    }
    size_t namelen = strlen(lx.tok); /* <= 253 (key_name_ok): fits with the dot */
    memcpy(key->name, lx.tok, namelen);
    if (key->name[namelen - 1] != '.')
        key->name[namelen++] = '.';
    key->name[namelen] = '\0';
    if (!expect(&lx, "{", err, errlen))
        return false;
    for (;;) {
        rc = lex_next(&lx, err, errlen);
        if (rc < 0)
            return false;
        if (rc == 0) {
            snprintf(err, errlen, "line %u: missing '};' at end of key", lx.line);
            return false;
        }
        if (!lx.quoted && strcmp(lx.tok, "}") == 0)
            break;
        char opt[32]; /* longer names are no option we know: kept cut for the message */
        size_t optlen = strnlen(lx.tok, sizeof opt - 1);
        memcpy(opt, lx.tok, optlen);
        opt[optlen] = '\0';
        unsigned optline = lx.line;
        rc = lex_next(&lx, err, errlen);
        if (rc < 0)
            return false;
        if (rc == 0 || (!lx.quoted && strchr("{};", lx.tok[0]))) {
            snprintf(err, errlen, "line %u: '%s' needs a value", optline, opt);
            return false;
        }
        if (strcmp(opt, "algorithm") == 0) {
            char alg[32];
            size_t n = strlen(lx.tok);
            if (n > 0 && lx.tok[n - 1] == '.')
                n--;
            if (n >= sizeof alg)
                n = sizeof alg - 1;
            for (size_t i = 0; i < n; i++)
                alg[i] = (char)tolower((unsigned char)lx.tok[i]);
            alg[n] = '\0';
            if (strcmp(alg, "hmac-sha256") != 0 && strcmp(alg, "hmac-sha512") != 0) {
                snprintf(err, errlen,
                         "line %u: algorithm '%s' not supported (use hmac-sha256 or hmac-sha512)",
                         optline, lx.tok);
                return false;
            }
            snprintf(key->algorithm, sizeof key->algorithm, "%s.",
                     strcmp(alg, "hmac-sha256") == 0 ? "hmac-sha256" : "hmac-sha512");
        } else if (strcmp(opt, "secret") == 0) {
            if (!base64_ok(lx.tok)) {
                snprintf(err, errlen, "line %u: secret is not base64 of at least 16 octets",
                         optline);
                return false;
            }
            size_t secretlen = strlen(lx.tok);
            if (secretlen >= sizeof key->secret) {
                snprintf(err, errlen, "line %u: secret longer than %zu characters", optline,
                         sizeof key->secret - 1);
                return false;
            }
            memcpy(key->secret, lx.tok, secretlen + 1);
        } else {
            snprintf(err, errlen, "line %u: unknown key option '%s'", optline, opt);
            return false;
        }
        if (!expect(&lx, ";", err, errlen))
            return false;
    }
    if (!expect(&lx, ";", err, errlen))
        return false;
    if (key->algorithm[0] == '\0') {
        snprintf(err, errlen, "key %s has no algorithm", key->name);
        return false;
    }
    if (key->secret[0] == '\0') {
        snprintf(err, errlen, "key %s has no secret", key->name);
        return false;
    }
    return true;
}

bool reg_key_load(const char *path, struct reg_key *key, char *err, size_t errlen)
{
    char buf[8192], msg[256];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool toolong = !feof(f);
    fclose(f);
    if (toolong) {
        snprintf(err, errlen, "%s: file too large for a key file", path);
        return false;
    }
    buf[n] = '\0';
    if (!reg_key_parse(buf, key, msg, sizeof msg)) {
        snprintf(err, errlen, "%s: %s", path, msg);
        return false;
    }
    return true;
}
