#!/usr/bin/env python3
"""Writes docs/CLI.md from the binaries' --help (build them first: cargo build --bins).

Usage: scripts/cli-doc.py [TARGET_DIR]   (default: target/debug)
"""
import os
import subprocess
import sys

target = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
cli, worker, server = (os.path.join(target, b) for b in ("stepwise", "stepwise-worker", "stepwise-server"))
sections = [
    ("stepwise ", [cli]),
    ("stepwise machine", [cli, "machine"]),
    ("stepwise machine create", [cli, "machine", "create"]),
    ("stepwise start", [cli, "start"]),
    ("stepwise history", [cli, "history"]),
    ("stepwise graph", [cli, "graph"]),
    ("stepwise usage", [cli, "usage"]),
    ("stepwise task", [cli, "task"]),
    ("stepwise activity", [cli, "activity"]),
    ("stepwise key", [cli, "key"]),
    ("stepwise key create", [cli, "key", "create"]),
    ("stepwise bench", [cli, "bench"]),
    ("stepwise-worker", [worker]),
    ("stepwise-server", [server]),
]
out = ["# The `stepwise` CLI and the server flags\n\nGenerated from `--help` by `scripts/cli-doc.py`; every command also prints its own help.\n"]
for title, command in sections:
    # No STEPWISE_* variables, so the help shows defaults, not this shell's settings.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    text = subprocess.run(command + ["--help"], capture_output=True, text=True, env=env, check=True).stdout.rstrip("\n")
    out.append(f"## {title}\n\n```\n{text}\n```\n")
with open("docs/CLI.md", "w") as f:
    f.write("\n".join(out))
