#!/usr/bin/python3
"""A custom radc client written in Python (dbus-python + GLib main loop).

It proves the runtime's D-Bus contract is language neutral, and that a
client which calls AddResource as a plain *blocking* call (no main loop
running, so it cannot answer any call while it waits) does not deadlock:
the runtime must reply before it asks the client anything.

Output on stdout, one line each, flushed:
  {"cookie": N, "name": "..."}   one per registration
  READY                          all registrations are made
  DISCONNECT <cookie>            the runtime called IssueDisconnect
  REMOVED <cookie> <reason>      ResourceRemoved for one of ours
The process exits with status 0 once all its registrations are gone, or
on SIGTERM.
"""

import argparse
import json
import signal
import sys

import dbus
import dbus.exceptions
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BUS_NAME = "org.radc.Runtime"
OBJECT_PATH = "/org/radc/Runtime"
REGISTRATION = "org.radc.WorkspaceRegistration1"
CLIENT_EXT = "org.radc.WorkspaceClientExt1"


class FailedError(dbus.exceptions.DBusException):
    _dbus_error_name = "org.radc.Error.Failed"


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Client:
    """The process: its registrations and how it reacts to the runtime."""

    def __init__(self, bus, registration, on_disconnect, loop):
        self.bus = bus
        self.registration = registration
        self.on_disconnect = on_disconnect
        self.loop = loop
        self.live = set()  # our cookies the runtime still holds
        self.ready = False
        self.pending = []  # IssueDisconnect calls left hanging on purpose

    def removed(self, cookie, reason):
        cookie = int(cookie)
        if cookie not in self.live:
            return
        self.live.discard(cookie)
        say("REMOVED %d %s" % (cookie, reason))
        self.maybe_quit()

    def maybe_quit(self):
        if self.ready and not self.live:
            self.loop.quit()

    def remove(self, cookie):
        def done():
            pass

        def failed(e):
            sys.stderr.write("RemoveResource(%d) failed: %s\n" % (cookie, e))

        self.registration.RemoveResource(
            dbus.UInt32(cookie), reply_handler=done, error_handler=failed
        )


class Connection(dbus.service.Object):
    """One connection of the client: an org.radc.WorkspaceClientExt1 object."""

    def __init__(self, client, path, workspace, name):
        super().__init__(client.bus, path)
        self.client = client
        self.workspace = workspace
        self.name = name
        self.cookie = None

    @dbus.service.method(CLIENT_EXT, in_signature="", out_signature="s")
    def GetResourceId(self):
        return self.workspace

    @dbus.service.method(CLIENT_EXT, in_signature="", out_signature="s")
    def GetResourceDisplayName(self):
        return self.name

    @dbus.service.method(
        CLIENT_EXT,
        in_signature="",
        out_signature="",
        async_callbacks=("reply", "error"),
    )
    def IssueDisconnect(self, reply, error):
        say("DISCONNECT %d" % self.cookie)
        mode = self.client.on_disconnect
        if mode == "remove":
            reply()
            self.client.remove(self.cookie)
        elif mode == "ignore":
            reply()
        elif mode == "error":
            error(FailedError("0x80004005: busy"))
        elif mode == "hang":
            # Never answer; keep the callbacks alive so nothing replies for us.
            self.client.pending.append((reply, error))
        else:
            raise AssertionError(mode)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--name", action="append", default=[])
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument(
        "--on-disconnect",
        choices=["remove", "ignore", "error", "hang"],
        default="remove",
    )
    args = parser.parse_args()
    names = list(args.name)
    names += ["App %d" % (i + 1) for i in range(args.count)]
    if not names:
        parser.error("give --name or --count")

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    loop = GLib.MainLoop()
    bus = dbus.SessionBus()
    runtime = bus.get_object(BUS_NAME, OBJECT_PATH, introspect=False)
    registration = dbus.Interface(runtime, REGISTRATION)
    client = Client(bus, registration, args.on_disconnect, loop)

    def on_term():
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, on_term)
    # Subscribe before registering, so no removal can be missed; the signal
    # waits in the connection's queue until the main loop runs.
    bus.add_signal_receiver(
        client.removed,
        signal_name="ResourceRemoved",
        dbus_interface=REGISTRATION,
        path=OBJECT_PATH,
    )

    for i, name in enumerate(names):
        path = "/org/radc/pyclient/c%d" % i
        conn = Connection(client, path, args.workspace, name)
        # A plain blocking call: the main loop is not running, so this
        # process answers nothing until AddResource has returned.
        cookie = int(registration.AddResource(dbus.ObjectPath(path)))
        conn.cookie = cookie
        client.live.add(cookie)
        say(json.dumps({"cookie": cookie, "name": name}))
    client.ready = True
    say("READY")

    # Quit at once if everything was already dropped while we registered.
    GLib.idle_add(lambda: (client.maybe_quit(), GLib.SOURCE_REMOVE)[1])
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
