/* vg_mux_bridge — relay between a connected socket fd and a vg_mux stream, both ways.
 *
 * Backpressure: the fd is not read while the stream has more than VG_MUX_BRIDGE_HIGH bytes
 * queued (reading resumes on VG_MUX_DRAINED); the stream's input is only drained as fast as the
 * fd takes it, so a slow fd stops the window updates and thereby the peer's sender.
 *
 * Half-close is exact: EOF on the fd → FIN on the stream (after the queued bytes); FIN from the
 * peer → shutdown(fd, SHUT_WR) once everything received was written.  The relay is finished when
 * both directions are closed (err == NULL), or on the first error: a read/write error on the fd,
 * a stream reset, or the session ending (err says which).
 *
 * Ownership: on success the bridge owns the fd and the stream (and replaces the stream's
 * callbacks); on failure (NULL) both stay the caller's.  `done` is called exactly once, from the
 * event loop, never from vg_mux_bridge_new(); the caller then calls vg_mux_bridge_free() (also
 * allowed inside `done`), which closes the fd and frees the stream: after a clean finish the
 * stream's queued bytes and FIN still go out (vg_mux_stream_free lingers), after an error or
 * before `done` the stream is reset and the fd is closed with a TCP reset (SO_LINGER 0), so both
 * ends learn that the relay was aborted rather than finished.
 *
 * Bytes already in the stream's input buffer when the bridge starts (e.g. after a preamble line)
 * are written to the fd first; a stream that already saw EOF is handled as such.
 */
#ifndef VG_MUX_BRIDGE_H
#define VG_MUX_BRIDGE_H

#include <stdint.h>

struct event_base;
struct vg_mux_stream;
struct vg_mux_bridge;

#define VG_MUX_BRIDGE_HIGH (128u * 1024u) /* stream bytes queued above which the fd is not read */

/* fd_to_stream / stream_to_fd: bytes relayed each way; err: NULL after a clean end, else a
 * short text valid during the call. */
typedef void (*vg_mux_bridge_done_fn)(struct vg_mux_bridge *b, uint64_t fd_to_stream,
                                      uint64_t stream_to_fd, const char *err, void *arg);

struct vg_mux_bridge *vg_mux_bridge_new(struct event_base *base, int fd, struct vg_mux_stream *s,
                                        vg_mux_bridge_done_fn done, void *arg);
void vg_mux_bridge_free(struct vg_mux_bridge *b);

/* Idle timeout: when no byte moved either way for `secs` seconds, the relay ends with err
 * "idle timeout" (an abort, as any error: reset stream, fd closed with a reset).  0 = never, the
 * default.  May be called again to change it; the quiet time counts from the call.  0, or -1 when
 * out of memory (the bridge then has no timeout). */
int vg_mux_bridge_set_idle(struct vg_mux_bridge *b, unsigned secs);

/* Bytes relayed so far (fd → stream, stream → fd) and the vg_now_coarse_s() of the last ones
 * (of the bridge's start while none moved). */
void vg_mux_bridge_bytes(const struct vg_mux_bridge *b, uint64_t *fd_to_stream,
                         uint64_t *stream_to_fd, uint64_t *last);

#endif
