#!/usr/bin/env python3
"""fake_dns.py -- a DNS-over-TCP man in the middle for the registrar tests (stdlib only).

It stands where vmgate-reg expects the zone's primary, forwards to the real server (BIND or Knot)
or answers itself, as a rules file says; the file is read again for every request, so one process
serves every case of a test.  Lines of the rules file:

    update ACTION        for UPDATE messages (opcode 5)
    query ACTION         for everything else (the ownership TXT queries)

ACTION is one of
    pass                 forward, return the server's reply
    unsigned:RCODE       do not forward; answer RCODE (name or number) without a TSIG
    fwd-unsigned:RCODE   forward (the server applies it), then answer RCODE without a TSIG
    wrongkey:RCODE       do not forward; answer RCODE signed with another secret
    tsigerr:ERR          do not forward; NOTAUTH with a TSIG RR of the request's key, error ERR
                         (16 BADSIG, 17 BADKEY, 18 BADTIME) and no MAC, as RFC 8945 5.3.2 has it
    badid:RCODE          do not forward; answer RCODE without a TSIG and with another message id

Every request is logged to --log as one line:
    OPCODE QNAME QTYPE tsig=none|valid|invalid key=NAME action=ACTION
("valid" = its MAC verifies with --secret).  The listening port goes to --port-file once the
socket listens (tests poll for that file).
"""
import argparse
import base64
import hashlib
import hmac
import os
import socket
import socketserver
import struct
import sys
import threading
import time

RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5,
          "YXDOMAIN": 6, "YXRRSET": 7, "NXRRSET": 8, "NOTAUTH": 9, "NOTZONE": 10}
OPCODES = {0: "QUERY", 4: "NOTIFY", 5: "UPDATE"}
TYPES = {1: "A", 6: "SOA", 16: "TXT", 28: "AAAA", 33: "SRV", 252: "AXFR", 255: "ANY"}
TSIG = 250
ALG = b"\x0bhmac-sha256\x00"

ARGS = None
LOG_LOCK = threading.Lock()


def read_name(msg, off):
    """(lower-case labels, offset after the name) with compression pointers followed."""
    labels, end, hops = [], None, 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            hops += 1
            if hops > 64:
                raise ValueError("pointer loop")
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].lower())
        off += n
    return labels, end if end is not None else off


def wire_name(labels):
    return b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"


def text_name(labels):
    return ".".join(x.decode("ascii", "replace") for x in labels) + "."


def parse(msg):
    """Header fields, the end of the question section, the question, and the TSIG (or None)."""
    mid, flags, qd, an, ns, ar = struct.unpack("!6H", msg[:12])
    off, question = 12, None
    for _ in range(qd):
        labels, off = read_name(msg, off)
        qtype, _qclass = struct.unpack("!HH", msg[off:off + 4])
        off += 4
        question = question or (labels, qtype)
    qend = off
    tsig = None
    for i in range(an + ns + ar):
        start = off
        labels, off = read_name(msg, off)
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        if rtype == TSIG and i == an + ns + ar - 1:
            r = off
            alg, r = read_name(msg, r)
            t_hi, t_lo, fudge, macsize = struct.unpack("!HIHH", msg[r:r + 10])
            r += 10
            mac = msg[r:r + macsize]
            r += macsize
            origid, error, olen = struct.unpack("!HHH", msg[r:r + 6])
            r += 6
            tsig = {"start": start, "key": labels, "alg": alg, "time": (t_hi << 32) | t_lo,
                    "fudge": fudge, "mac": mac, "origid": origid, "error": error,
                    "other": msg[r:r + olen]}
        off += rdlen
    return {"id": mid, "flags": flags, "qd": qd, "ar": ar, "qend": qend, "question": question,
            "tsig": tsig}


def tsig_vars(key, alg, when, fudge, error, other):
    return (wire_name(key) + struct.pack("!HI", 255, 0) + wire_name(alg) +
            struct.pack("!HIHHH", when >> 32, when & 0xFFFFFFFF, fudge, error, len(other)) + other)


def request_valid(msg, p, secret):
    t = p["tsig"]
    body = struct.pack("!H", t["origid"]) + msg[2:10] + struct.pack("!H", p["ar"] - 1) + \
        msg[12:t["start"]]
    data = body + tsig_vars(t["key"], t["alg"], t["time"], t["fudge"], t["error"], t["other"])
    want = hmac.new(secret, data, hashlib.sha256).digest()
    return hmac.compare_digest(want, t["mac"])


def reply(msg, p, rcode, secret=None, tsig_error=None, mid=None):
    """A reply echoing the request's question: unsigned, signed with secret, or a TSIG error."""
    opcode = (p["flags"] >> 11) & 0xF
    flags = 0x8000 | (opcode << 11) | rcode
    question = msg[12:p["qend"]]
    mid = p["id"] if mid is None else mid
    t = p["tsig"]
    if t is None or (secret is None and tsig_error is None):
        return struct.pack("!6H", mid, flags, p["qd"], 0, 0, 0) + question
    now = int(time.time())
    key = t["key"]
    if tsig_error is not None:
        mac, error = b"", tsig_error
    else:
        body = struct.pack("!6H", mid, flags, p["qd"], 0, 0, 0) + question
        data = struct.pack("!H", len(t["mac"])) + t["mac"] + body + \
            tsig_vars(key, [b"hmac-sha256"], now, 300, 0, b"")
        mac, error = hmac.new(secret, data, hashlib.sha256).digest(), 0
    rdata = ALG + struct.pack("!HIHH", now >> 32, now & 0xFFFFFFFF, 300, len(mac)) + mac + \
        struct.pack("!HHH", t["origid"], error, 0)
    rr = wire_name(key) + struct.pack("!HHIH", TSIG, 255, 0, len(rdata)) + rdata
    return struct.pack("!6H", mid, flags, p["qd"], 0, 0, 1) + question + rr


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_msg(sock):
    hdr = recv_exact(sock, 2)
    if hdr is None:
        return None
    return recv_exact(sock, struct.unpack("!H", hdr)[0])


def send_msg(sock, msg):
    sock.sendall(struct.pack("!H", len(msg)) + msg)


def forward(msg):
    with socket.create_connection(("127.0.0.1", ARGS.upstream), timeout=5) as s:
        send_msg(s, msg)
        return recv_msg(s)


def rules():
    r = {"update": "pass", "query": "pass"}
    try:
        with open(ARGS.rules) as f:
            for line in f:
                w = line.split()
                if len(w) == 2 and w[0] in r:
                    r[w[0]] = w[1]
    except FileNotFoundError:
        pass
    return r


def rcode_of(s):
    return RCODES[s.upper()] if s.upper() in RCODES else int(s)


def answer(msg):
    p = parse(msg)
    opcode = (p["flags"] >> 11) & 0xF
    action = rules()["update" if opcode == 5 else "query"]
    t = p["tsig"]
    if t is None:
        state = "none"
    else:
        state = "valid" if request_valid(msg, p, ARGS.secret) else "invalid"
    q = p["question"]
    with LOG_LOCK, open(ARGS.log, "a") as f:
        f.write("%s %s %s tsig=%s key=%s action=%s\n" % (
            OPCODES.get(opcode, str(opcode)), text_name(q[0]) if q else "-",
            TYPES.get(q[1], str(q[1])) if q else "-", state,
            text_name(t["key"]) if t else "-", action))
    verb, _, arg = action.partition(":")
    if verb == "pass":
        return forward(msg)
    if verb == "unsigned":
        return reply(msg, p, rcode_of(arg))
    if verb == "fwd-unsigned":
        forward(msg)
        return reply(msg, p, rcode_of(arg))
    if verb == "wrongkey":
        return reply(msg, p, rcode_of(arg), secret=b"another secret, not the key's")
    if verb == "tsigerr":
        return reply(msg, p, RCODES["NOTAUTH"], tsig_error=int(arg))
    if verb == "badid":
        return reply(msg, p, rcode_of(arg), mid=(p["id"] + 1) & 0xFFFF)
    raise ValueError("unknown action " + action)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            msg = recv_msg(self.request)
            if msg is None:
                return
            try:
                out = answer(msg)
            except Exception as e:  # a bad rule or an unparsable request: log, hang up
                print("fake_dns: %r" % e, file=sys.stderr)
                return
            if out is None:
                return
            send_msg(self.request, out)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", type=int, required=True, help="the real server's TCP port")
    ap.add_argument("--secret", required=True, help="the test key's secret (base64)")
    ap.add_argument("--rules", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ARGS = ap.parse_args()
    ARGS.secret = base64.b64decode(ARGS.secret)
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
