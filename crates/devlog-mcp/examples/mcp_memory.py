#!/usr/bin/env python3
"""Where the memory of `devlog mcp` goes, tool by tool (Linux; docs/performance.md, "The release
profile: a smaller executable").

    python3 crates/devlog-mcp/examples/mcp_memory.py DEVLOG WORKSPACE BACKEND

DEVLOG is the binary (e.g. target/release/devlog), WORKSPACE a folder holding `.devlog` (the
stores `devlog-bench --keep DIR` builds: DIR/sqlite-100000, DIR/json-100000), BACKEND `sqlite`
or `json`. Like `mcp_bench` it drives the server over stdio with one request in flight (3 calls
per tool), and after each tool reads `/proc/<pid>/status`: `VmHWM` (the peak resident memory,
issue 15's figure), `RssAnon` (heap, stacks, pages the loader relocated) and `RssFile` (mapped
files: mostly the executable's own code, shared with the page cache). At the end it sums
`/proc/<pid>/smaps` per mapping of the executable. Environment variables pass through to the
server (`DEVLOG_RUNTIME_THREADS=0`, `MALLOC_ARENA_MAX=1`, ...). Medians are milliseconds,
pipe round trip and Python included.
"""
import json
import os
import statistics
import subprocess
import sys
import time

if len(sys.argv) != 4:
    sys.exit(__doc__)
devlog, workspace, backend = sys.argv[1:]
exe = os.path.realpath(devlog)
env = dict(os.environ, DEVLOG_STORAGE_TYPE=backend)
started = time.perf_counter()
server = subprocess.Popen(
    [devlog, "--dir", workspace, "mcp"],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    env=env,
)
next_id = 0


def send(message):
    server.stdin.write((json.dumps(message) + "\n").encode())
    server.stdin.flush()


def request(method, params):
    global next_id
    next_id += 1
    send({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params})
    while True:
        line = server.stdout.readline()
        if not line:
            sys.exit("the server closed stdout")
        answer = json.loads(line)
        if answer.get("id") == next_id:
            return answer


def memory():
    figures = {}
    with open(f"/proc/{server.pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                figures[key] = int(value.split()[0]) / 1024
    return figures


request(
    "initialize",
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "mcp_memory", "version": "1"},
    },
)
rows = [("initialize", [(time.perf_counter() - started) * 1000], memory())]
send({"jsonrpc": "2.0", "method": "notifications/initialized"})


def tool(label, name, arguments, calls=3):
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        answer = request("tools/call", {"name": name, "arguments": arguments})
        times.append((time.perf_counter() - t) * 1000)
        if "error" in answer or answer["result"].get("isError"):
            sys.exit(f"{name} {arguments} failed: {answer}")
    rows.append((label, times, memory()))


tool("get_devlog", "get_devlog", {"id": 4242})
tool("list_devlogs", "list_devlogs", {})
tool("list_devlogs (status)", "list_devlogs", {"status": "blocked"})
tool("get_active_context", "get_active_context", {"limit": 10})
tool("search_devlogs", "search_devlogs", {"query": "timeout cache"})
tool("search_devlogs (the)", "search_devlogs", {"query": "the"})
tool("get_devlog_stats", "get_devlog_stats", {})
tool(
    "discover_related_devlogs",
    "discover_related_devlogs",
    {"workDescription": "the search index returns stale pages after deploy", "workType": "bugfix"},
)

# Resident KiB per mapping of the executable (code, read-only data, relocated data, data).
mappings = []
with open(f"/proc/{server.pid}/smaps") as smaps:
    current = None
    for line in smaps:
        fields = line.split()
        if len(fields) >= 5 and "-" in fields[0] and not fields[0].endswith(":"):
            path = fields[5] if len(fields) > 5 else ""
            current = None
            if path and os.path.realpath(path) == exe:
                current = {"perms": fields[1], "Rss": 0, "Anonymous": 0}
                mappings.append(current)
        elif current is not None and fields and fields[0] in ("Rss:", "Anonymous:"):
            current[fields[0][:-1]] = int(fields[1])
server.stdin.close()
server.wait()

print(f"{'after':28} {'median ms':>9} {'peak':>6} {'anon':>6} {'file':>6}   (MiB)")
for label, times, m in rows:
    print(
        f"{label:28} {statistics.median(times):9.2f} "
        f"{m['VmHWM']:6.1f} {m['RssAnon']:6.1f} {m['RssFile']:6.1f}"
    )
print("the executable's mappings at the end (resident / of it anonymous, MiB):")
for m in mappings:
    print(f"  {m['perms']}  {m['Rss'] / 1024:5.1f} / {m['Anonymous'] / 1024:4.1f}")
