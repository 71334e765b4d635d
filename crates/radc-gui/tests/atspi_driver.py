#!/usr/bin/python3
"""Drives radc-gui's windows the way a screen reader or a switch device
does: through the accessibility tree (AT-SPI, pyatspi), by role and name.

Reads one JSON command per line on stdin and answers one JSON line each:
{"ok": true, ...} or {"ok": false, "error": "..."}.

Commands (every one names a widget by "role" and "name"; "timeout" in
seconds, default 10):
  wait       until it exists with every state in "states" (e.g.
             ["checked"]) and none in "without"; with "absent": true,
             until no such widget exists
  do         runs its action "action" (e.g. "click", "toggle")
  set_text   replaces its text with "text" (EditableText)
  states     answers {"states": [...]}
  count      answers {"count": N}, the number of such widgets
  tree       answers {"tree": "..."}, a dump for debugging

Names are compared as given and also as GTK 4.8 reads out a button with a
mnemonic in libadwaita's own dialogs ("_Remove Remove"), so "Remove" finds
it.
"""

import json
import sys
import time

import pyatspi

def normalized(name):
    name = name.replace("_", "")
    half = len(name) // 2
    if len(name) % 2 == 1 and name[half] == " " and name[:half] == name[half + 1 :]:
        return name[:half]
    return name


def apps():
    # Every application on this accessibility bus: the test's own.
    desktop = pyatspi.Registry.getDesktop(0)
    return [a for a in desktop if a is not None]


def walk(node):
    yield node
    for i in range(node.childCount):
        child = node.getChildAtIndex(i)
        if child is not None:
            yield from walk(child)


def matches(node, role, name):
    try:
        return node.getRoleName() == role and (node.name == name or normalized(node.name) == name)
    except Exception:  # a node that went away while walking
        return False


def states_of(node):
    return [pyatspi.stateToString(s) for s in node.getState().getStates()]


def find_all(role, name):
    found = []
    for app in apps():
        try:
            found.extend(n for n in walk(app) if matches(n, role, name))
        except Exception:
            pass  # the tree changed under us; the caller polls again
    return found


def find(cmd):
    found = find_all(cmd["role"], cmd["name"])
    if not found:
        raise LookupError("no %s named %r" % (cmd["role"], cmd["name"]))
    return found[0]


def wait(cmd):
    deadline = time.monotonic() + cmd.get("timeout", 10)
    want = set(cmd.get("states", []))
    without = set(cmd.get("without", []))
    while True:
        found = find_all(cmd["role"], cmd["name"])
        if cmd.get("absent"):
            if not found:
                return {}
        else:
            for node in found:
                try:
                    states = set(states_of(node))
                except Exception:
                    continue
                if want <= states and not (without & states):
                    return {"states": sorted(states)}
        if time.monotonic() > deadline:
            seen = []
            for node in found:
                try:
                    seen.append(sorted(states_of(node)))
                except Exception:
                    pass
            raise TimeoutError(
                "waited %ss for %s %r%s; found with states %s"
                % (cmd.get("timeout", 10), cmd["role"], cmd["name"], " to go" if cmd.get("absent") else "", seen)
            )
        time.sleep(0.1)


def do(cmd):
    node = find(cmd)
    action = node.queryAction()
    names = [action.getName(i) for i in range(action.nActions)]
    if cmd["action"] not in names:
        raise LookupError("%r has actions %s, not %r" % (cmd["name"], names, cmd["action"]))
    if not action.doAction(names.index(cmd["action"])):
        raise RuntimeError("the action %r of %r failed" % (cmd["action"], cmd["name"]))
    return {}


def set_text(cmd):
    node = find(cmd)
    if not node.queryEditableText().setTextContents(cmd["text"]):
        raise RuntimeError("could not set the text of %r" % cmd["name"])
    return {}


def tree(_cmd):
    lines = []
    for app in apps():
        def dump(node, depth):
            lines.append("  " * depth + "[%s] %r %s" % (node.getRoleName(), node.name, states_of(node)))
            for i in range(node.childCount):
                dump(node.getChildAtIndex(i), depth + 1)
        dump(app, 0)
    return {"tree": "\n".join(lines)}


COMMANDS = {
    "wait": wait,
    "do": do,
    "set_text": set_text,
    "states": lambda cmd: {"states": states_of(find(cmd))},
    "count": lambda cmd: {"count": len(find_all(cmd["role"], cmd["name"]))},
    "tree": tree,
}


def main():
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            answer = COMMANDS[cmd["op"]](cmd)
            answer["ok"] = True
        except Exception as e:
            answer = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
