#!/usr/bin/env python3
"""Sign an .rdp file the way Microsoft's rdpsign.exe does, for tests.

This is an independent signer used to check radc_rdp::signature against
files produced by another implementation. It needs only the Python standard
library and the `openssl` command.

Format, in short:

* The signed settings are the ones in SECURE_SETTINGS that the file has, in
  that order. If the file has `full address` but no `alternate full address`,
  an `alternate full address` with the same value is added first, so that a
  second address cannot be slipped in later.
* The signed blob is each signed line as `name:type:value` followed by CR LF,
  then `signscope:s:<comma-separated scope names>` CR LF, then one NUL
  character, all encoded as UTF-16LE.
* The blob is signed as a detached PKCS#7 / CMS SignedData (DER). The
  `signature` setting holds base64 of a 12-byte little-endian header
  (0x00010001, 0x00000001, length of the DER) followed by the DER.
* The output file is UTF-16LE with a byte-order mark and CR LF line ends.

Usage: sign_rdp.py --cert signer.pem --key signer.key in.rdp out.rdp
"""

import argparse
import base64
import struct
import subprocess
import sys
import tempfile

# (name as written in files, name as written in signscope), in signing order.
SECURE_SETTINGS = [
    ("full address", "Full Address"),
    ("alternate full address", "Alternate Full Address"),
    ("pcb", "PCB"),
    ("use redirection server name", "Use Redirection Server Name"),
    ("server port", "Server Port"),
    ("negotiate security layer", "Negotiate Security Layer"),
    ("enablecredsspsupport", "EnableCredSspSupport"),
    ("disableconnectionsharing", "DisableConnectionSharing"),
    ("autoreconnection enabled", "AutoReconnection Enabled"),
    ("gatewayhostname", "GatewayHostname"),
    ("gatewayusagemethod", "GatewayUsageMethod"),
    ("gatewayprofileusagemethod", "GatewayProfileUsageMethod"),
    ("gatewaycredentialssource", "GatewayCredentialsSource"),
    ("support url", "Support URL"),
    ("promptcredentialonce", "PromptCredentialOnce"),
    ("require pre-authentication", "Require pre-authentication"),
    ("pre-authentication server address", "Pre-authentication server address"),
    ("alternate shell", "Alternate Shell"),
    ("shell working directory", "Shell Working Directory"),
    ("remoteapplicationprogram", "RemoteApplicationProgram"),
    ("remoteapplicationexpandworkingdir", "RemoteApplicationExpandWorkingdir"),
    ("remoteapplicationmode", "RemoteApplicationMode"),
    ("remoteapplicationguid", "RemoteApplicationGuid"),
    ("remoteapplicationname", "RemoteApplicationName"),
    ("remoteapplicationicon", "RemoteApplicationIcon"),
    ("remoteapplicationfile", "RemoteApplicationFile"),
    ("remoteapplicationfileextensions", "RemoteApplicationFileExtensions"),
    ("remoteapplicationcmdline", "RemoteApplicationCmdLine"),
    ("remoteapplicationexpandcmdline", "RemoteApplicationExpandCmdLine"),
    ("prompt for credentials", "Prompt For Credentials"),
    ("authentication level", "Authentication Level"),
    ("audiomode", "AudioMode"),
    ("redirectdrives", "RedirectDrives"),
    ("redirectprinters", "RedirectPrinters"),
    ("redirectcomports", "RedirectCOMPorts"),
    ("redirectsmartcards", "RedirectSmartCards"),
    ("redirectposdevices", "RedirectPOSDevices"),
    ("redirectclipboard", "RedirectClipboard"),
    ("devicestoredirect", "DevicesToRedirect"),
    ("drivestoredirect", "DrivesToRedirect"),
    ("loadbalanceinfo", "LoadBalanceInfo"),
    ("redirectdirectx", "RedirectDirectX"),
    ("rdgiskdcproxy", "RDGIsKDCProxy"),
    ("kdcproxyname", "KDCProxyName"),
    ("eventloguploadaddress", "EventLogUploadAddress"),
]


def read_text(path):
    data = open(path, "rb").read()
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8")


def split_line(line):
    """Returns (lower-case name, type, value) or None for a blank line."""
    if not line.strip():
        return None
    parts = line.split(":", 2)
    if len(parts) != 3:
        sys.exit(f"not a name:type:value line: {line!r}")
    return parts[0].strip().lower(), parts[1].strip(), parts[2]


def sign(text, cert, key, digest, signed_attributes, chain):
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        parsed = split_line(line)
        if parsed is None or parsed[0] in ("signature", "signscope"):
            continue
        lines.append(line)

    by_name = {}
    for line in lines:
        name, _kind, value = split_line(line)
        by_name[name] = line
    if "full address" in by_name and "alternate full address" not in by_name:
        value = split_line(by_name["full address"])[2]
        extra = "alternate full address:s:" + value
        lines.append(extra)
        by_name["alternate full address"] = extra

    signed_lines = []
    scope = []
    for file_name, scope_name in SECURE_SETTINGS:
        if file_name in by_name:
            signed_lines.append(by_name[file_name])
            scope.append(scope_name)
    if not scope:
        sys.exit("the file has none of the settings rdpsign signs")

    scope_line = "signscope:s:" + ",".join(scope)
    blob = "".join(line + "\r\n" for line in signed_lines) + scope_line + "\r\n" + "\0"
    blob_bytes = blob.encode("utf-16-le")

    with tempfile.NamedTemporaryFile() as content:
        content.write(blob_bytes)
        content.flush()
        command = [
            "openssl", "cms", "-sign", "-binary", "-outform", "DER",
            "-md", digest, "-signer", cert, "-inkey", key,
            "-nosmimecap", "-in", content.name,
        ]
        if not signed_attributes:
            command.append("-noattr")
        if chain:
            command += ["-certfile", chain]
        der = subprocess.run(command, check=True, capture_output=True).stdout

    header = struct.pack("<III", 0x00010001, 0x00000001, len(der))
    encoded = base64.b64encode(header + der).decode("ascii")
    return lines, scope_line, encoded


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="signer certificate (PEM)")
    parser.add_argument("--key", required=True, help="signer private key (PEM)")
    parser.add_argument("--chain", help="extra certificates to include (PEM)")
    parser.add_argument("--md", default="sha256", choices=["sha1", "sha256", "sha384", "sha512"])
    parser.add_argument("--no-attributes", action="store_true",
                        help="sign the content directly, without signed attributes")
    parser.add_argument("--no-wrap", action="store_true",
                        help="write the base64 on one line instead of 64-character chunks")
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args()

    lines, scope_line, encoded = sign(
        read_text(args.input), args.cert, args.key, args.md,
        not args.no_attributes, args.chain,
    )
    if not args.no_wrap:
        # rdpsign.exe breaks the base64 into 64-character chunks separated
        # by two spaces.
        encoded = "  ".join(encoded[i:i + 64] for i in range(0, len(encoded), 64))
    out = "".join(line + "\r\n" for line in lines)
    out += scope_line + "\r\n" + "signature:s:" + encoded + "\r\n"
    with open(args.output, "wb") as f:
        f.write(b"\xff\xfe" + out.encode("utf-16-le"))


if __name__ == "__main__":
    main()
