#!/usr/bin/env python3
"""Helpers of test_resolve_hostile.sh (stdlib only).

    hostile_dns.py dns --records FILE --listen ADDR:PORT
        A UDP DNS server answering from FILE, re-read on every query, so the test changes an
        answer by rewriting the file (atomically).  One record a line:
            NAME TYPE TTL DATA...      (# comments, blank lines ignored)
        TYPE: A ADDR | AAAA ADDR | TXT TEXT | SRV PRIO WEIGHT PORT TARGET | CNAME TARGET |
              DNAME TARGET.
        Answers like an authoritative server for every name in the file: the records of the asked
        type, following CNAMEs (and DNAMEs, with the synthesized CNAME) inside the file;
        NXDOMAIN for a name without records, NODATA otherwise, both with an SOA (TTL and MINIMUM
        taken from `soa-ttl` in the file, default 5).  Every query is logged to stdout.

    hostile_dns.py trap --listen ADDR:PORT [--listen ...] --log FILE
        TCP listeners standing in for owning hosts' gateways.  Every accepted connection appends
        "CONN LOCAL-ADDR:PORT" to FILE at once (so "no line" means "never connected to").  It then
        plays a SOCKS5 server for the chaining gateway's pipelined greeting + RFC 1929 + CONNECT
        (all accepted), answers "HELLO LOCAL-ADDR:PORT" to a HELLO line and echoes the rest.
"""
import argparse
import ipaddress
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28, "SRV": 33, "DNAME": 39}


def wire(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def load(path):
    recs, soa_ttl = [], 5
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 3)
            if parts[0] == "soa-ttl":
                soa_ttl = int(parts[1])
                continue
            name, typ, ttl, data = parts[0].lower().strip("."), parts[1].upper(), int(parts[2]), parts[3]
            recs.append((name, typ, ttl, data))
    return recs, soa_ttl


def rdata(typ, data):
    if typ == "A":
        return ipaddress.IPv4Address(data).packed
    if typ == "AAAA":
        return ipaddress.IPv6Address(data).packed
    if typ == "TXT":
        b = data.encode()
        return bytes([len(b)]) + b
    if typ == "SRV":
        prio, weight, port, target = data.split()
        return struct.pack(">HHH", int(prio), int(weight), int(port)) + wire(target)
    if typ in ("CNAME", "DNAME"):
        return wire(data)
    raise ValueError(typ)


def rr(name, typ, ttl, rd):
    return wire(name) + struct.pack(">HHIH", TYPES[typ], 1, ttl, len(rd)) + rd


def answer(recs, soa_ttl, qname, qtype):
    """(rcode, answer RRs, authority RRs)"""
    names = {r[0] for r in recs}
    an, name = [], qname
    for _ in range(12):
        here = [r for r in recs if r[0] == name]
        want = [r for r in here if TYPES[r[1]] == qtype]
        if want:
            an += [rr(r[0], r[1], r[2], rdata(r[1], r[3])) for r in want]
            break
        cname = [r for r in here if r[1] == "CNAME"]
        if cname:
            r = cname[0]
            an.append(rr(r[0], "CNAME", r[2], rdata("CNAME", r[3])))
            name = r[3].lower().strip(".")
            continue
        if here:
            break
        dname = [r for r in recs if r[1] == "DNAME" and name.endswith("." + r[0])]
        if dname:
            r = dname[0]
            target = name[: -len(r[0])] + r[3].lower().strip(".")
            an.append(rr(r[0], "DNAME", r[2], rdata("DNAME", r[3])))
            an.append(rr(name, "CNAME", r[2], wire(target)))
            name = target
            continue
        break
    has_data = any(TYPES[r[1]] == qtype and r[0] == name for r in recs)
    rcode = 0 if (an or qname in names) else 3
    ns = []
    if not has_data:
        soa = wire("ns.vm.test") + wire("hostmaster.vm.test") + struct.pack(">IIIII", 1, 3600, 600, 86400, soa_ttl)
        ns.append(rr("vm.test", "SOA", soa_ttl, soa))
    return rcode, an, ns


def parse_question(q):
    off, labels = 12, []
    while q[off] != 0:
        n = q[off]
        labels.append(q[off + 1:off + 1 + n].decode("latin-1"))
        off += 1 + n
    qtype = struct.unpack(">H", q[off + 1:off + 3])[0]
    return ".".join(labels).lower(), qtype, q[12:off + 5]


def cmd_dns(a):
    host, port = a.listen.rsplit(":", 1)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host.strip("[]"), int(port)))
    print("listening", a.listen, flush=True)
    while True:
        q, peer = s.recvfrom(4096)
        try:
            qname, qtype, question = parse_question(q)
            recs, soa_ttl = load(a.records)
            rcode, an, ns = answer(recs, soa_ttl, qname, qtype)
        except Exception as e:  # a broken query or records file: say so, answer SERVFAIL
            print("error", e, flush=True)
            s.sendto(q[:2] + struct.pack(">HHHHH", 0x8182 | (q[2] & 1) << 8, 0, 0, 0, 0), peer)
            continue
        flags = 0x8400 | (q[2] & 1) << 8 | rcode
        msg = q[:2] + struct.pack(">HHHHH", flags, 1, len(an), len(ns), 0) + question + b"".join(an) + b"".join(ns)
        print("query %s %d -> rcode %d, %d answers" % (qname, qtype, rcode, len(an)), flush=True)
        s.sendto(msg, peer)


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b


def serve_trap(c, tag, ctx=None):
    try:
        c.settimeout(20)
        if ctx is not None:
            c = ctx.wrap_socket(c, server_side=True)
        _, nm = recv_exact(c, 2)
        recv_exact(c, nm)
        c.sendall(b"\x05\x02")
        _, ul = recv_exact(c, 2)
        recv_exact(c, ul)
        pl = recv_exact(c, 1)[0]
        recv_exact(c, pl)
        c.sendall(b"\x01\x00")
        _, _, _, atyp = recv_exact(c, 4)
        if atyp == 3:
            recv_exact(c, recv_exact(c, 1)[0])
        else:
            recv_exact(c, 4 if atyp == 1 else 16)
        recv_exact(c, 2)
        c.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        line = b""
        while not line.endswith(b"\n"):
            d = c.recv(1)
            if not d:
                return
            line += d
        if line.startswith(b"HELLO"):
            c.sendall(("HELLO %s\n" % tag).encode())
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except (OSError, EOFError):
        pass
    finally:
        c.close()


def trap_tls(a):
    """--tls-cert/--tls-key: traps speak TLS first, as the hosts' gateways do."""
    if not a.tls_cert:
        return None
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.tls_cert, a.tls_key)
    return ctx


def cmd_trap(a):
    lock = threading.Lock()
    ctx = trap_tls(a)

    def run(ls, tag):
        while True:
            c, _ = ls.accept()
            with lock, open(a.log, "a") as f:
                f.write("CONN %s\n" % tag)
            threading.Thread(target=serve_trap, args=(c, tag, ctx), daemon=True).start()

    threads = []
    for hp in a.listen:
        host, port = hp.rsplit(":", 1)
        ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host.strip("[]"), int(port)))
        ls.listen(64)
        t = threading.Thread(target=run, args=(ls, hp), daemon=True)
        t.start()
        threads.append(t)
    print("listening", " ".join(a.listen), flush=True)
    for t in threads:
        t.join()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dns")
    d.add_argument("--records", required=True)
    d.add_argument("--listen", required=True)
    d.set_defaults(fn=cmd_dns)
    t = sub.add_parser("trap")
    t.add_argument("--listen", action="append", required=True)
    t.add_argument("--log", required=True)
    t.add_argument("--tls-cert", help="speak TLS first with this certificate")
    t.add_argument("--tls-key")
    t.set_defaults(fn=cmd_trap)
    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
