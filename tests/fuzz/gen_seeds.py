#!/usr/bin/env python3
"""Write the hand-made seeds of the yamux, mux, ctl and rparse fuzz targets.

    tests/fuzz/gen_seeds.py [CORPUS_DIR]      (default: the corpus/ next to this file)

Each seed is a meaningful input with a descriptive name: valid frames and whole sessions
(docs/protocol.md), preamble and control lines, DNS replies as an authoritative server for the VM
zone sends them (docs/records.md), and the edge cases of each.  Files the fuzzer found (hex
names) are not touched; rerunning rewrites the seeds with the same bytes.
"""
import os
import struct
import sys

# ----------------------------------------------------------------------------- yamux frames

DATA, WU, PING, GOAWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8


def frame(typ, flags, sid, length, payload=b"", version=0):
    return struct.pack(">BBHII", version, typ, flags, sid, length) + payload


def data(sid, payload, flags=0):
    return frame(DATA, flags, sid, len(payload), payload)


def yamux_seeds():
    s = {}
    # the examples of docs/protocol.md §1
    s["open-wu-syn"] = frame(WU, SYN, 1, 0)
    s["data-connect"] = data(1, b"CONNECT 22\n")
    s["ack"] = frame(WU, ACK, 1, 0)
    s["data-ok"] = data(1, b"OK\n")
    s["fin"] = frame(WU, FIN, 1, 0)
    s["ping-syn"] = frame(PING, SYN, 0, 42)
    s["ping-ack"] = frame(PING, ACK, 0, 42)
    s["goaway-proto"] = frame(GOAWAY, 0, 0, 1)
    s["session"] = b"".join([frame(WU, SYN, 1, 0), data(1, b"CONNECT 22\n"), frame(WU, ACK, 1, 0),
                             data(1, b"OK\n"), frame(WU, 0, 1, 131072), data(1, b"x" * 40, FIN),
                             frame(WU, FIN, 1, 0), frame(PING, SYN, 0, 7), frame(GOAWAY, 0, 0, 0)])
    # edges
    s["bad-version"] = frame(WU, SYN, 1, 0, version=1)
    s["bad-type"] = frame(4, 0, 1, 0)
    s["type-ff"] = frame(0xFF, 0, 1, 0)
    s["flags-undefined"] = frame(WU, 0x10, 1, 0)
    s["flags-all"] = frame(WU, 0xFFFF, 1, 0)
    s["syn-ack"] = frame(WU, SYN | ACK, 1, 0)
    s["data-stream0"] = frame(DATA, 0, 0, 0)
    s["ping-stream1"] = frame(PING, SYN, 1, 0)
    s["ping-noflags"] = frame(PING, 0, 0, 0)
    s["ping-synfin"] = frame(PING, SYN | FIN, 0, 0)
    s["goaway-flag"] = frame(GOAWAY, FIN, 0, 0)
    s["data-window-plus-1"] = frame(DATA, 0, 1, 262145)
    s["data-max-len"] = frame(DATA, 0, 1, 0xFFFFFFFF)
    s["id-max"] = frame(WU, SYN, 0xFFFFFFFF, 0xFFFFFFFF)
    s["short-header"] = frame(WU, SYN, 1, 0)[:11]
    s["resync-after-junk"] = b"\x01junk" + frame(PING, ACK, 0, 1)
    s["data-rst-fin"] = data(3, b"abc", RST | FIN)
    return s

# ----------------------------------------------------------------------------- mux sessions

# Config octets of fuzz_mux.c (struct cfg / parse_cfg).
C0_CLIENT, C0_HOLD, C0_ECHO, C0_LINGER = 0x01, 0x02, 0x04, 0x06
C0_NO_ACCEPT, C0_GOAWAY, C0_PEER_EOF, C0_FREE_EVENTS, C0_SESSION_FIRST = 0x08, 0x10, 0x20, 0x40, 0x80
C1_OPEN1, C1_OPEN3, C1_OPEN_WRITE, C1_PING = 0x01, 0x03, 0x04, 0x08
C1_MAX1, C1_MAX2, C1_MAX4, C1_MAX64 = 0x00, 0x10, 0x20, 0x30
C1_TINY_OUT, C1_TINY_FRAMES = 0x40, 0x80
C2_CHUNK = {0: 0, 1: 1, 2: 2, 5: 3, 12: 4, 13: 5, 64: 6, 1000: 7}
C2_LAZY, C2_REFUSE_RESET, C2_FREE_IN_CLOSE, C2_FREE_IN_RESET, C2_HALF_DRAIN = 0x08, 0x10, 0x20, 0x40, 0x80


C3_FREE_ON_ACKED, C3_RESET_ON_READ, C3_RESET_AGAIN, C3_OPEN_IN_ACCEPT = 0x01, 0x02, 0x04, 0x08
C3_GOAWAY_AFTER, C3_PING_CHUNKS, C3_HEADERS = 0x10, 0x20, 0x40


def hdr(typ, flags, sid, length):
    """A Data header in headers mode: fuzz_mux makes up the payload."""
    return frame(typ, flags, sid, length)


def mux(c0, c1, c2, *frames, maxs=C1_MAX64, c3=0):
    return bytes([c0, c1 | maxs, c2, c3]) + b"".join(frames)


def mux_seeds():
    s = {}
    conn = data(1, b"CONNECT 22\n", SYN)
    # the session as the agent (server): the host opens odd streams
    s["agent-connect-fin"] = mux(C0_PEER_EOF, 0, 0, frame(WU, SYN, 1, 0), data(1, b"CONNECT 22\n"),
                                 data(1, b"payload"), frame(WU, FIN, 1, 0))
    s["agent-echo"] = mux(C0_ECHO | C0_PEER_EOF, 0, 0, conn, data(1, b"ping me back"),
                          frame(WU, 0, 1, 65536), frame(WU, FIN, 1, 0))
    s["agent-control"] = mux(C0_HOLD, 0, 0, data(1, b"CONTROL\n", SYN),
                             data(1, b"hello name=web1.vm.test zone=vm.test host=hv1\n"),
                             data(1, b"req id=1 op=ping\n"))
    s["agent-three-streams-rst"] = mux(C0_FREE_EVENTS, 0, 0, frame(WU, SYN, 1, 0), frame(WU, SYN, 3, 0),
                                       frame(WU, SYN, 5, 0), data(3, b"abc"), frame(WU, RST, 1, 0),
                                       frame(WU, FIN, 3, 0), data(5, b"x", FIN))
    s["agent-ping-pong"] = mux(0, 0, 0, frame(PING, SYN, 0, 42), frame(PING, SYN, 0, 43))
    s["agent-goaway-normal"] = mux(0, 0, 0, frame(WU, SYN, 1, 0), frame(GOAWAY, 0, 0, 0),
                                   frame(WU, FIN, 1, 0), frame(WU, SYN, 3, 0))
    s["agent-goaway-proto"] = mux(0, 0, 0, frame(GOAWAY, 0, 0, 1))
    s["agent-goaway-internal"] = mux(C0_FREE_EVENTS, 0, C2_FREE_IN_CLOSE, conn, frame(GOAWAY, 0, 0, 2))
    s["agent-goaway-unknown"] = mux(0, 0, 0, frame(GOAWAY, 0, 0, 7))
    s["agent-max-streams-1"] = mux(0, 0, 0, frame(WU, SYN, 1, 0), frame(WU, SYN, 3, 0),
                                   data(3, b"refused"), frame(WU, SYN, 5, 0), maxs=C1_MAX1)
    s["agent-refuse-all"] = mux(C0_NO_ACCEPT, 0, 0, conn, frame(WU, SYN, 3, 0), data(1, b"late"))
    s["agent-local-goaway"] = mux(C0_GOAWAY, 0, 0, conn, data(1, b"after goaway"))
    s["agent-refuse-reset"] = mux(C0_LINGER, 0, C2_REFUSE_RESET, conn, data(1, b"more"))
    s["agent-linger"] = mux(C0_LINGER | C0_PEER_EOF, 0, 0, conn, data(1, b"more data"),
                            frame(WU, 0, 1, 1000), frame(WU, FIN, 1, 0))
    s["agent-hold-half"] = mux(C0_HOLD, 0, C2_HALF_DRAIN, conn, data(1, b"y" * 3000),
                               data(1, b"z" * 3000))
    s["agent-bytewise"] = mux(C0_ECHO, 0, C2_CHUNK[1], conn, data(1, b"0123456789"),
                              frame(PING, SYN, 0, 1), frame(WU, FIN, 1, 0))
    s["agent-chunk13"] = mux(C0_ECHO | C0_PEER_EOF, 0, C2_CHUNK[13], conn, data(1, b"a" * 100, FIN))
    s["agent-ping-flood-lazy"] = mux(0, C1_TINY_OUT, C2_LAZY,
                                     *[frame(PING, SYN, 0, i) for i in range(300)])
    s["agent-tiny-frames-echo"] = mux(C0_ECHO, C1_TINY_FRAMES | C1_TINY_OUT, 0, conn,
                                      data(1, bytes(range(200))), frame(WU, FIN, 1, 0))
    s["agent-free-in-reset"] = mux(C0_SESSION_FIRST, 0, C2_FREE_IN_RESET, conn, frame(WU, SYN, 3, 0),
                                   frame(WU, RST, 1, 0), data(3, b"after"))
    s["agent-free-in-close-eof"] = mux(C0_PEER_EOF, 0, C2_FREE_IN_CLOSE, conn, data(1, b"bye"))
    s["agent-syn-rst"] = mux(0, 0, 0, data(1, b"x", SYN | RST))
    s["agent-syn-fin-data"] = mux(0, 0, 0, data(1, b"CONNECT 80\n", SYN | FIN), frame(WU, FIN, 1, 0))
    s["agent-unknown-streams"] = mux(0, 0, 0, data(7, b"junk!"), frame(WU, 0, 9, 100),
                                     frame(WU, FIN, 11, 0), data(13, b"xyz", RST), conn)
    s["agent-reuse-after-rst"] = mux(C0_FREE_EVENTS, 0, 0, conn, frame(WU, RST, 1, 0), conn)
    # protocol errors (the session ends with GoAway 1)
    s["err-duplicate-syn"] = mux(0, 0, 0, frame(WU, SYN, 1, 0), frame(WU, SYN, 1, 0))
    s["err-wrong-parity"] = mux(0, 0, 0, frame(WU, SYN, 2, 0))
    s["err-data-after-fin"] = mux(0, 0, 0, conn, data(1, b"ab", FIN), data(1, b"c"))
    s["err-second-fin"] = mux(0, 0, 0, conn, frame(WU, FIN, 1, 0), frame(WU, FIN, 1, 0))
    s["err-window-overflow"] = mux(0, 0, 0, conn, frame(WU, 0, 1, 0xFFFFFFFF))
    s["err-window-exceeded"] = mux(C0_HOLD, 0, 0, conn, frame(DATA, 0, 1, 262145))
    s["err-bad-version"] = mux(0, 0, 0, conn, frame(PING, SYN, 0, 1, version=1))
    s["err-ping-flags"] = mux(0, 0, 0, frame(PING, 0, 0, 0))
    s["err-data-stream0"] = mux(0, 0, 0, frame(DATA, 0, 0, 1, b"x"))
    s["err-junk"] = mux(C0_PEER_EOF, 0, 0, b"GET / HTTP/1.1\r\n\r\n")
    # the session as the gateway (client): it opens odd streams, the agent opens even ones
    s["gw-open-acked"] = mux(C0_CLIENT | C0_PEER_EOF, C1_OPEN1 | C1_OPEN_WRITE, 0,
                             frame(WU, ACK, 1, 0), data(1, b"OK\n"), data(1, b"SSH-2.0-x\r\n"),
                             frame(WU, FIN, 1, 0))
    s["gw-open-refused"] = mux(C0_CLIENT, C1_OPEN1 | C1_OPEN_WRITE, 0, frame(WU, RST, 1, 0))
    s["gw-open-err"] = mux(C0_CLIENT | C0_FREE_EVENTS, C1_OPEN1 | C1_OPEN_WRITE, 0,
                           frame(WU, ACK, 1, 0), data(1, b"ERR refused nothing listens\n", FIN))
    s["gw-three-opens-window"] = mux(C0_CLIENT | C0_ECHO, C1_OPEN3, 0, frame(WU, ACK, 1, 0),
                                     frame(WU, ACK, 3, 131072), data(5, b"hi", ACK),
                                     data(3, b"echo"), frame(WU, FIN, 3, 0))
    s["gw-pong"] = mux(C0_CLIENT, C1_PING, 0, frame(PING, ACK, 0, 1), frame(PING, ACK, 0, 99))
    s["gw-guest-connect"] = mux(C0_CLIENT | C0_HOLD, 0, 0, data(2, b"CONNECT web2.vm.test 80\n", SYN),
                                data(2, b"GET / HTTP/1.0\r\n\r\n"), frame(WU, FIN, 2, 0))
    s["gw-guest-odd-id"] = mux(C0_CLIENT, 0, 0, frame(WU, SYN, 1, 0))
    s["gw-ack-unopened"] = mux(C0_CLIENT, C1_OPEN1, 0, frame(WU, ACK, 3, 0), frame(WU, ACK, 1, 0),
                               frame(WU, ACK, 1, 0))
    s["gw-session-first"] = mux(C0_CLIENT | C0_SESSION_FIRST, C1_OPEN3 | C1_OPEN_WRITE, C2_CHUNK[5],
                                frame(WU, ACK, 1, 0), data(3, b"OK\n", ACK))
    s["gw-free-on-acked"] = mux(C0_CLIENT, C1_OPEN1 | C1_OPEN_WRITE, 0, data(1, b"OK\n", ACK),
                                data(1, b"late bytes"), c3=C3_FREE_ON_ACKED)
    s["agent-reset-on-read"] = mux(0, 0, 0, conn, data(1, b"more"), frame(WU, FIN, 1, 0),
                                   c3=C3_RESET_ON_READ)
    s["agent-reset-again"] = mux(0, 0, 0, conn, frame(WU, RST, 1, 0), c3=C3_RESET_AGAIN)
    s["agent-open-in-accept"] = mux(0, 0, 0, conn, frame(WU, ACK, 2, 0), data(2, b"OK\n"),
                                    frame(WU, FIN, 2, 0), c3=C3_OPEN_IN_ACCEPT)
    s["agent-goaway-after-ping-chunks"] = mux(C0_PEER_EOF, 0, C2_CHUNK[12], conn,
                                              frame(PING, ACK, 0, 1), frame(PING, ACK, 0, 2), data(1, b"x"),
                                              c3=C3_GOAWAY_AFTER | C3_PING_CHUNKS)
    # headers mode: Data payloads made up by the harness, to reach flow control
    W = 262144
    s["hdr-window-exceeded"] = mux(C0_HOLD, 0, 0, hdr(DATA, SYN, 1, W), hdr(DATA, 0, 1, 1), c3=C3_HEADERS)
    s["hdr-window-full-then-update"] = mux(C0_HOLD, 0, C2_HALF_DRAIN, hdr(DATA, SYN, 1, W - 1),
                                           hdr(DATA, 0, 1, 1), hdr(DATA, FIN, 1, 1000), c3=C3_HEADERS)
    s["hdr-bulk-drain"] = mux(C0_PEER_EOF, 0, 0, hdr(DATA, SYN, 1, 200000), hdr(DATA, 0, 1, 200000),
                              hdr(DATA, 0, 1, 200000), hdr(WU, FIN, 1, 0), c3=C3_HEADERS)
    s["hdr-echo-beyond-send-window"] = mux(C0_ECHO, 0, 0, hdr(DATA, SYN, 1, 200000), hdr(DATA, 0, 1, 150000),
                                           hdr(WU, 0, 1, 100000), hdr(WU, FIN, 1, 0), c3=C3_HEADERS)
    s["hdr-linger-bulk"] = mux(C0_LINGER, 0, C2_CHUNK[13], hdr(DATA, SYN, 1, 10), hdr(DATA, 0, 1, 250000),
                               hdr(DATA, 0, 1, 250000), hdr(DATA, FIN, 1, 5), c3=C3_HEADERS)
    s["hdr-two-streams-tiny-out"] = mux(C0_ECHO, C1_TINY_OUT, C2_LAZY, hdr(DATA, SYN, 1, 70000),
                                        hdr(DATA, SYN, 3, 70000), hdr(WU, FIN, 1, 0), hdr(WU, FIN, 3, 0),
                                        c3=C3_HEADERS)
    return s

# ----------------------------------------------------------------------------- preamble / control


def ctl_seeds():
    s = {}
    # first octet: the size of the pieces the input arrives in (0: at once)
    s["agent-connect"] = b"\x00CONNECT 22\n"
    s["agent-connect-crlf"] = b"\x00CONNECT 65535\r\n"
    s["agent-connect-payload"] = b"\x05CONNECT 8080\nSSH-2.0-OpenSSH_9.2\r\n"
    s["agent-control"] = (b"\x00CONTROL\n"
                          b"hello name=web1.vm.test zone=vm.test host=hv1\n"
                          b"set motd=hello%20world%0A lang=C.UTF-8\n"
                          b"req id=1 op=ping\n"
                          b"req id=2 op=info\n"
                          b"event id=7 status=ok host=hv1 vm=web1.vm.test\n"
                          b"event id=8 status=error reason=unknown-op\n")
    s["agent-control-bytewise"] = b"\x01CONTROL\r\nreq  id=3\top=host-facts \r\n"
    s["gw-guest-connect"] = b"\x00CONNECT web2.vm.test 80\n"
    s["gw-guest-connect-v6"] = b"\x00CONNECT fd00::9 443\n"
    s["gw-reply-ok"] = b"\x00OK\nraw bytes follow"
    s["gw-reply-err"] = b"\x00ERR refused nothing listens on 22\n"
    s["gw-reply-err-nocode-text"] = b"\x00ERR denied\n"
    s["gw-reply-err-long-text"] = b"\x00ERR error " + b"t" * 400 + b"\n"
    s["gw-reply-err-codes"] = (b"\x00OK\nERR unreachable x\nERR timeout y\nERR error z\n"
                               b"ERR x-y\nERR Refused\nERR  double\n")
    s["bad-requests"] = (b"\x00CONNECT 0\nCONNECT 022\nCONNECT 65536\nCONNECT  22\n"
                         b"CONNECT a  22\nCONNECT 22 \nconnect 22\nCONTROL \nCONNECT\n"
                         b"CONNECT a\x7fb 22\nCONNECT 22\r\r\n")
    s["preamble-511"] = b"\x00CONNECT " + b"n" * 498 + b" 22\n"
    s["preamble-512"] = b"\x00CONNECT " + b"n" * 499 + b" 22\n"
    s["preamble-too-long"] = b"\x00" + b"A" * 600
    name255 = b"a" * 255
    s["name-255"] = b"\x00CONNECT " + name255 + b" 1\n"
    s["name-256"] = b"\x00CONNECT " + name255 + b"a 1\n"
    s["ctl-percent"] = (b"\x00CONTROL\nset a=%41%62 b=%7e c=%ff d=%2 e=%zz f=%00 g= h=%25\n"
                        b"set k=\xc3\xa9t\xc3\xa9 l==x m=a=b\n")
    s["ctl-bad"] = (b"\x00CONTROL\nReq id=1\nreq id\nreq =1\nreq id=1 x\n"
                    b"req " + b"k" * 32 + b"=1\n" + b"v" * 32 + b" a=1\n \t \nreq id=a\x7fb\n")
    pairs = b" ".join(b"k%d=%d" % (i, i) for i in range(33))
    s["ctl-33-pairs"] = b"\x00CONTROL\nset " + pairs + b"\n"
    s["ctl-32-pairs"] = b"\x00CONTROL\nset " + b" ".join(b"k%d=%d" % (i, i) for i in range(32)) + b"\n"
    s["ctl-dup-keys"] = b"\x00CONTROL\nevent id=1 id=2 status=ok status=error\n"
    s["ctl-4095"] = b"\x00CONTROL\nset v=" + b"x" * (4095 - 6) + b"\n"
    s["ctl-4096"] = b"\x00CONTROL\nset v=" + b"x" * (4096 - 6) + b"\n"
    s["ctl-expands"] = b"\x00CONTROL\nset v=" + b"\x80" * 2000 + b"\n"
    return s

# ----------------------------------------------------------------------------- DNS replies

T_A, T_CNAME, T_SOA, T_TXT, T_AAAA, T_SRV, T_DNAME = 1, 5, 6, 16, 28, 33, 39


def dname(name):
    out = b""
    for label in name.split(".") if name else []:
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


class Msg:
    def __init__(self, qname, qtype, rcode=0, ident=1):
        self.q = dname(qname) + struct.pack(">HH", qtype, 1)
        self.rcode, self.ident = rcode, ident
        self.an, self.ns = [], []

    def rr(self, name, typ, ttl, rdata, auth=False):
        rec = (dname(name) if isinstance(name, str) else name) + struct.pack(">HHIH", typ, 1, ttl, len(rdata)) + rdata
        (self.ns if auth else self.an).append(rec)
        return self

    def a(self, name, ttl, addr):
        return self.rr(name, T_A, ttl, bytes(int(x) for x in addr.split(".")))

    def aaaa(self, name, ttl, hexaddr):
        return self.rr(name, T_AAAA, ttl, bytes.fromhex(hexaddr))

    def txt(self, name, ttl, *strings):
        return self.rr(name, T_TXT, ttl, b"".join(bytes([len(x)]) + x for x in strings))

    def srv(self, name, ttl, prio, weight, port, target):
        return self.rr(name, T_SRV, ttl, struct.pack(">HHH", prio, weight, port) + dname(target))

    def soa(self, ttl, minimum):
        rd = dname("ns.vm.test") + dname("hostmaster.vm.test") + struct.pack(">IIIII", 1, 3600, 600, 86400, minimum)
        return self.rr("vm.test", T_SOA, ttl, rd, auth=True)

    def bytes(self):
        hdr = struct.pack(">HHHHHH", self.ident, 0x8400 | self.rcode, 1, len(self.an), len(self.ns), 0)
        return hdr + self.q + b"".join(self.an) + b"".join(self.ns)


ST_OK, ST_NODATA, ST_NXDOMAIN, ST_OTHER = 0, 1, 2, 3


def lookup(statuses, msgs, neg_max=5, other=12):
    """statuses and msgs in the order A, AAAA, TXT, SRV; a msg of None: no reply."""
    st = 0
    for i, v in enumerate(statuses):
        st |= v << (2 * i)
    out = bytes([st, neg_max, other & 0xFF])
    for m in msgs:
        b = b"" if m is None else (m if isinstance(m, bytes) else m.bytes())
        out += struct.pack(">H", len(b)) + b
    return out


def rparse_seeds():
    s = {}
    n, srvn = "web1.vm.test", "_vmgate._tcp.web1.vm.test"
    nx = lambda q, t: Msg(q, t, rcode=3).soa(300, 30)
    nodata = lambda q, t: Msg(q, t).soa(300, 30)
    ok4 = ST_OK, ST_OK, ST_OK, ST_OK
    full = [Msg(n, T_A).a(n, 30, "198.18.0.11"), Msg(n, T_AAAA).aaaa(n, 30, "fd00" + "0" * 26 + "11"),
            Msg(n, T_TXT).txt(n, 30, b"vmgate-owner=hv1"),
            Msg(srvn, T_SRV).srv(srvn, 20, 0, 0, 1081, "hv1.vmgate-hosts.vm.test")]
    s["full-record-set"] = lookup(ok4, full)
    s["web2-split-txt-no-aaaa-no-srv"] = lookup(
        (ST_OK, ST_NODATA, ST_OK, ST_NXDOMAIN),
        [Msg(n, T_A).a(n, 40, "198.18.0.12").a(n, 40, "198.18.1.12"), nodata(n, T_AAAA),
         Msg(n, T_TXT).txt(n, 40, b"some other text").txt(n, 40, b"vmgate-", b"owner=HV2"),
         nx(srvn, T_SRV)])
    s["nxdomain"] = lookup((ST_NXDOMAIN,) * 4, [nx(n, T_A), nx(n, T_AAAA), nx(n, T_TXT), nx(srvn, T_SRV)],
                           neg_max=60)
    s["nodata-txt-only"] = lookup((ST_NODATA, ST_NODATA, ST_OK, ST_NODATA),
                                  [nodata(n, T_A), nodata(n, T_AAAA), Msg(n, T_TXT).txt(n, 30, b"hello"),
                                   nodata(srvn, T_SRV)])
    s["timeout-a"] = lookup((ST_OTHER, ST_OK, ST_OK, ST_OK), [None] + full[1:], other=12)
    s["servfail-srv"] = lookup((ST_OK, ST_OK, ST_OK, ST_OTHER), full[:3] + [None], other=11)
    s["success-without-reply"] = lookup(ok4, [None, None, None, None])
    many = Msg(n, T_A)
    many6 = Msg(n, T_AAAA)
    for i in range(10):
        many.a(n, 60 + i, "198.18.2.%d" % i)
        many6.aaaa(n, 60, "fd00" + "0" * 24 + "%04x" % i)
    s["many-addresses-capped"] = lookup(ok4, [many, many6, full[2], full[3]])
    srvs = Msg(srvn, T_SRV).srv(srvn, 20, 10, 0, 1082, "hv2.vmgate-hosts.vm.test") \
        .srv(srvn, 20, 0, 5, 1083, "hv3.vmgate-hosts.vm.test").srv(srvn, 20, 0, 9, 1084, "HV4.vmgate-hosts.vm.test") \
        .srv(srvn, 20, 0, 99, 0, "hv5.vmgate-hosts.vm.test").srv(srvn, 20, 0, 99, 1085, "")
    s["srv-selection"] = lookup(ok4, full[:3] + [srvs])
    # compression: answer names point at the question
    comp = Msg(n, T_A).rr(b"\xc0\x0c", T_A, 30, bytes([198, 18, 0, 20]))
    comp.rr(b"\xc0\x0c", T_CNAME, 10, dname("alias.vm.test"))
    s["compressed-cname"] = lookup(ok4, [comp, full[1], full[2], full[3]])
    s["txt-overflow-512"] = lookup(ok4, [full[0], full[1],
                                         Msg(n, T_TXT).txt(n, 30, *([b"x" * 255] * 3)).txt(n, 30, b"vmgate-owner=hv9"),
                                         full[3]])
    # hostile answers the resolver refuses (vg_rparse_check, the policy of fuzz_rparse.c)
    off_a = Msg(n, T_A).rr(n, T_CNAME, 30, dname("gw.evil.example")).a("gw.evil.example", 30, "198.18.0.66")
    s["refuse-cname-out-of-zone"] = lookup(ok4, [off_a] + full[1:])
    chain = Msg(n, T_A).rr(n, T_CNAME, 30, dname("a.vm.test")).rr("a.vm.test", T_CNAME, 30, dname("b.vm.test")) \
        .a("b.vm.test", 30, "198.18.0.21")
    s["cname-chain-in-zone"] = lookup(ok4, [chain] + full[1:])
    long_chain = Msg(n, T_A).rr(n, T_CNAME, 30, dname("c1.vm.test"))
    for i in range(1, 10):
        long_chain.rr("c%d.vm.test" % i, T_CNAME, 30, dname("c%d.vm.test" % (i + 1)))
    s["refuse-cname-chain-too-long"] = lookup(ok4, [long_chain.a("c10.vm.test", 30, "198.18.0.22")] + full[1:])
    s["refuse-cname-loop"] = lookup(ok4, [Msg(n, T_A).rr(n, T_CNAME, 30, dname("l.vm.test"))
                                          .rr("l.vm.test", T_CNAME, 30, dname(n))] + full[1:])
    dn = Msg(n, T_TXT).rr("vm.test", T_DNAME, 30, dname("evil.example")) \
        .rr(n, T_CNAME, 30, dname("web1.evil.example")).txt("web1.evil.example", 30, b"vmgate-owner=evil")
    s["refuse-dname-out-of-zone"] = lookup(ok4, full[:2] + [dn, full[3]])
    s["refuse-a-loopback"] = lookup((ST_OK, ST_NODATA, ST_OK, ST_OK),
                                    [Msg(n, T_A).a(n, 30, "127.0.0.1"), nodata(n, T_AAAA)] + full[2:])
    s["refuse-a-outside-host-networks"] = lookup(
        ok4, [Msg(n, T_A).a(n, 30, "192.0.2.10").a(n, 30, "198.18.0.11"),
              Msg(n, T_AAAA).aaaa(n, 30, "fe80" + "0" * 26 + "01")] + full[2:])
    s["refuse-srv-target-out-of-zone"] = lookup(ok4, full[:3] + [Msg(srvn, T_SRV).srv(srvn, 20, 0, 0, 22, "ssh.evil.example")])
    s["refuse-other-question"] = lookup(ok4, [Msg("web2.vm.test", T_A).a("web2.vm.test", 30, "198.18.0.12")] + full[1:])
    s["refuse-txt-foreign-owner"] = lookup(ok4, full[:2] + [Msg(n, T_TXT).txt("evil.vm.test", 30, b"vmgate-owner=evil")] + full[3:])
    s["ttl-huge-capped"] = lookup(ok4, [Msg(n, T_A).a(n, 0x7fffffff, "198.18.0.11"),
                                        Msg(n, T_AAAA).aaaa(n, 604800, "fd00" + "0" * 26 + "11"),
                                        Msg(n, T_TXT).txt(n, 86400, b"vmgate-owner=hv1"),
                                        Msg(srvn, T_SRV).srv(srvn, 86400, 0, 0, 1081, "hv1.vmgate-hosts.vm.test")])
    s["nxdomain-huge-soa"] = lookup((ST_NXDOMAIN,) * 4, [Msg(q, t, rcode=3).soa(86400, 86400) for q, t in
                                                         ((n, T_A), (n, T_AAAA), (n, T_TXT), (srvn, T_SRV))], neg_max=200)
    s["txt-owner-long-host"] = lookup(ok4, full[:2] + [Msg(n, T_TXT).txt(n, 30, b"vmgate-owner=" + b"h" * 64)] + full[3:])
    s["txt-owner-bad-host"] = lookup(ok4, full[:2] + [Msg(n, T_TXT).txt(n, 30, b"vmgate-owner=hv_1!")] + full[3:])
    s["ttl-high-bit"] = lookup(ok4, [Msg(n, T_A).a(n, 0x80000000, "198.18.0.1")] + full[1:])
    s["soa-minimum-high-bit"] = lookup((ST_NXDOMAIN,) * 4, [Msg(n, T_A, rcode=3).soa(300, 0xFFFFFFFF)] * 3 + [nx(srvn, T_SRV)])
    s["soa-short-rdata"] = lookup((ST_NODATA,) * 4,
                                  [Msg(n, T_A).rr("vm.test", T_SOA, 300, b"\x00\x00" + b"\x00" * 19, auth=True)] * 4)
    good = full[0].bytes()
    s["truncated-answer"] = lookup(ok4, [good[:-3]] + full[1:])
    s["pointer-loop"] = lookup(ok4, [good[:12] + b"\xc0\x0c"] + full[1:])
    s["label-0x40"] = lookup(ok4, [good[:12] + b"\x41" + good[13:]] + full[1:])
    s["rdlen-overrun"] = lookup(ok4, [good[:-6] + b"\xff\xff" + good[-4:]] + full[1:])
    s["garbage"] = lookup(ok4, [b"\xff" * 40, b"\x00" * 12, b"x", b"\x00\x01\x84\x00\x00\x02" + b"\x00" * 6])
    s["unknown-status"] = lookup((ST_OTHER,) * 4, full, other=0xF0)
    return s

# -----------------------------------------------------------------------------


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for target, seeds in (("yamux", yamux_seeds()), ("mux", mux_seeds()), ("ctl", ctl_seeds()),
                          ("rparse", rparse_seeds())):
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for name, b in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(b)
        print("%s: %d seeds" % (target, len(seeds)))


if __name__ == "__main__":
    main()
