#!/usr/bin/env python3
"""hostile_agent — plays QEMU and the guest's agent on a `serial:` channel, for vmgate's system
tests: it LISTENS on the unix socket path of the VM table entry (as QEMU's
`-chardev socket,server=on` does), accepts the gateway's connection and speaks yamux (the server
side: even stream ids) like vmgate-agent (docs/protocol.md) — or like a guest that abuses it.
Standard library only.  Results are printed as KEY value lines (flushed).

    hostile_agent.py flood   --path P [--window] [--bytes N] [--pad K]
        answers the control stream OK, then sends "req id=1 ..." lines as fast as the host's
        window allows, with blind answers to pings ids 1..100 in front.  Without --window it
        never grants window on the control stream (the audit's attack): prints "CUT sent=N
        secs=T" when the gateway ends the session, "NOTCUT sent=N" when all N bytes went out.
        With --window it reads and discards the replies and grants window: "DONE sent=N
        replies=R secs=T" (or CUT).
    hostile_agent.py pingid  --path P [--sessions K]
        well-behaved; per session prints "PINGID <id of the first req op=ping>" and "YPING
        <opaque of the first yamux ping>", answers the ping, then closes the connection and
        waits for the next one.
    hostile_agent.py streams --path P --n N --target NAME:PORT
        opens N streams "CONNECT NAME PORT" at once; prints "STREAMS acked=A refused=R ok=K
        err=E" once each is answered (reset, OK or ERR) or after 15 s, then holds them until
        SIGTERM; each SIGUSR1 opens N more and reports them the same way.
    hostile_agent.py partial --path P --n N --target NAME:PORT
        opens N streams that send "CONNECT NAME" and never the newline; prints "PARTIAL closed=C
        n=N first=T1 last=T2 how=..." when the gateway has closed them (or after 30 s), then
        "AFTER <reply>" for one complete request.
    hostile_agent.py hold    --gw H:P --name NAME --port PORT [--n N] [--silent] [--secs S]
        an outside SOCKS client holding N tunnels (see cmd_hold).
    hostile_agent.py silent  --path P --target NAME:PORT
        answers the gateway's "CONNECT <port>" streams OK and then sends nothing; opens one
        guest stream to NAME:PORT and sends nothing after the OK.  Prints "HOSTSTREAM closed
        secs=T how=H" and "GUESTSTREAM closed secs=T how=H" when the gateway ends them.
"""

import argparse
import os
import select
import signal
import socket
import struct
import sys
import time

DATA, WUPD, PING, GOAWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8
WINDOW = 256 * 1024
FRAME = 16384


def out(*a):
    print(*a, flush=True)


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.data = bytearray()  # received, not yet consumed by the scenario
        self.received = 0
        self.unacked = 0  # consumed bytes not yet granted back
        self.send_window = WINDOW
        self.outq = bytearray()
        self.acked = False
        self.fin = False
        self.rst = False
        self.fin_sent = False
        self.grant = True  # give window back as data is consumed
        self.t_end = None
        self.how = None
        self.kind = None
        self.lines = []


class Closed(Exception):
    pass


class Mux:
    def __init__(self, sock):
        self.s = sock
        self.s.setblocking(False)
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.streams = {}
        self.next_id = 2
        self.pings = []  # opaque values of the host's pings (SYN)
        self.closed = None
        self.on_syn = None
        self.on_data = None

    def frame(self, typ, flags, sid, length, payload=b""):
        self.wbuf += struct.pack(">BBHII", 0, typ, flags, sid, length)
        self.wbuf += payload

    def open(self, first=b""):
        st = Stream(self.next_id)
        self.next_id += 2
        self.streams[st.id] = st
        self.frame(WUPD, SYN, st.id, 0)
        st.outq += first
        return st

    def write(self, st, data):
        st.outq += data

    def close_write(self, st):
        st.fin_pending = True

    def consume(self, st, n):
        del st.data[:n]
        st.unacked += n
        if st.grant and st.unacked >= WINDOW // 2 and not st.rst:
            self.frame(WUPD, 0, st.id, st.unacked)
            st.unacked = 0

    def _end(self, st, how):
        if st.t_end is None:
            st.t_end = time.monotonic()
            st.how = how

    def _parse(self):
        while len(self.rbuf) >= 12:
            ver, typ, flags, sid, length = struct.unpack(">BBHII", self.rbuf[:12])
            if ver != 0:
                raise Closed("bad frame version %d" % ver)
            if typ == DATA and len(self.rbuf) < 12 + length:
                return
            payload = bytes(self.rbuf[12:12 + length]) if typ == DATA else b""
            del self.rbuf[:12 + (length if typ == DATA else 0)]
            if typ == PING:
                if flags & SYN:
                    self.pings.append(length)
                    self.frame(PING, ACK, 0, length)
                continue
            if typ == GOAWAY:
                raise Closed("GoAway %d" % length)
            st = self.streams.get(sid)
            if flags & SYN and st is None:
                st = Stream(sid)
                self.streams[sid] = st
                self.frame(WUPD, ACK, sid, 0)
                if self.on_syn:
                    self.on_syn(st)
            if st is None:
                continue
            if flags & ACK:
                st.acked = True
            if typ == WUPD:
                st.send_window += length
            elif payload:
                st.data += payload
                st.received += len(payload)
            if flags & RST:
                st.rst = True
                self._end(st, "RST")
            if flags & FIN:
                st.fin = True
                self._end(st, "FIN")
            if payload and self.on_data:
                self.on_data(st)

    def _fill(self):
        """stream queues → wbuf, within the host's windows and 1 MiB of wbuf"""
        for st in list(self.streams.values()):
            while st.outq and st.send_window > 0 and not st.rst and len(self.wbuf) < (1 << 20):
                n = min(len(st.outq), st.send_window, FRAME)
                self.frame(DATA, 0, st.id, n, bytes(st.outq[:n]))
                del st.outq[:n]
                st.send_window -= n
            if getattr(st, "fin_pending", False) and not st.outq and not st.fin_sent:
                self.frame(WUPD, FIN, st.id, 0)
                st.fin_sent = True

    def pump(self, timeout=0.05):
        """one round of I/O; raises Closed when the gateway went away"""
        if self.closed:
            raise Closed(self.closed)
        self._fill()
        w = [self.s] if self.wbuf else []
        r, wr, _ = select.select([self.s], w, [], timeout)
        try:
            if wr:
                n = self.s.send(self.wbuf)
                del self.wbuf[:n]
            if r:
                d = self.s.recv(1 << 20)
                if not d:
                    self.closed = "EOF"
                    raise Closed("EOF")
                self.rbuf += d
                self._parse()
        except (BlockingIOError, InterruptedError):
            pass
        except (ConnectionResetError, BrokenPipeError) as e:
            self.closed = str(e)
            raise Closed(str(e))


class Agent:
    """the well-behaved parts: control OK and ping answers, host streams refused or OK"""

    def __init__(self, mux, host_streams="refuse", answer_pings=True):
        self.m = mux
        self.ctl = None
        self.first_ping = None
        self.host_streams = host_streams
        self.answer_pings = answer_pings
        self.host_open = []
        self.events = 0  # "event ..." lines on the control stream (answers to our requests)
        mux.on_syn = self.syn
        mux.on_data = self.data

    def syn(self, st):
        st.kind = "new"

    def data(self, st):
        if st.kind == "new":
            i = st.data.find(b"\n")
            if i < 0:
                return
            first = bytes(st.data[:i]).decode("latin-1")
            self.m.consume(st, i + 1)
            if first == "CONTROL":
                st.kind = "control"
                self.ctl = st
                self.m.write(st, b"OK\n")
            else:
                st.kind = "host"
                self.host_open.append(st)
                if self.host_streams == "ok":
                    self.m.write(st, b"OK\n")
                else:
                    self.m.write(st, b"ERR refused nothing here\n")
                    self.m.close_write(st)
        if st.kind == "control":
            for line in self.ctl_lines(st):
                w = line.split()
                if w and w[0] == "event":
                    self.events += 1
                if len(w) >= 3 and w[0] == "req" and "op=ping" in w:
                    pid = w[1][3:]
                    if self.first_ping is None:
                        self.first_ping = pid
                    if self.answer_pings:
                        self.m.write(st, ("event id=%s status=ok\n" % pid).encode())
        elif st.kind == "host":
            self.m.consume(st, len(st.data))
        elif st.kind is None or st.kind == "guest":
            pass

    def ctl_lines(self, st):
        lines = []
        while True:
            i = st.data.find(b"\n")
            if i < 0:
                return lines
            lines.append(bytes(st.data[:i]).decode("latin-1"))
            self.m.consume(st, i + 1)


def listen(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(4)
    return ls


def accept(ls, timeout=60):
    ls.settimeout(timeout)
    c, _ = ls.accept()
    return Mux(c)


def run_for(m, secs, until=None):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        m.pump(0.05)
        if until and until():
            return True
    return False


def target_of(s):
    name, port = s.rsplit(":", 1)
    return name, int(port)


# ---------------------------------------------------------------------------------- scenarios

def cmd_flood(a):
    ls = listen(a.path)
    m = accept(ls)
    ag = Agent(m)
    t0 = time.monotonic()
    try:
        run_for(m, 10, lambda: ag.ctl is not None)
        if ag.ctl is None:
            out("NOCONTROL")
            return 1
        st = ag.ctl
        st.grant = a.window
        blind = b"".join(b"event id=%d status=ok\n" % i for i in range(1, 101))
        line = b"req id=1" + (b" pad=" + b"x" * a.pad if a.pad else b"") + b"\n"
        chunk = line * max(1, 65536 // len(line))
        m.write(st, blind)
        sent = len(blind)
        out("FLOODING window=%s" % ("yes" if a.window else "no"))
        while sent < a.bytes:
            if len(st.outq) < 262144:
                m.write(st, chunk)
                sent += len(chunk)
            m.pump(0 if len(st.outq) < 262144 else 0.05)
        want = (a.bytes // len(line)) * 0.99
        if a.window:
            # the last replies
            run_for(m, 30, lambda: not st.outq and ag.events >= want)
            out("DONE sent=%d replies=%d secs=%.1f" % (sent - len(st.outq), ag.events,
                                                       time.monotonic() - t0))
        else:
            out("NOTCUT sent=%d secs=%.1f" % (sent - len(st.outq), time.monotonic() - t0))
        return 0
    except Closed as e:
        sent_out = sent - len(ag.ctl.outq) if ag.ctl else 0
        out("CUT sent=%d secs=%.1f ctl=%s why=%s" % (sent_out, time.monotonic() - t0,
                                                     ag.ctl.how if ag.ctl else "-", e))
        return 0


def cmd_pingid(a):
    ls = listen(a.path)
    for k in range(a.sessions):
        m = accept(ls)
        ag = Agent(m)
        try:
            run_for(m, 15, lambda: ag.first_ping is not None and m.pings)
            # the answer goes out before we close
            run_for(m, 0.3)
        except Closed as e:
            out("CLOSED %s" % e)
        out("PINGID %s" % ag.first_ping)
        out("YPING %s" % (m.pings[0] if m.pings else None))
        m.s.close()
    return 0


def cmd_streams(a):
    ls = listen(a.path)
    m = accept(ls)
    Agent(m)  # control stream and host streams, answered as the agent does
    name, port = target_of(a.target)
    more = [0]
    signal.signal(signal.SIGUSR1, lambda *_: more.__setitem__(0, more[0] + 1))
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    req = ("CONNECT %s %d\n" % (name, port)).encode()
    mine = []

    def batch():
        new = [m.open(req) for _ in range(a.n)]
        for st in new:
            st.kind = "guest"
        mine.extend(new)
        return new

    def report(sts):
        def settled(st):
            return st.rst or b"\n" in st.data
        run_for(m, 15, lambda: all(settled(st) for st in sts))
        ok = sum(1 for st in sts if st.data.startswith(b"OK\n"))
        err = sum(1 for st in sts if st.data.startswith(b"ERR"))
        refused = sum(1 for st in sts if st.rst and not st.acked)
        acked = sum(1 for st in sts if st.acked)
        out("STREAMS acked=%d refused=%d ok=%d err=%d" % (acked, refused, ok, err))
        for st in sts:
            if st.data.startswith(b"OK\n"):
                del st.data[:3]

    try:
        report(batch())
        while not stop[0]:
            m.pump(0.1)
            for st in mine:
                if st.data:
                    m.consume(st, len(st.data))
            if more[0]:
                more[0] -= 1
                report(batch())
    except Closed as e:
        out("CLOSED %s" % e)
    return 0


def cmd_partial(a):
    ls = listen(a.path)
    m = accept(ls)
    ag = Agent(m)
    name, port = target_of(a.target)
    try:
        run_for(m, 10, lambda: ag.ctl is not None)
        t0 = time.monotonic()
        sts = [m.open(("CONNECT %s" % name).encode()) for _ in range(a.n)]
        for st in sts:
            st.kind = "guest"
        run_for(m, 30, lambda: all(st.t_end is not None for st in sts))
        ends = [st.t_end - t0 for st in sts if st.t_end is not None]
        hows = sorted(set("%s%s" % (st.how, "+ERR" if st.data.startswith(b"ERR") else "")
                          for st in sts if st.how))
        out("PARTIAL closed=%d n=%d first=%.1f last=%.1f how=%s" % (
            len(ends), a.n, min(ends) if ends else -1, max(ends) if ends else -1,
            ",".join(hows) or "-"))
        for st in sts:
            if st.fin and not st.rst:
                m.close_write(st)
        run_for(m, 0.5)  # our FINs reach the gateway before the next SYN
        st = m.open(("CONNECT %s %d\n" % (name, port)).encode())
        st.kind = "guest"
        run_for(m, 10, lambda: st.rst or b"\n" in st.data)
        out("AFTER %s" % ("RST" if st.rst and not st.data else
                          bytes(st.data).split(b"\n")[0].decode("latin-1")))
    except Closed as e:
        out("CLOSED %s" % e)
    return 0


def cmd_silent(a):
    ls = listen(a.path)
    m = accept(ls)
    ag = Agent(m, host_streams="ok")
    name, port = target_of(a.target)
    try:
        # the session is opened for a client's request: that is the host stream
        run_for(m, 10, lambda: ag.host_open)
        if not ag.host_open:
            out("NOHOSTSTREAM")
            return 1
        th = time.monotonic()
        h = ag.host_open[0]
        out("HOSTSTREAM opened")
        g = m.open(("CONNECT %s %d\n" % (name, port)).encode())
        g.kind = "guest"
        run_for(m, 10, lambda: b"\n" in g.data or g.rst)
        tg = time.monotonic()
        out("GUESTSTREAM reply=%s" % bytes(g.data).split(b"\n")[0].decode("latin-1"))
        run_for(m, 30, lambda: g.t_end is not None and h.t_end is not None)
        out("HOSTSTREAM closed secs=%.1f how=%s" % ((h.t_end - th) if h.t_end else -1, h.how))
        out("GUESTSTREAM closed secs=%.1f how=%s" % ((g.t_end - tg) if g.t_end else -1, g.how))
        run_for(m, 0.5)
    except Closed as e:
        out("CLOSED %s" % e)
    return 0


def cmd_hold(a):
    """SOCKS clients from outside: open N tunnels (HELLO exchanged unless --silent), print
    "HELD ok=K n=N", then report when each is closed by the gateway ("CLIENT closed secs=T
    how=H") until all are closed or SIGTERM / --for seconds."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import vgtest
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    held, reps = [], []
    for i in range(a.n):
        try:
            s, rep, _ = vgtest.socks_open(a.gw, a.name, a.port, timeout=10)
        except (OSError, vgtest.S5Error) as e:
            reps.append(str(e).split()[0])
            continue
        reps.append("0x%02x" % rep)
        if rep != 0:
            s.close()
            continue
        if not a.silent:
            s.sendall(b"HELLO\n")
            if not vgtest.recv_line(s).startswith(b"HELLO"):
                s.close()
                reps[-1] = "nohello"
                continue
        held.append(s)
    out("HELD ok=%d n=%d reps=%s" % (len(held), a.n, ",".join(sorted(set(reps)))))
    t0 = time.monotonic()
    live = list(held)
    while live and not stop[0] and time.monotonic() - t0 < a.secs:
        r, _, _ = select.select(live, [], [], 0.1)
        for s in r:
            try:
                d = s.recv(65536)
                how = "EOF" if not d else None
            except ConnectionResetError:
                how = "RESET"
            if how:
                out("CLIENT closed secs=%.1f how=%s" % (time.monotonic() - t0, how))
                live.remove(s)
    for s in held:
        s.close()
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("flood", "pingid", "streams", "partial", "silent"):
        q = sub.add_parser(name)
        q.add_argument("--path", required=True)
        if name == "flood":
            q.add_argument("--window", action="store_true")
            q.add_argument("--bytes", type=int, default=200 * 1000 * 1000)
            q.add_argument("--pad", type=int, default=0)
        if name == "pingid":
            q.add_argument("--sessions", type=int, default=2)
        if name in ("streams", "partial"):
            q.add_argument("--n", type=int, required=True)
        if name in ("streams", "partial", "silent"):
            q.add_argument("--target", required=True)
    q = sub.add_parser("hold")
    q.add_argument("--gw", required=True)
    q.add_argument("--name", required=True)
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--n", type=int, default=1)
    q.add_argument("--silent", action="store_true")
    q.add_argument("--secs", type=float, default=3600)
    a = p.parse_args(argv)
    return globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
