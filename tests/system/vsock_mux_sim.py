#!/usr/bin/env python3
"""vsock_mux_sim — stands in for Firecracker's hybrid-vsock unix socket in vmgate's system tests.

Listens on a unix socket path.  Each client sends "CONNECT <port>\\n"; the simulator connects to
127.0.0.1:<port> (it runs inside the "VM" network namespace, so that is the guest's loopback),
answers "OK <n>\\n" and relays both ways with exact half-close.  If the port is closed, or the
line is malformed, it just closes the connection, as Firecracker does.  Standard library only.

    vsock_mux_sim.py --path /tmp/x/fc.vsock [--coalesce] [--split-ok] [--hang-port N]

Options that make the simulator awkward on purpose, as a real peer may be:
  --coalesce     wait up to 0.5 s for the guest's first bytes and send them in the same write
                 as "OK <n>\n" (the gateway must pass on what follows the line)
  --split-ok     send "OK <n>\n" in three writes 0.1 s apart
  --hang-port N  on CONNECT N accept but never answer (the gateway's connect-timeout must fire)
  --ok-nonl-port N  on CONNECT N answer "OK 1073" without the newline, then nothing (the gateway
                 must wait without spinning and fail at connect-timeout)
"""

import argparse
import os
import socket
import sys
import threading
import time

NEXT_PORT = [1073741824]
LOCK = threading.Lock()


def log(msg):
    print("vsock-mux-sim: " + msg, file=sys.stderr, flush=True)


def pump(src, dst, label):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
    except OSError as e:
        log("%s: %s" % (label, e))
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


OPTS = None


def handle(c):
    try:
        c.settimeout(10)
        line = bytearray()
        while not line.endswith(b"\n") and len(line) < 64:
            d = c.recv(1)  # never read past the line: what follows belongs to the guest
            if not d:
                break
            line += d
        words = line.decode("latin-1").split()
        if len(words) != 2 or words[0] != "CONNECT" or not words[1].isdigit():
            log("bad request %r: closing" % bytes(line))
            return
        port = int(words[1])
        if port == OPTS.hang_port:
            log("CONNECT %d: hanging" % port)
            c.settimeout(None)
            c.recv(1)  # until the gateway gives up
            return
        if port == OPTS.ok_nonl_port:
            log("CONNECT %d: OK without a newline, then nothing" % port)
            c.sendall(b"OK 1073")
            c.settimeout(None)
            c.recv(1)  # until the gateway gives up
            return
        try:
            g = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError as e:
            log("CONNECT %d: %s: closing" % (port, e))
            return
        with LOCK:
            n = NEXT_PORT[0]
            NEXT_PORT[0] += 1
        log("CONNECT %d -> OK %d" % (port, n))
        c.settimeout(None)
        g.settimeout(None)
        ok = b"OK %d\n" % n
        if OPTS.coalesce:
            g.settimeout(0.5)
            try:
                first = g.recv(65536)
            except socket.timeout:
                first = b""
            g.settimeout(None)
            log("coalesced %d guest bytes with the OK line" % len(first))
            c.sendall(ok + first)
        elif OPTS.split_ok:
            for part in (ok[:2], ok[2:5], ok[5:]):
                c.sendall(part)
                time.sleep(0.1)
        else:
            c.sendall(ok)
        t = threading.Thread(target=pump, args=(g, c, "guest->host"), daemon=True)
        t.start()
        pump(c, g, "host->guest")
        t.join()
        g.close()
    except OSError as e:
        log("connection: %s" % e)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True)
    ap.add_argument("--coalesce", action="store_true")
    ap.add_argument("--split-ok", action="store_true")
    ap.add_argument("--hang-port", type=int, default=-1)
    ap.add_argument("--ok-nonl-port", type=int, default=-1)
    a = ap.parse_args()
    global OPTS
    OPTS = a
    try:
        os.unlink(a.path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(a.path)
    ls.listen(256)
    log("listening on %s" % a.path)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
