#!/usr/bin/env python3
"""A test RD Web Access feed server for radc-subscribe's HTTP tests.

It plays the MS-TSWP login dance the way RD Web Access does: the feed URL
answers 302 to a login URL; the login URL asks for Windows authentication
(Negotiate and/or NTLM, done by pyspnego, an NTLM implementation independent
of the client's) and answers the .ASPXAUTH token as
`application/x-msts-webfeed-login`; the feed and its files are served only to
requests carrying that token as the `.ASPXAUTH` cookie.

Usage: feed_server.py --certdir DIR [--plain] [--require-cb] [--keytab FILE]
  Generates a test CA and a server certificate for 127.0.0.1/localhost in DIR
  (if missing), listens on 127.0.0.1 with TLS (or plain http with --plain) on
  a free port, plus a plain-http control port, and prints
  `READY <port> <control-port>` on stdout. Exits when stdin closes.
  --require-cb  the Windows sign-in requires channel bindings (RFC 5929
                tls-server-end-point of this server's certificate), as
                Extended Protection does
  --keytab      accept Kerberos (inside Negotiate) with this keytab too

Paths: /<tenant>/<mode>/feed, /<tenant>/<mode>/login,
/<tenant>/<mode>/files/<name>, /<tenant>/icon.png (records what it got).
Control port: /<tenant>/stats (JSON), /<tenant>/expire (drop the tenant's
tokens), POST /<tenant>/change with a file name as body (`calc.rdp`: that
file gets new bytes), POST /<tenant>/query with a query string as body
(`?v=2`: the `apps` feed names its files with it, same bytes), POST
/<tenant>/stamp with `on` or `off` (the `apps` feed gives each resource a
`LastUpdated` that moves when one of its files changes, as RD Web does). A
tenant is any name; it keeps tests apart.

Files (under /files/) carry an ETag (a hash of their bytes) and a
Last-Modified date, and get 304 to a matching If-None-Match (or, without
one, If-Modified-Since); each file request is recorded in the tenant's
`file_requests` stats with its conditional headers and answer.

Modes:
  normal    302 -> login (Negotiate + NTLM offered) -> token -> feed
  ntlmonly  like normal, the login URL offers only NTLM
  basic     like normal, the login URL offers only Basic
  direct    the feed URL itself answers 401 Negotiate/NTLM (no cookie)
  notoken   the login succeeds but answers text/html instead of a token
  missing   404 everywhere
  truncated the feed announces 100000 bytes, sends 100 and closes
  slow      the feed answers after 10 s
  huge      the feed announces and streams 200 MB
  hugechunked  the feed streams 200 MB chunked, without a length
  away      the feed redirects to the URL in its `to` query parameter
  apps      like normal, and the feed lists two RemoteApps and a desktop
            (not shown by default) with PNG icons among its files
  public    the `apps` feed and files with no sign-in at all
  proxied   like normal, but the login URL trusts the user name a front
            server (Apache with mod_auth_gssapi) passes in X-Remote-User

Reconnection (MS-RDWR): POST /<tenant>/<mode>/RDWebService.asmx behind the
same sign-in as the files (no cookie: 302 to the login URL). Every request
is recorded in the tenant's `rdweb` stats. Modes:
  (each of these modes' feeds has its own publisher ID, test-<mode>)
  reconnect       the feed says SupportsReconnect="true"; the service
                  answers two sessions, a desktop and a RemoteApp, in the
                  envelope of MS-RDWR 4.1 (or the tenant's own answer, set
                  with POST /<tenant>/answer on the control port)
  reconnectnone   the answer holds no sessions
  reconnectbad    the answer is cut off mid-element (malformed XML)
  reconnectfault  HTTP 500 with a SOAP fault, as ASP.NET sends one
  noreconnect     the feed says SupportsReconnect="false"; the service
                  would answer as in `reconnect`
"""

import argparse
import base64
import hashlib
import datetime
import http.server
import ipaddress
import json
import os
import secrets
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import zlib

FEED_V2 = b"""<?xml version="1.0" encoding="utf-8"?>
<ResourceCollection PubDate="2026-01-01T00:00:00Z" SchemaVersion="2.1" xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">
  <Publisher LastUpdated="2026-01-01T00:00:00Z" Name="Test" ID="test" Description="">
    <Resources/>
  </Publisher>
</ResourceCollection>
"""
FEED_V1 = FEED_V2.replace(b'SchemaVersion="2.1"', b'SchemaVersion="1.1"')

# MS-RDWR: the answer's envelope (section 4.1) and its sessions.
RDWR_NS = "http://schemas.microsoft.com/ts/2010/09/rdweb"
RDWR_ACTION = '"http://schemas.microsoft.com/ts/2010/09/rdweb/GetRDPFiles"'
RDWR_SESSIONS = [
    (
        "full address:s:rdsh.radc.test\r\nserver port:i:3389\r\nworkspace id:s:test\r\n"
        "loadbalanceinfo:s:tsv://MS Terminal Services Plugin.1.Desktops\r\n",
        "REMOTEDESKTOP",
    ),
    (
        "full address:s:rdsh.radc.test\r\nremoteapplicationmode:i:1\r\n"
        "remoteapplicationprogram:s:||calc\r\nremoteapplicationname:s:Calculator\r\n",
        "REMOTEAPPLICATION",
    ),
]


def rdwr_answer(sessions, version="8.0"):
    """A GetRDPFiles answer in MS-RDWR 4.1's envelope."""
    from xml.sax.saxutils import escape

    entries = "".join(
        "<ReconnectContent><rdpStream>%s</rdpStream><rct>%s</rct></ReconnectContent>"
        % (escape(rdp).replace("\r", "&#13;"), rct)
        for rdp, rct in sessions
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap:Body><GetRDPFilesResponse xmlns="%s"><GetRDPFilesResult>'
        "<version>%s</version><wkspRC>%s</wkspRC>"
        "</GetRDPFilesResult></GetRDPFilesResponse></soap:Body></soap:Envelope>" % (RDWR_NS, version, entries)
    ).encode()


RDWR_FAULT = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
    b"<faultcode>soap:Server</faultcode>"
    b"<faultstring>Server was unable to process request. ---&gt; The connection broker is not available.</faultstring>"
    b"<detail /></soap:Fault></soap:Body></soap:Envelope>"
)

# The `apps` mode's resources: id, title, type, extra attributes, file
# extensions, icon colour.
APPS = [
    ("calc", "Calculator", "RemoteApp", "", [], (0x35, 0x84, 0xE4)),
    ("wordpad", "WordPad", "RemoteApp", "", [".rtf"], (0xE6, 0x61, 0x00)),
    ("desktop", "Office Desktop", "Desktop", ' ShowByDefault="False"', [], (0x26, 0xA2, 0x69)),
]
ICON_COLOURS = {id: rgb for id, _, _, _, _, rgb in APPS}


def feed_apps(base, query="", changed=None):
    """The `apps` mode's feed; its files are under `base`/files, their
    URLs ending in `query`. With `changed` (file name -> times changed),
    each resource has a `LastUpdated` that moves with its files."""

    def stamp(id):
        if changed is None:
            return ""
        times = sum(n for name, n in changed.items() if name.split(".")[0] == id)
        return ' LastUpdated="2026-01-01T00:00:%02dZ"' % (times % 60)

    resources = "".join(
        '<Resource ID="%s" Title="%s" Type="%s"%s%s>'
        '<Icons><Icon32 Dimensions="32x32" FileType="Png" FileURL="%s/files/%s" /></Icons>'
        "<FileExtensions>%s</FileExtensions>"
        '<HostingTerminalServers><HostingTerminalServer><ResourceFile FileExtension=".rdp" URL="%s/files/%s" />'
        '<TerminalServerRef Ref="host1" /></HostingTerminalServer></HostingTerminalServers></Resource>'
        % (
            id,
            title,
            kind,
            extra,
            stamp(id),
            base,
            id + ".png" + query,
            "".join('<FileExtension Name="%s" />' % e for e in exts),
            base,
            id + ".rdp" + query,
        )
        for id, title, kind, extra, exts, _ in APPS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<ResourceCollection PubDate="2026-01-01T00:00:00Z" SchemaVersion="2.1" '
        'xmlns="http://schemas.microsoft.com/ts/2007/05/tswf">'
        '<Publisher LastUpdated="2026-01-01T00:00:00Z" Name="Test Apps" ID="test-apps" Description="">'
        "<Resources>%s</Resources>"
        '<TerminalServers><TerminalServer ID="host1" Name="rdsh.radc.test" /></TerminalServers>'
        "</Publisher></ResourceCollection>" % resources
    ).encode()


def png_icon(rgb, size=32):
    """A real PNG: a square of one colour with a lighter inner square."""
    light = tuple(min(255, c + 90) for c in rgb)
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            inner = size // 4 <= x < size - size // 4 and size // 4 <= y < size - size // 4
            row += bytes(light if inner else rgb) + b"\xff"
        rows.append(bytes(row))

    def chunk(kind, data):
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = size.to_bytes(4, "big") * 2 + bytes([8, 6, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


USERS = "RADCTEST:alice:Secr3t-pw\n:bob@radc.test:B0b-secret\n"

LOCK = threading.Lock()
TENANTS = {}


def tenant(name):
    with LOCK:
        return TENANTS.setdefault(
            name,
            {
                "tokens": [],
                "logins": 0,
                "login_failures": 0,
                "feed_ok": 0,
                "feed_redirects": 0,
                "files_ok": 0,
                "files_refused": 0,
                "handshake_connections": [],
                "icon_requests": [],
                "accept": [],
                "user_agents": [],
                "principals": [],
                "expired": 0,
                "schemes": [],
                "rdweb": [],
                "answer": None,
                "changed": {},
                "query": "",
                "stamped": False,
                "file_requests": [],
            },
        )


def make_certs(certdir):
    ca_pem = os.path.join(certdir, "ca.pem")
    if os.path.exists(ca_pem):
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "radc test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    # Names in one made-up site, which the tests resolve to
                    # loopback themselves: a feed's files may come from
                    # another host only within the feed's site.
                    x509.DNSName("rdweb.radc.test"),
                    x509.DNSName("icons.radc.test"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    with open(os.path.join(certdir, "server.key"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(os.path.join(certdir, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(ca_pem + ".tmp", "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    os.rename(ca_pem + ".tmp", ca_pem)


def cookie_token(headers):
    for value in headers.get_all("Cookie") or []:
        for part in value.split(";"):
            name, _, v = part.strip().partition("=")
            if name == ".ASPXAUTH":
                return v
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answers go out in several writes (TLS records, headers, body); with
    # Nagle's algorithm each later write waits for the client's delayed
    # ACK, 40 ms a time on loopback, which would swamp what is measured.
    disable_nagle_algorithm = True
    server_version = "RadcTestIIS/1.0"

    def log_message(self, fmt, *args):
        if os.environ.get("FEED_SERVER_LOG"):
            sys.stderr.write("feed_server: " + (fmt % args) + "\n")

    # --- helpers -------------------------------------------------------
    def send(self, status, body=b"", ctype="text/plain", headers=(), close=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def authed(self, t):
        tok = cookie_token(self.headers)
        with LOCK:
            return tok is not None and tok in t["tokens"]

    # --- Windows authentication (per connection, like IIS) --------------
    def windows_auth(self, t, offered):
        """Returns the principal once authenticated, None after answering."""
        import spnego

        auth = self.headers.get("Authorization")
        challenge = [("WWW-Authenticate", o) for o in offered]
        if not auth:
            self.auth_ctx = None
            self.send(401, b"401 - Unauthorized", headers=challenge)
            return None
        scheme, _, data = auth.partition(" ")
        if scheme not in offered:
            self.send(401, b"scheme not offered", headers=challenge)
            return None
        if scheme == "Basic":
            with LOCK:
                t["schemes"].append(scheme)
            user, _, password = base64.b64decode(data).decode().partition(":")
            for line in USERS.splitlines():
                d, u, p = line.split(":", 2)
                if user.lower() in ((d + "\\" + u).lower(), u.lower()) and password == p:
                    return user
            with LOCK:
                t["login_failures"] += 1
            self.send(401, b"bad password", headers=challenge)
            return None
        token = base64.b64decode(data)
        ctx = getattr(self, "auth_ctx", None)
        if ctx is None or getattr(self, "auth_scheme", None) != scheme:
            ctx = spnego.server(
                protocol="negotiate" if scheme == "Negotiate" else "ntlm",
                channel_bindings=self.server.channel_bindings,
            )
            self.auth_ctx = ctx
            self.auth_scheme = scheme
            with LOCK:
                t["handshake_connections"].append(self.connection_id)
                t["schemes"].append(scheme)
        try:
            out = ctx.step(token)
        except Exception as e:  # wrong password, bad token
            if os.environ.get("FEED_SERVER_LOG"):
                sys.stderr.write("feed_server: sign-in failed: %r\n" % e)
            self.auth_ctx = None
            with LOCK:
                t["login_failures"] += 1
            self.send(401, ("authentication failed: %s" % type(e).__name__).encode(), headers=challenge)
            return None
        if not ctx.complete:
            self.send(401, b"", headers=[("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(out).decode()))])
            return None
        self.auth_ctx = None
        if self.connection_id not in t["handshake_connections"][-1:]:
            # The handshake moved to another connection: an NTLM server
            # would have lost the context. (pyspnego would have failed too.)
            self.send(401, b"handshake changed connection", headers=challenge)
            return None
        self.final_auth = (
            [("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(out).decode()))] if out else []
        )
        return ctx.client_principal

    # --- dispatch --------------------------------------------------------
    def do_GET(self):
        if not hasattr(self, "connection_id"):
            self.connection_id = secrets.token_hex(4)
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        if self.server.control:
            return self.control(parts)
        if len(parts) == 2 and parts[1] == "icon.png":
            t = tenant(parts[0])
            with LOCK:
                t["icon_requests"].append(
                    {"cookie": self.headers.get("Cookie"), "authorization": self.headers.get("Authorization")}
                )
            return self.send(200, b"\x89PNG icon", ctype="image/png")
        if len(parts) < 3:
            return self.send(404, b"not found")
        t = tenant(parts[0])
        mode, what = parts[1], parts[2]
        base = "/%s/%s" % (parts[0], mode)
        if mode == "missing":
            return self.send(404, b"The resource cannot be found.", ctype="text/html")
        if what == "feed":
            return self.feed(t, mode, base)
        if what == "login":
            return self.login(t, mode)
        if what == "files":
            return self.file(t, mode, base)
        self.send(404, b"not found")

    def do_POST(self):
        if not hasattr(self, "connection_id"):
            self.connection_id = secrets.token_hex(4)
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.control:
            if len(parts) == 2 and parts[1] == "answer":
                t = tenant(parts[0])
                with LOCK:
                    t["answer"] = body.decode()
                return self.send(200, b"ok")
            if len(parts) == 2 and parts[1] == "change":
                t = tenant(parts[0])
                name = body.decode()
                with LOCK:
                    t["changed"][name] = t["changed"].get(name, 0) + 1
                return self.send(200, b"ok")
            if len(parts) == 2 and parts[1] == "stamp":
                t = tenant(parts[0])
                with LOCK:
                    t["stamped"] = body == b"on"
                return self.send(200, b"ok")
            if len(parts) == 2 and parts[1] == "query":
                t = tenant(parts[0])
                with LOCK:
                    t["query"] = body.decode()
                return self.send(200, b"ok")
            return self.send(404)
        if len(parts) != 3 or parts[2] != "RDWebService.asmx":
            return self.send(404, b"not found")
        t = tenant(parts[0])
        mode = parts[1]
        base = "/%s/%s" % (parts[0], mode)
        authed = self.authed(t)
        with LOCK:
            t["rdweb"].append(
                {
                    "soapaction": self.headers.get("SOAPAction"),
                    "content_type": self.headers.get("Content-Type"),
                    "signed_in": authed,
                    "body": body.decode("utf-8", "replace"),
                }
            )
        if not authed:
            return self.send(302, b"", headers=[("Location", base + "/login?ReturnUrl=x")])
        xml = "text/xml; charset=utf-8"
        if mode == "reconnectnone":
            return self.send(200, rdwr_answer([]), ctype=xml)
        if mode == "reconnectbad":
            return self.send(200, rdwr_answer(RDWR_SESSIONS)[:300], ctype=xml)
        if mode == "reconnectfault":
            return self.send(500, RDWR_FAULT, ctype=xml)
        with LOCK:
            answer = t["answer"]
        if answer is not None:
            return self.send(200, answer.encode(), ctype=xml)
        self.send(200, rdwr_answer(RDWR_SESSIONS), ctype=xml)

    def feed(self, t, mode, base):
        with LOCK:
            t["accept"].append(self.headers.get("Accept"))
            t["user_agents"].append(self.headers.get("User-Agent"))
        if mode == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/x-msts-radc+xml; charset=utf-8")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(FEED_V2[:100])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(10)
            return self.send(200, FEED_V2, ctype="application/x-msts-radc+xml")
        if mode in ("huge", "hugechunked"):
            return self.huge(mode == "huge")
        if mode == "away":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            return self.send(302, b"", headers=[("Location", query["to"][0])])
        if mode == "direct":
            principal = self.windows_auth(t, ["Negotiate", "NTLM"])
            if principal is None:
                return
            with LOCK:
                t["logins"] += 1
                t["principals"].append(principal)
            return self.feed_body(t, self.final_auth)
        if mode == "public":
            with LOCK:
                query = t["query"]
                changed = dict(t["changed"]) if t["stamped"] else None
            return self.send(200, feed_apps(base, query, changed), ctype="application/x-msts-radc+xml; charset=utf-8")
        if not self.authed(t):
            with LOCK:
                t["feed_redirects"] += 1
            login = base + "/login?ReturnUrl=" + urllib.parse.quote(base + "/feed")
            return self.send(302, b"Object moved", ctype="text/html", headers=[("Location", login)])
        self.feed_body(t, [], base if mode == "apps" else None, mode)

    def feed_body(self, t, headers, base=None, mode=None):
        with LOCK:
            t["feed_ok"] += 1
        if mode is not None and (mode.startswith("reconnect") or mode == "noreconnect"):
            says = "false" if mode == "noreconnect" else "true"
            # Its own workspace per mode, so one client can subscribe to several.
            feed = FEED_V2.replace(b'Description=""', b'Description="" SupportsReconnect="%s"' % says.encode())
            feed = feed.replace(b'ID="test"', b'ID="test-%s"' % mode.encode())
            feed = feed.replace(b'Name="Test"', b'Name="Test %s"' % mode.encode())
            return self.send(200, feed, ctype="application/x-msts-radc+xml; charset=utf-8", headers=headers)
        if base is not None:
            with LOCK:
                query = t["query"]
                changed = dict(t["changed"]) if t["stamped"] else None
            return self.send(200, feed_apps(base, query, changed), ctype="application/x-msts-radc+xml; charset=utf-8", headers=headers)
        if "radc_schema_version=2.0" in (self.headers.get("Accept") or ""):
            self.send(200, FEED_V2, ctype="application/x-msts-radc+xml; charset=utf-8", headers=headers)
        else:
            self.send(200, FEED_V1, ctype="text/xml; charset=utf-8", headers=headers)

    def huge(self, with_length):
        total = 200 * 1024 * 1024
        chunk = b"\0" * 65536
        self.send_response(200)
        self.send_header("Content-Type", "application/x-msts-radc+xml")
        if with_length:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            while sent < total:
                if with_length:
                    self.wfile.write(chunk)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if not with_length:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass

    def login(self, t, mode):
        offered = {"ntlmonly": ["NTLM"], "basic": ["Basic realm=\"RDWeb\""]}.get(mode, ["Negotiate", "NTLM"])
        if mode == "basic":
            offered = ["Basic"]
        if mode == "proxied":
            principal = self.headers.get("X-Remote-User")
            self.final_auth = []
            if not principal:
                return self.send(403, b"no user from the front server")
            with LOCK:
                t["schemes"].append("front")
        else:
            principal = self.windows_auth(t, offered)
        if principal is None:
            return
        if mode == "notoken":
            return self.send(200, b"<html>signed in</html>", ctype="text/html")
        token = secrets.token_hex(32).upper()
        with LOCK:
            t["tokens"].append(token)
            t["logins"] += 1
            t["principals"].append(principal)
        self.send(
            200,
            token.encode(),
            ctype="application/x-msts-webfeed-login; charset=utf-8",
            headers=self.final_auth if mode != "basic" else [],
        )

    def file(self, t, mode, base):
        if mode == "direct":
            if self.windows_auth(t, ["Negotiate", "NTLM"]) is None:
                return
        elif mode != "public" and not self.authed(t):
            with LOCK:
                t["files_refused"] += 1
            return self.send(302, b"", headers=[("Location", base + "/login?ReturnUrl=x")])
        with LOCK:
            t["files_ok"] += 1
        name = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
        with LOCK:
            version = t["changed"].get(name, 0)
        if name.endswith(".png"):
            rgb = ICON_COLOURS.get(name[: -len(".png")], (0x77, 0x76, 0x7B))
            rgb = tuple((c + 40 * version) % 256 for c in rgb)
            body, ctype = png_icon(rgb), "image/png"
        else:
            body = b"full address:s:rdsh.radc.test\n"
            if version:
                body += b"alternate shell:s:v%d\n" % version
            ctype = "application/x-rdp"
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
        last_modified = "Thu, 01 Jan 2026 00:00:%02d GMT" % (version % 60)
        if_none_match = self.headers.get("If-None-Match")
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_none_match is not None:
            fresh = etag in [e.strip() for e in if_none_match.split(",")]
        else:
            fresh = if_modified_since == last_modified
        with LOCK:
            t["file_requests"].append(
                {
                    "path": self.path,
                    "if_none_match": if_none_match,
                    "if_modified_since": if_modified_since,
                    "status": 304 if fresh else 200,
                }
            )
        validators = [("ETag", etag), ("Last-Modified", last_modified)]
        if fresh:
            # No body and no Content-Length of one (RFC 9110, 15.4.5).
            self.send_response(304)
            for k, v in validators:
                self.send_header(k, v)
            self.end_headers()
            return
        self.send(200, body, ctype=ctype, headers=validators)

    def control(self, parts):
        if len(parts) != 2:
            return self.send(404)
        t = tenant(parts[0])
        if parts[1] == "expire":
            with LOCK:
                t["tokens"].clear()
                t["expired"] += 1
            return self.send(200, b"ok")
        if parts[1] == "stats":
            with LOCK:
                body = json.dumps({k: v for k, v in t.items() if k not in ("tokens", "answer")}).encode()
            return self.send(200, body, ctype="application/json")
        self.send(404)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, control, context=None, channel_bindings=None):
        super().__init__(addr, handler)
        self.control = control
        self.context = context
        self.channel_bindings = channel_bindings

    def get_request(self):
        sock, addr = super().get_request()
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if self.context is not None:
            try:
                request.settimeout(15)
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return  # a client that refused our certificate
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


def tls_server_end_point(pem_path):
    """RFC 5929 channel bindings of our certificate, computed here with
    `cryptography`, independently of the client."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from spnego.channel_bindings import GssChannelBindings

    with open(pem_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certdir", required=True)
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--require-cb", action="store_true")
    ap.add_argument("--keytab")
    args = ap.parse_args()
    if args.keytab:
        os.environ["KRB5_KTNAME"] = "FILE:" + args.keytab

    users = os.path.join(args.certdir, "users.txt")
    if not os.path.exists(users):
        with open(users + ".tmp", "w") as f:
            f.write(USERS)
        os.rename(users + ".tmp", users)
    os.environ["NTLM_USER_FILE"] = users

    context = None
    if not args.plain:
        make_certs(args.certdir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(
            os.path.join(args.certdir, "server.pem"), os.path.join(args.certdir, "server.key")
        )
    bindings = None
    if args.require_cb and context is not None:
        bindings = tls_server_end_point(os.path.join(args.certdir, "server.pem"))
    main_srv = Server(("127.0.0.1", 0), Handler, False, context, bindings)
    ctl_srv = Server(("127.0.0.1", 0), Handler, True)
    for srv in (main_srv, ctl_srv):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("READY %d %d" % (main_srv.server_address[1], ctl_srv.server_address[1]), flush=True)
    # Exit with the test process: its end of our stdin closes then.
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    main()
