#!/usr/bin/env python3
"""Host-side checks against the vmgate test VM's raw virtio-serial port (a unix socket that QEMU
listens on: -chardev socket,server=on).  The guest runs vmgate-echo (kernel cmdline vmgate.mode=echo).

  vmhost.py roundtrip SOCK [--timeout S]        send a line, expect it back; prints "RTT <ms>"
  vmhost.py transfer SOCK --bytes N [--chunk C] [--seed K]
        stream N deterministic bytes through the echo while reading them back; prints
        "BYTES n SECONDS s MIBPS m SHA256_SENT x SHA256_RECV y" and exits 1 when they differ
  vmhost.py latency SOCK [--count N]            N one-byte ping-pongs; prints p50/p99 in µs
  vmhost.py qmp QMPSOCK CMD [JSON-ARGS]          one QMP command; prints the "return" value as JSON
  vmhost.py yamux-ping SOCK [--timeout S]       agent mode: a yamux Ping (SYN) must come back as
                                                Ping ACK with the same opaque value; prints "PONG <ms>"
  vmhost.py streams --gw HOST:PORT --name VM [--port 7000] [--streams N] [--bytes B] [--mode source|echo]
        N parallel SOCKS5 tunnels through a gateway to the guest's test service (vmgate-echo
        --serve): "SOURCE B" downloads B bytes of the deterministic stream (checked against
        source_digest()), "echo" sends B random bytes through ECHO while reading them back,
        "http" GETs --path (busybox httpd: --port 80) and checks a B-byte body against --sha.  All
        tunnels are opened first, then started together.  Prints per stream "STREAM i BYTES n
        SECONDS s MIBPS m SHARE x SHA ok|BAD" (SHARE = its MiB/s / the mean), then
        "PROGRESS_AT_FIRST_DONE min/max r" (bytes of the slowest / the fastest stream when the
        first one finished), "SPREAD_PCT p" (largest |SHARE - 1| in %), "TOTAL BYTES n SECONDS s
        MIBPS m" (all streams, first start to last end); exit 1 on any failure.

Connecting right after QEMU starts is fine: QEMU holds what the host writes until the guest opens
the port, so the first round trip also measures the boot.
"""
import argparse
import hashlib
import random
import socket
import sys
import threading
import time


def connect(path, timeout):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise EOFError("connection closed after %d of %d bytes" % (len(out), n))
        out += b
    return bytes(out)


def cmd_roundtrip(a):
    s = connect(a.sock, a.timeout)
    s.settimeout(a.timeout)
    msg = b"vmgate-ping %d\n" % random.getrandbits(32)
    t = time.monotonic()
    s.sendall(msg)
    got = recv_exact(s, len(msg))
    ms = (time.monotonic() - t) * 1000
    s.close()
    if got != msg:
        print("MISMATCH sent %r got %r" % (msg, got))
        return 1
    print("RTT %.1f ms" % ms)
    return 0


def cmd_transfer(a):
    # the data and its digest are made before the clock starts; the receiver fills a
    # preallocated buffer, hashed after the clock stops: the host does little while timed
    data = memoryview(random.Random(a.seed).randbytes(a.bytes))
    sent = hashlib.sha256(data).hexdigest()
    back = bytearray(a.bytes)
    s = connect(a.sock, a.timeout)
    s.settimeout(a.timeout)
    got = [0]
    err = []

    def reader():
        mv = memoryview(back)
        try:
            while got[0] < a.bytes:
                n = s.recv_into(mv[got[0]:], min(1 << 20, a.bytes - got[0]))
                if n == 0:
                    raise EOFError("closed after %d bytes" % got[0])
                got[0] += n
        except Exception as e:  # reported below
            err.append(e)

    t0 = time.monotonic()
    th = threading.Thread(target=reader)
    th.start()
    try:
        for off in range(0, a.bytes, a.chunk):
            s.sendall(data[off:off + a.chunk])
    except Exception as e:
        err.append(e)
    th.join(a.timeout)
    dt = time.monotonic() - t0
    s.close()
    if th.is_alive():
        err.append(TimeoutError("reader still waiting after %d of %d bytes" % (got[0], a.bytes)))
    mibps = got[0] / dt / (1 << 20) if dt > 0 else 0.0
    recv = hashlib.sha256(back[:got[0]]).hexdigest()
    print("BYTES %d SECONDS %.3f MIBPS %.1f SHA256_SENT %s SHA256_RECV %s" % (got[0], dt, mibps, sent, recv))
    if err:
        print("ERROR %s" % err[0])
        return 1
    return 0 if sent == recv else 1


def cmd_latency(a):
    s = connect(a.sock, a.timeout)
    s.settimeout(a.timeout)
    s.sendall(b"w")  # warm up
    recv_exact(s, 1)
    v = []
    for i in range(a.count):
        t = time.perf_counter()
        s.sendall(b"x")
        recv_exact(s, 1)
        v.append((time.perf_counter() - t) * 1e6)
    s.close()
    v.sort()
    print("COUNT %d P50_US %.0f P99_US %.0f" % (len(v), v[len(v) // 2], v[min(len(v) - 1, len(v) * 99 // 100)]))
    return 0


def cmd_qmp(a):
    import json
    s = connect(a.sock, a.timeout)
    s.settimeout(a.timeout)
    f = s.makefile("rwb")

    def reply():
        while True:
            m = json.loads(f.readline())
            if "return" in m or "error" in m:
                return m

    json.loads(f.readline())  # greeting
    f.write(b'{"execute":"qmp_capabilities"}\n')
    f.flush()
    reply()
    cmd = {"execute": a.command}
    if a.args:
        cmd["arguments"] = json.loads(a.args)
    f.write(json.dumps(cmd).encode() + b"\n")
    f.flush()
    m = reply()
    s.close()
    if "error" in m:
        print("ERROR %s" % json.dumps(m["error"]))
        return 1
    print(json.dumps(m["return"]))
    return 0


def cmd_yamux_ping(a):
    import struct
    s = connect(a.sock, a.timeout)
    s.settimeout(a.timeout)
    opaque = random.getrandbits(32)
    t = time.monotonic()
    s.sendall(struct.pack(">BBHII", 0, 2, 1, 0, opaque))  # version 0, type Ping, flags SYN
    buf = b""
    while True:
        while len(buf) < 12:
            b = s.recv(65536)
            if not b:
                print("CLOSED before the Ping ACK")
                return 1
            buf += b
        ver, typ, flags, sid, length = struct.unpack(">BBHII", buf[:12])
        if ver != 0:
            print("BAD FRAME %s" % buf[:12].hex())
            return 1
        if typ == 0:  # Data: skip the header and its payload
            while len(buf) < 12 + length:
                b = s.recv(65536)
                if not b:
                    print("CLOSED in a data frame")
                    return 1
                buf += b
            buf = buf[12 + length:]
            continue
        buf = buf[12:]
        if typ == 2 and flags & 2 and length == opaque:
            print("PONG %.1f ms" % ((time.monotonic() - t) * 1000))
            s.close()
            return 0
        # anything else (window updates, the agent's own SYNs or pings): ignored


def source_block(k):
    """Block k of vmgate-echo's SOURCE stream (tests/vm/vmgate-echo.c)"""
    b = bytearray((j * 131 + (j >> 8) * 7) & 0xFF for j in range(65536))
    b[0:16] = b"%015d\n" % (k % 10**15)
    return b


def source_digest(n):
    h = hashlib.sha256()
    b = source_block(0)
    k = 0
    while n > 0:
        b[0:16] = b"%015d\n" % (k % 10**15)
        c = min(n, 65536)
        h.update(b[:c])
        n -= c
        k += 1
    return h.hexdigest()


def socks5_open(gw, name, port, timeout):
    import struct
    host, _, p = gw.rpartition(":")
    s = socket.create_connection((host.strip("[]"), int(p)), timeout=timeout)
    s.settimeout(timeout)
    nb = name.encode()
    s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00\x03" + bytes([len(nb)]) + nb + struct.pack(">H", port))
    m = recv_exact(s, 2)
    if m != b"\x05\x00":
        raise OSError("method reply %s" % m.hex())
    r = recv_exact(s, 4)
    alen = {1: 4, 4: 16}.get(r[3])
    if alen is None:
        alen = recv_exact(s, 1)[0]
    recv_exact(s, alen + 2)
    return s, r[1]


def cmd_streams(a):
    want = source_digest(a.bytes) if a.mode == "source" else None
    n = a.streams
    socks = []
    for i in range(n):
        s, rep = socks5_open(a.gw, a.name, a.port, a.timeout)
        if rep != 0:
            print("STREAM %d REP 0x%02x" % (i, rep))
            return 1
        socks.append(s)
    got = [0] * n
    t_start = [0.0] * n
    t_end = [0.0] * n
    ok = [False] * n
    errs = [""] * n
    snap = []
    lock = threading.Lock()
    go = threading.Barrier(n + 1)

    def run(i):
        s = socks[i]
        h = hashlib.sha256()
        try:
            go.wait()
            t_start[i] = time.monotonic()
            if a.mode == "source":
                s.sendall(b"SOURCE %d\n" % a.bytes)
            elif a.mode == "http":
                s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % a.path.encode())
            else:
                data = random.Random(i).randbytes(a.bytes)
                want_i = hashlib.sha256(data).hexdigest()
                s.sendall(b"ECHO\n")

                def writer():
                    try:
                        for off in range(0, a.bytes, 256 * 1024):
                            s.sendall(data[off:off + 256 * 1024])
                        s.shutdown(socket.SHUT_WR)
                    except OSError as e:
                        errs[i] = "send: %s" % e
                threading.Thread(target=writer, daemon=True).start()
            buf = bytearray(1 << 20)
            mv = memoryview(buf)
            head = b"" if a.mode == "http" else None  # http: the response head, until its end
            body = 0
            while True:
                k = s.recv_into(mv)
                if k == 0:
                    break
                got[i] += k
                if head is not None:
                    head += bytes(mv[:k])
                    end = head.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    rest = head[end + 4:]
                    head = None
                    h.update(rest)
                    body += len(rest)
                    continue
                h.update(mv[:k])
                body += k
            t_end[i] = time.monotonic()
            with lock:
                if not snap:
                    snap.append(list(got))
            if a.mode == "http":
                ok[i] = body == a.bytes and (not a.sha or h.hexdigest() == a.sha)
            else:
                ok[i] = got[i] == a.bytes and h.hexdigest() == (want if want else want_i)
            if not ok[i] and not errs[i]:
                errs[i] = "got %d of %d bytes, sha256 %s" % (got[i], a.bytes,
                                                            "equal" if h.hexdigest() == (want or want_i) else "differs")
        except Exception as e:  # reported below
            t_end[i] = time.monotonic()
            errs[i] = "%s after %d bytes" % (e, got[i])
        finally:
            s.close()

    ths = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ths:
        t.start()
    go.wait()
    for t in ths:
        t.join()
    rates = []
    for i in range(n):
        dt = max(t_end[i] - t_start[i], 1e-9)
        rates.append(got[i] / dt / (1 << 20))
    mean = sum(rates) / n
    for i in range(n):
        print("STREAM %d BYTES %d SECONDS %.3f MIBPS %.2f SHARE %.3f SHA %s%s"
              % (i, got[i], t_end[i] - t_start[i], rates[i], rates[i] / mean if mean else 0,
                 "ok" if ok[i] else "BAD", (" ERROR " + errs[i]) if errs[i] else ""))
    if n > 1 and snap and max(snap[0]) > 0:
        print("PROGRESS_AT_FIRST_DONE min/max %.3f" % (min(snap[0]) / max(snap[0])))
    print("SPREAD_PCT %.1f" % (max(abs(r / mean - 1) for r in rates) * 100 if mean else 100))
    total = sum(got)
    dt = max(t_end) - min(t_start)
    print("TOTAL BYTES %d SECONDS %.3f MIBPS %.2f" % (total, dt, total / dt / (1 << 20)))
    return 0 if all(ok) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("roundtrip")
    r.add_argument("sock")
    r.add_argument("--timeout", type=float, default=60)
    t = sub.add_parser("transfer")
    t.add_argument("sock")
    t.add_argument("--bytes", type=int, required=True)
    t.add_argument("--chunk", type=int, default=256 * 1024)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--timeout", type=float, default=120)
    l = sub.add_parser("latency")
    l.add_argument("sock")
    l.add_argument("--count", type=int, default=200)
    l.add_argument("--timeout", type=float, default=30)
    q = sub.add_parser("qmp")
    q.add_argument("sock")
    q.add_argument("command")
    q.add_argument("args", nargs="?")
    q.add_argument("--timeout", type=float, default=30)
    y = sub.add_parser("yamux-ping")
    y.add_argument("sock")
    y.add_argument("--timeout", type=float, default=120)
    st = sub.add_parser("streams")
    st.add_argument("--gw", required=True)
    st.add_argument("--name", required=True)
    st.add_argument("--port", type=int, default=7000)
    st.add_argument("--streams", type=int, default=8)
    st.add_argument("--bytes", type=int, default=10 << 20)
    st.add_argument("--mode", choices=["source", "echo", "http"], default="source")
    st.add_argument("--path", default="/big.bin", help="http: the path to GET (port 80)")
    st.add_argument("--sha", help="http: the body's sha256")
    st.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    return {"roundtrip": cmd_roundtrip, "transfer": cmd_transfer, "latency": cmd_latency,
            "qmp": cmd_qmp, "yamux-ping": cmd_yamux_ping, "streams": cmd_streams}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
