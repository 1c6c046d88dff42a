/* vg_policy — the gateway's access policy: the one owner of the policy file format
 * ([gateway] policy-file, docs/policy.md) and of the decision made for each connection.
 *
 * One rule per line, first match wins, no match means deny:
 *
 *   # verdict  who                    VM (glob on the FQDN)   ports      options
 *   allow      user=alice             web*.vm.example.com     22,80,443
 *   allow      group=ops              *.vm.example.com        *          idle-timeout=600
 *   allow      user=bob,from=10.0.0.0/8  db.vm.example.com    5432       max-sessions=4
 *   deny       any                    *                       *
 *
 * who:   "any", or terms joined by ',' without blanks (all must hold): user=NAME, group=NAME,
 *        from=CIDR, vm=GLOB (the origin VM of a guest-opened stream); user= and vm= at most once.
 * VM:    a glob over the whole FQDN: '*' any run of characters (dots included), '?' one;
 *        letters, digits, '-', '_', '.'; case-insensitive.
 * ports: '*', or a ',' list of N and A-B (1..65535).
 * options (allow rules only, each at most once): idle-timeout=SEC, max-duration=SEC,
 *        max-sessions=N (per user).
 *
 * The parser is pure (text in, policy or "FILE:LINE: message" out); vg_policy_load adds only the
 * file read.  A loaded policy is immutable: a reload parses a new one and swaps pointers, and
 * any number of threads may call vg_policy_decide on one policy at once.  A decision does not
 * allocate: the rules are indexed by user= name, group= name, exact origin VM, exact target VM
 * name (globs without wildcards) and from= CIDR; only rules with none of those ("any" or vm=
 * globs on a wildcard VM glob) are scanned in order.  The lowest matching rule number over the
 * candidate lists wins, so the answer is always the first matching line.
 */
#ifndef VG_POLICY_H
#define VG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define VG_POLICY_MAX_FILE (16u << 20) /* bytes in a policy file */
#define VG_POLICY_MAX_LINE 4096        /* bytes in one line, newline excluded */
#define VG_POLICY_MAX_RULES 1000000
#define VG_POLICY_RULE_TEXT 160        /* vg_verdict.rule, NUL included (longer: cut, "...") */
#define VG_POLICY_MAX_SECONDS 31536000 /* idle-timeout, max-duration: 1 s .. 365 days */
#define VG_POLICY_MAX_SESSIONS 1000000

struct vg_policy; /* immutable once loaded */

/* Parse len bytes of text (need not be NUL-terminated).  fname only names the file in messages
 * (NULL: "policy").  NULL on error, with "FILE:LINE: message" (or "FILE: out of memory") in err.
 * A text without rules is a valid policy that denies everything. */
struct vg_policy *vg_policy_parse(const char *text, size_t len, const char *fname, char *err,
                                  size_t errlen);
/* Read path (symlinks followed; a regular file of at most VG_POLICY_MAX_FILE bytes) and parse it.
 * NULL with "PATH: reason" or "PATH:LINE: message" in err. */
struct vg_policy *vg_policy_load(const char *path, char *err, size_t errlen);
void vg_policy_free(struct vg_policy *p);
/* Number of rules (lines with a verdict). */
size_t vg_policy_rules(const struct vg_policy *p);

/* Who asks.  Every pointer is borrowed for the call only. */
struct vg_subject {
    const char *user;              /* authenticated user; NULL: anonymous */
    const char *groups;            /* the user's groups, "ops,dev" (no blanks); NULL: none.
                                      Ignored when user is NULL. */
    const struct sockaddr *client; /* the client's address (v4-mapped v6 matches v4 CIDRs);
                                      NULL for a guest-opened stream: from= never holds */
    const char *vm;                /* the origin VM's FQDN for a guest-opened stream, else NULL */
};

struct vg_verdict {
    bool allow;
    unsigned line;                  /* 1-based line of the deciding rule; 0: no rule matched */
    char rule[VG_POLICY_RULE_TEXT]; /* the deciding rule, normalised ("allow user=alice
                                       web*.vm.example.com 22,80,443"); for line 0:
                                       "default deny (no rule matched)" */
    unsigned idle_timeout, max_duration, max_sessions; /* 0: not set by the rule */
};

/* Decide for subject s asking for vm_fqdn (normalised: lower case, no trailing dot; NULL counts
 * as "") and port (0 matches only '*').  Always fills out. */
void vg_policy_decide(const struct vg_policy *p, const struct vg_subject *s, const char *vm_fqdn,
                      uint16_t port, struct vg_verdict *out);
/* The same decision by a plain scan of every rule in order, without the index: the reference
 * the tests and the fuzz target compare vg_policy_decide with. */
void vg_policy_decide_linear(const struct vg_policy *p, const struct vg_subject *s,
                             const char *vm_fqdn, uint16_t port, struct vg_verdict *out);

/* Does glob (the policy's VM syntax) match name?  Exposed for tests and `vmgatectl policy`. */
bool vg_policy_glob_match(const char *glob, const char *name);

#endif
