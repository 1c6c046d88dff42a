#!/usr/bin/env python3
"""A guest program on the agent's control socket: ctlclient.py SOCKET LINE...

Sends each LINE ("req id=<n> op=<op> ...") and prints the event line that answers it.
Exits non-zero if an answer does not come within 10 s (the protocol promises one per request).
"""
import socket
import sys


def main():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    f = s.makefile("rw", newline="\n")
    for line in sys.argv[2:]:
        f.write(line + "\n")
        f.flush()
        answer = f.readline()
        if not answer:
            sys.exit("no answer to: " + line)
        print(answer.rstrip("\n"), flush=True)


if __name__ == "__main__":
    main()
