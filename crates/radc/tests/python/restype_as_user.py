#!/usr/bin/python3
"""Calls org.radc.WorkspaceResTypeRegistry1 on the machine-wide table as
whoever runs this script (the tests run it as an unprivileged user).

Usage: restype_as_user.py EXTENSION LAUNCHER

Prints one JSON object per line: first {"uid": ...}, then one per call with
"call", "ok" and either "result" or the D-Bus "error" name and "message".
Always exits 0 once it reached the bus, so the test sees every answer.
"""

import json
import os
import sys

import dbus

BUS_NAME = "org.radc.Runtime"
OBJECT_PATH = "/org/radc/Runtime"
INTERFACE = "org.radc.WorkspaceResTypeRegistry1"


def plain(value):
    """dbus-python values as JSON-friendly Python values."""
    if isinstance(value, (dbus.Array, list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.String, str)):
        return str(value)
    if isinstance(value, (int, dbus.UInt32, dbus.Int32)):
        return int(value)
    return value


def call(registry, name, *args):
    try:
        result = getattr(registry, name)(*args)
        out = {"call": name, "ok": True, "result": plain(result)}
    except dbus.exceptions.DBusException as e:
        out = {
            "call": name,
            "ok": False,
            "error": e.get_dbus_name(),
            "message": e.get_dbus_message(),
        }
    print(json.dumps(out), flush=True)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    extension, launcher = sys.argv[1], sys.argv[2]
    print(json.dumps({"uid": os.getuid()}), flush=True)
    bus = dbus.bus.BusConnection(os.environ["DBUS_SESSION_BUS_ADDRESS"])
    registry = dbus.Interface(bus.get_object(BUS_NAME, OBJECT_PATH), INTERFACE)
    # Writes to the machine-wide table: root only.
    call(registry, "AddResourceType", True, ".userext", launcher)
    call(registry, "ModifyResourceType", True, extension, launcher)
    call(registry, "DeleteResourceType", True, extension)
    # Reads of the machine-wide table: anyone.
    call(registry, "GetRegisteredFileExtensions", True)
    call(registry, "GetResourceTypeInfo", True, extension)
    return 0


if __name__ == "__main__":
    sys.exit(main())
