#!/usr/bin/env python3
"""Writes crates/devlog-cli/link/devlog.order: the functions of `devlog` that `devlog mcp` and
the everyday CLI commands run, which release builds link next to each other (build.rs,
docs/performance.md "Code in the order it runs").

    python3 crates/devlog-cli/link/make_order.py DEVLOG SQLITE_WORKSPACE JSON_WORKSPACE

DEVLOG is a release build with its symbols (`CARGO_PROFILE_RELEASE_STRIP=false cargo build
--release -p devlog-cli --bin devlog`); the workspaces hold `.devlog` folders of at least
5,000 entries (`devlog-bench --entries 10000 --backends sqlite,json --keep DIR` builds
DIR/sqlite-10000 and DIR/json-10000). Every function that runs is seen: valgrind's callgrind
executes the program instruction by instruction (a sampling profiler would miss the functions
that run once, which are most of a start-up). Needs valgrind and Python 3; takes a few minutes.
Run it again after a Rust toolchain or dependency update (the file's stamp then no longer
matches and the build says so).
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DRIVER = os.path.join(ROOT, "crates", "devlog-mcp", "examples", "mcp_memory.py")
CLI = ["list --limit 10", "search timeout cache", "show 42", "context", "stats"]


def stamp():
    rustc = subprocess.run(
        [os.environ.get("RUSTC", "rustc"), "-V"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
        lock = 0xCBF29CE484222325
        for b in f.read():
            lock = ((lock ^ b) * 0x100000001B3) % 2**64
    return rustc, f"{lock:016x}"


def functions(obj, path, seen):
    """Adds the functions of `obj` that callgrind's output `path` ran to `seen`, in order."""
    names = {"ob": {}, "fn": {}}
    current = None
    for line in open(path, errors="replace"):
        m = re.match(r"^(ob|fn)=(?:\((\d+)\))?\s*(.*)$", line.rstrip("\n"))
        if not m:
            continue
        kind, key, name = m.groups()
        if name and key:
            names[kind][key] = name
        name = name or names[kind].get(key)
        if kind == "ob":
            current = name
        elif current == obj and name and not name.startswith("0x") and name not in seen:
            seen[name] = len(seen)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    devlog, sqlite_ws, json_ws = (os.path.realpath(a) for a in sys.argv[1:])
    out = tempfile.mkdtemp(prefix="devlog-order-")
    wrapper = os.path.join(out, "devlog")
    with open(wrapper, "w") as f:
        f.write(
            "#!/bin/sh\nexec valgrind --tool=callgrind --dump-instr=no --compress-strings=no "
            f"--demangle=no --callgrind-out-file={out}/cg.%p.out {devlog} \"$@\"\n"
        )
    os.chmod(wrapper, 0o755)
    for ws, backend in [(sqlite_ws, "sqlite"), (json_ws, "json")]:
        subprocess.run([sys.executable, DRIVER, wrapper, ws, backend], check=True,
                       stdout=subprocess.DEVNULL)
        for command in CLI:
            subprocess.run([wrapper, "--dir", ws] + command.split(),
                           env=dict(os.environ, DEVLOG_STORAGE_TYPE=backend),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = {}
    outputs = sorted((os.path.join(out, p) for p in os.listdir(out) if p.startswith("cg.")),
                     key=os.path.getmtime)
    for path in outputs:
        functions(devlog, path, seen)
    rustc, lock = stamp()
    target = os.path.join(HERE, "devlog.order")
    with open(target, "w") as f:
        f.write("# The functions of `devlog` that its everyday commands run (make_order.py; build.rs)\n")
        f.write(f"# rustc: {rustc}\n# Cargo.lock: {lock}\n")
        for name in seen:
            f.write(name + "\n")
    print(f"{len(seen)} functions from {len(outputs)} runs -> {target}")


main()
