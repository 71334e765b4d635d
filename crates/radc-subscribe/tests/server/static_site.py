#!/usr/bin/env python3
"""Serves a directory over plain HTTP on 127.0.0.1, on a port of its own.

Usage: static_site.py DIRECTORY

It binds the port itself and prints `READY <port>` on stdout once it
listens, so no other program can take the port between a caller's choice
and the bind. Requests are logged on stderr as `python3 -m http.server`
logs them.
"""

import functools
import http.server
import sys


def main():
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=sys.argv[1]
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
