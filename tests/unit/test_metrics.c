/* Unit tests for socks-gw/metrics.c: the registry and its Prometheus text exposition.
 *
 * The golden text (tests/unit/metrics.golden) is the contract of docs/operations.md "Metrics":
 * every name, label, type and help text.  ctest also runs `promtool check metrics` on it
 * (unit.metrics.promtool).  Regenerate it only on purpose:
 *   VMGATE_GOLDEN_WRITE=1 test_metrics   (then review the diff)
 */
#include "metrics.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t serial_up(void *arg)
{
    return *(uint64_t *)arg;
}

/* A registry with something in every family (and the edge cases of the histograms). */
static void fill(void)
{
    static uint64_t up = 2, drops = 5;
    gw_metrics_reset();
    gw_metrics_session_start(GW_MF_SOCKS5, GW_MC_TCP);
    gw_metrics_session_start(GW_MF_SOCKS5, GW_MC_TCP);
    gw_metrics_session_end(GW_MF_SOCKS5, GW_MC_TCP, 100, 2000);
    gw_metrics_session_start(GW_MF_HOP, GW_MC_FORWARD);
    gw_metrics_session_start(GW_MF_HTTPS, GW_MC_SERIAL);
    gw_metrics_session_end(GW_MF_HTTPS, GW_MC_SERIAL, 7, 0);
    gw_metrics_session_start(GW_MF_COUNT, GW_MC_TCP);       /* ignored */
    gw_metrics_session_end(GW_MF_GUEST, GW_MC_VSOCK, 1, 1); /* never started: stays 0 */
    for (int i = 0; i < 3; i++)
        gw_metrics_refused(VG_OUT_NO_SUCH_VM);
    gw_metrics_refused(VG_OUT_NOT_ALLOWED);
    gw_metrics_refused(VG_OUT_OK);    /* not a refusal */
    gw_metrics_refused(VG_OUT_COUNT); /* outside the enum */
    gw_metrics_handshake_seconds(0.0005);
    gw_metrics_handshake_seconds(0.001); /* on a bound: counted in it (le) */
    gw_metrics_handshake_seconds(0.75);
    gw_metrics_handshake_seconds(100); /* above every bound: +Inf only */
    gw_metrics_handshake_seconds(-1);  /* ignored */
    gw_metrics_connect_seconds(0.25);
    gw_metrics_auth_failed();
    gw_metrics_auth_failed();
    gw_metrics_set_source(GW_MS_SERIAL_SESSIONS_UP, serial_up, &up);
    gw_metrics_set_source(GW_MS_AUDIT_DROPS, serial_up, &drops);
    gw_metrics_refresh();
}

static char *golden_path(void)
{
    static char p[1024];
    const char *src = getenv("VMGATE_SRC");
    snprintf(p, sizeof p, "%s/tests/unit/metrics.golden", src ? src : ".");
    return p;
}

Test(metrics, exposition_matches_the_golden_text)
{
    fill();
    static char out[65536];
    size_t n = gw_metrics_format(gw_metrics_get(), out, sizeof out);
    cr_assert_lt(n, sizeof out);
    cr_assert_eq(n, strlen(out));
    if (getenv("VMGATE_GOLDEN_WRITE")) {
        FILE *f = fopen(golden_path(), "w");
        cr_assert_not_null(f);
        fwrite(out, 1, n, f);
        fclose(f);
    }
    static char want[65536];
    FILE *f = fopen(golden_path(), "r");
    cr_assert_not_null(f, "%s (set VMGATE_SRC)", golden_path());
    size_t wn = fread(want, 1, sizeof want - 1, f);
    fclose(f);
    want[wn] = '\0';
    /* the first differing line, for a readable failure */
    const char *a = out, *b = want;
    while (*a && *a == *b)
        a++, b++;
    while (a > out && a[-1] != '\n')
        a--, b--;
    cr_assert_str_eq(out, want, "first difference:\n got: %.120s\nwant: %.120s", a, b);
}

Test(metrics, families_and_values)
{
    fill();
    static char out[65536];
    gw_metrics_format(gw_metrics_get(), out, sizeof out);
    const char *must[] = {
        "# TYPE vmgate_sessions_active gauge\n",
        "vmgate_sessions_active{front=\"socks5\",channel=\"tcp\"} 1\n",
        "vmgate_sessions_active{front=\"hop\",channel=\"forward\"} 1\n",
        "vmgate_sessions_active{front=\"guest\",channel=\"vsock\"} 0\n",
        "vmgate_sessions_total{front=\"socks5\",channel=\"tcp\"} 2\n",
        "vmgate_sessions_total{front=\"https\",channel=\"serial\"} 1\n",
        "vmgate_sessions_refused_total{reason=\"no_such_vm\"} 3\n",
        "vmgate_sessions_refused_total{reason=\"not_allowed\"} 1\n",
        "vmgate_sessions_refused_total{reason=\"overloaded\"} 0\n",
        "vmgate_relayed_bytes_total{direction=\"up\"} 108\n",
        "vmgate_relayed_bytes_total{direction=\"down\"} 2001\n",
        "# TYPE vmgate_handshake_duration_seconds histogram\n",
        "vmgate_handshake_duration_seconds_bucket{le=\"0.001\"} 2\n",
        "vmgate_handshake_duration_seconds_bucket{le=\"0.5\"} 2\n",
        "vmgate_handshake_duration_seconds_bucket{le=\"1\"} 3\n",
        "vmgate_handshake_duration_seconds_bucket{le=\"30\"} 3\n",
        "vmgate_handshake_duration_seconds_bucket{le=\"+Inf\"} 4\n",
        "vmgate_handshake_duration_seconds_sum 100.7515\n",
        "vmgate_handshake_duration_seconds_count 4\n",
        "vmgate_channel_connect_duration_seconds_bucket{le=\"0.1\"} 0\n",
        "vmgate_channel_connect_duration_seconds_bucket{le=\"0.25\"} 1\n",
        "vmgate_channel_connect_duration_seconds_sum 0.25\n",
        "vmgate_serial_agent_sessions_up 2\n",
        "vmgate_auth_failures_total 2\n",
        "vmgate_audit_events_dropped_total 5\n",
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        cr_assert_not_null(strstr(out, must[i]), "missing: %s", must[i]);
    cr_assert_null(strstr(out, "reason=\"ok\""));
    /* no per-user or per-session labels, and nothing but the fixed families */
    cr_assert_null(strstr(out, "user="));
    size_t helps = 0;
    for (const char *p = out; (p = strstr(p, "# HELP ")); p++)
        helps++;
    cr_assert_eq(helps, 9);
}

Test(metrics, format_is_snprintf_like)
{
    fill();
    static char full[65536], small[100];
    size_t n = gw_metrics_format(gw_metrics_get(), full, sizeof full);
    size_t m = gw_metrics_format(gw_metrics_get(), small, sizeof small);
    cr_assert_eq(m, n);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert(strncmp(small, full, sizeof small - 1) == 0);
    cr_assert_eq(gw_metrics_format(gw_metrics_get(), NULL, 0), n);
    gw_metrics_reset();
    n = gw_metrics_format(gw_metrics_get(), full, sizeof full);
    cr_assert_not_null(strstr(full, "vmgate_auth_failures_total 0\n"));
    cr_assert_not_null(strstr(full, "vmgate_handshake_duration_seconds_sum 0\n"));
}

Test(metrics, label_names)
{
    cr_assert_str_eq(gw_metrics_front_name(GW_MF_HTTPS), "https");
    cr_assert_str_eq(gw_metrics_chan_name(GW_MC_VSOCK_MUX), "vsock-mux");
    cr_assert_str_eq(gw_metrics_reason_name(VG_OUT_HANDSHAKE_TIMEOUT), "handshake_timeout");
    cr_assert_null(gw_metrics_reason_name(VG_OUT_OK));
    cr_assert_null(gw_metrics_front_name(GW_MF_COUNT));
    cr_assert_null(gw_metrics_chan_name(GW_MC_COUNT));
}
