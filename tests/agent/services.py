#!/usr/bin/env python3
"""Local TCP services for the agent's system tests (127.0.0.1 only).

    services.py KIND:PORT[:ARG] ...      prints "ready" once every listener is up

    echo:PORT          echoes; on EOF finishes echoing, then closes its side (exact half-close)
    sink:PORT          reads to EOF, then answers "sha256 <hex> <bytes>\\n" and closes
    banner:PORT:LOG    sends "banner\\n" and shuts down its sending side at once, keeps reading
                       to EOF, then appends "got <bytes> <sha256>" to LOG
    http:PORT:DIR      HTTP/1.0 file server for DIR
"""
import functools
import hashlib
import http.server
import socket
import socketserver
import sys
import threading


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs of parallel connects (1 s retransmit)


def recv_all(sock):
    h, n = hashlib.sha256(), 0
    while True:
        b = sock.recv(65536)
        if not b:
            return h.hexdigest(), n
        h.update(b)
        n += len(b)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        while True:
            b = s.recv(65536)
            if not b:
                break
            s.sendall(b)
        s.shutdown(socket.SHUT_WR)


class Sink(socketserver.BaseRequestHandler):
    def handle(self):
        digest, n = recv_all(self.request)
        self.request.sendall(f"sha256 {digest} {n}\n".encode())


def banner_handler(log):
    class Banner(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"banner\n")
            self.request.shutdown(socket.SHUT_WR)
            digest, n = recv_all(self.request)
            with open(log, "a") as f:
                f.write(f"got {n} {digest}\n")
    return Banner


class QuietHTTP(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def main():
    servers = []
    for spec in sys.argv[1:]:
        kind, port, *arg = spec.split(":")
        addr = ("127.0.0.1", int(port))
        if kind == "echo":
            srv = Server(addr, Echo)
        elif kind == "sink":
            srv = Server(addr, Sink)
        elif kind == "banner":
            srv = Server(addr, banner_handler(arg[0]))
        elif kind == "http":
            srv = Server(addr, functools.partial(QuietHTTP, directory=arg[0]))
        else:
            sys.exit(f"unknown service {spec}")
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
