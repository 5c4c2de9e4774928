#!/usr/bin/env python3
"""Drives `devlog mcp` with the official MCP Python SDK (an independent client).

Run by crates/devlog-cli/tests/mcp_python.rs; can also be run by hand:

    python3 mcp_client.py stdio --devlog target/debug/devlog --dir /tmp/x/.devlog \
        --tools ../shared/corpus/original-devlog/mcp-tools.json
    python3 mcp_client.py http --url http://127.0.0.1:PORT/mcp --dir /tmp/x/.devlog

`stdio` expects a store into which the original devlog's corpus (head) was imported: it calls
every tool the original server had with every argument it declared (numeric ids naming imported
entries), then every tool this devlog adds, checks errors, resources and prompts, and finally
reads the entry files to check what was stored. `http` does a shorter round trip over
streamable HTTP, with the initialize handshake and with the stateless (discover) protocol.
Exits non-zero with a message on the first failed check.
"""

import argparse
import asyncio
import glob
import json
import os
import subprocess
import sys

from mcp import ClientSession, StdioServerParameters, stdio_client

try:
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # mcp 1.x
    from mcp.client.streamable_http import streamablehttp_client as streamable_http_client

try:
    from mcp.shared.exceptions import MCPError
except ImportError:  # mcp 1.x
    from mcp.shared.exceptions import McpError as MCPError

ORIGINAL_TOOLS = [
    "create_devlog", "get_devlog", "update_devlog", "list_devlogs", "add_devlog_note",
    "update_devlog_with_note", "add_decision", "complete_devlog", "discover_related_devlogs",
    "search_devlogs", "get_active_context", "get_context_for_ai", "update_ai_context",
]
INTEGRATION_TOOLS = [
    "sync_with_github", "sync_with_jira", "sync_with_azure_devops", "sync_with_ado",
    "sync_all_integrations",
]
# Callable by name, but not listed: the name earlier versions answered for
# sync_with_azure_devops, which it is.
UNLISTED_TOOLS = ["sync_with_ado"]
EXTRA_TOOLS = ["get_recent_changes", "get_devlog_stats"]
# The everyday log (history, notes, relations, planning, shared insights), driven by
# `everyday_suite` below.
EVERYDAY_TOOLS = [
    "get_entry_history", "undo_change", "edit_note", "delete_note", "change_status",
    "link_entries", "unlink_entries", "get_relations", "add_dependency", "remove_dependency",
    "add_risk", "remove_risk", "create_milestone", "list_milestones", "close_milestone",
    "log_time", "log_work", "edit_worklog", "delete_worklog", "add_insight", "get_shared_insights",
]


class CheckFailed(Exception):
    pass


def fail(msg):
    raise CheckFailed(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def attr(obj, *names):
    """A field of an SDK model, by its 2.x (snake_case) or 1.x (camelCase) name."""
    for n in names:
        if hasattr(obj, n):
            return getattr(obj, n)
    return None


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def structured(result):
    return attr(result, "structured_content", "structuredContent")


def is_error(result):
    return bool(attr(result, "is_error", "isError"))


async def call_ok(session, tool, args):
    r = await session.call_tool(tool, args)
    check(not is_error(r), f"{tool}({json.dumps(args)}) failed: {text_of(r)}")
    check(text_of(r).strip() != "", f"{tool} answered no readable text")
    s = structured(r)
    check(isinstance(s, dict), f"{tool} answered no structured content")
    return r, s


async def call_error(session, tool, args):
    r = await session.call_tool(tool, args)
    check(is_error(r), f"{tool}({json.dumps(args)}) should have failed: {text_of(r)}")
    return text_of(r), (structured(r) or {}).get("error", {})


# Values for every argument the original server declared, by name; ids are filled in per call.
SAMPLE = {
    "title": "Speed up the dashboard",
    "description": "The dashboard takes four seconds to render on large logs.",
    "businessContext": "Teams open the dashboard many times a day.",
    "technicalContext": "Cache the aggregated stats; render lazily.",
    "acceptanceCriteria": ["renders in under 500 ms with 10k entries"],
    "initialInsights": ["stats are recomputed on every request"],
    "relatedPatterns": ["memoized selectors"],
    "blockers": "waiting for the profiling data",
    "nextSteps": "profile the stats endpoint",
    "files": ["packages/web/app/dashboard.tsx"],
    "currentSummary": "profiling the stats endpoint",
    "keyInsights": ["the stats query scans every entry"],
    "openQuestions": ["is a materialized view acceptable?"],
    "suggestedNextSteps": ["add an index", "cache the result"],
    "note": "Measured: 3.9 s for 10k entries.",
    "codeChanges": "added timing logs",
    "decision": "Cache stats for 30 s",
    "rationale": "Stale-by-seconds is fine for a dashboard.",
    "decisionMaker": "ai-agent",
    "alternatives": ["materialized view", "precomputed nightly"],
    "summary": "Dashboard renders in 300 ms.",
    "workDescription": "Make the dashboard render faster on large logs",
    "keywords": ["dashboard", "performance"],
    "scope": "packages/web",
    "query": "dashboard",
    "insights": ["render lazily"],
    "questions": ["do we need live updates?"],
    "patterns": ["stale-while-revalidate"],
}
ENUM_CHOICE = {"status": "in-progress", "type": "feature", "priority": "high", "category": "solution",
               "workType": "feature"}


def arguments_for(tool, legacy_id):
    """Every argument the original declared for `tool`, with a value of the declared type."""
    args = {}
    for name, spec in tool["inputSchema"].get("properties", {}).items():
        if name == "id":
            args[name] = legacy_id
        elif "enum" in spec:
            args[name] = ENUM_CHOICE.get(name, spec["enum"][0])
        elif spec["type"] == "number":
            args[name] = 5
        elif spec["type"] == "array":
            v = SAMPLE.get(name, [f"{name} item"])
            args[name] = v if isinstance(v, list) else [v]
        else:
            v = SAMPLE.get(name, f"{name} text")
            check(isinstance(v, str), f"{tool['name']}.{name}: sample must be a string")
            args[name] = v
    return args


def read_entries(devlog_dir):
    out = {}
    for path in glob.glob(os.path.join(devlog_dir, "entries", "*.json")):
        with open(path, encoding="utf-8") as f:
            e = json.load(f)
        out[e["id"]] = e
    return out


async def stdio_suite(opts):
    with open(opts.tools, encoding="utf-8") as f:
        original = json.load(f)["tools"]
    entries_before = read_entries(opts.dir)
    imported = {e["legacyId"]: e for e in entries_before.values() if "legacyId" in e}
    check(16 in imported and 49 in imported and 52 in imported,
          f"expected the corpus entries 16, 49 and 52 to be imported; found {sorted(imported)}")

    params = StdioServerParameters(
        command=opts.devlog,
        args=["--dir", opts.dir, "--actor", "python-sdk", "mcp"],
        env={**os.environ, "RUST_LOG": "warn"},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            info = attr(init, "server_info", "serverInfo")
            check(info.name == "devlog", f"server name {info.name}")
            caps = init.capabilities
            check(caps.tools is not None and caps.resources is not None and caps.prompts is not None,
                  f"capabilities {caps}")
            check("discover_related_devlogs" in (init.instructions or ""), "instructions")

            tools = (await session.list_tools()).tools
            names = {t.name for t in tools}
            for n in ORIGINAL_TOOLS + INTEGRATION_TOOLS + EXTRA_TOOLS + EVERYDAY_TOOLS:
                if n in UNLISTED_TOOLS:
                    check(n not in names, f"tool {n} is listed but cannot work")
                else:
                    check(n in names, f"tool {n} is not listed")
            for t in tools:
                check(len(t.description or "") > 40, f"{t.name} has no useful description")
                schema = attr(t, "input_schema", "inputSchema")
                check(schema.get("type") == "object", f"{t.name} input schema")

            # --- Every original tool with every original argument ------------------------
            by_name = {t["name"]: t for t in original}
            check(sorted(by_name) == sorted(ORIGINAL_TOOLS), f"mcp-tools.json changed: {sorted(by_name)}")
            plan = [
                ("create_devlog", None),
                ("get_devlog", 16),
                ("update_devlog", 16),
                ("list_devlogs", None),
                ("add_devlog_note", 16),
                ("update_devlog_with_note", 16),
                ("add_decision", 16),
                ("discover_related_devlogs", None),
                ("search_devlogs", None),
                ("get_active_context", None),
                ("get_context_for_ai", 49),
                ("update_ai_context", 49),
                ("complete_devlog", 52),
            ]
            check(sorted(n for n, _ in plan) == sorted(ORIGINAL_TOOLS), "plan covers every tool")
            created_id = None
            for name, legacy in plan:
                args = arguments_for(by_name[name], legacy)
                r, s = await call_ok(session, name, args)
                text = text_of(r)
                if name == "create_devlog":
                    check(text.startswith("Created devlog entry: #"), text)
                    check(s["created"] is True, s)
                    created_id = s["entry"]["id"]
                elif name == "get_devlog":
                    check(s["entry"]["legacyId"] == 16, f"id 16 resolved to {s['entry'].get('legacyId')}")
                    check(s["entry"]["title"] == imported[16]["title"], "title of entry 16")
                elif name == "update_devlog":
                    check(text.startswith("Updated devlog entry: #16"), text)
                elif name == "list_devlogs":
                    check(all(i["status"] == "in-progress" and i["type"] == "feature" and i["priority"] == "high"
                              for i in s["items"]), "list filters")
                elif name == "search_devlogs":
                    check(s["total"] >= 1, "search finds the dashboard entries")
                elif name == "discover_related_devlogs":
                    check(len(s["related"]) >= 1, "discovery finds the new dashboard entry")
                    check(s["related"][0]["id"] == created_id, f"best match {s['related'][0]}")
                elif name == "get_context_for_ai":
                    check(s["legacyId"] == 49 and text.startswith("# #49 "), text[:80])
                elif name == "complete_devlog":
                    check(text.startswith("Completed devlog entry: #52"), text)

            # The same tools with string references: handle, full id, id prefix, key.
            e16 = imported[16]
            for ref in ["#16", e16["id"], e16["id"][:8], e16["key"]]:
                _, s = await call_ok(session, "get_devlog", {"id": ref})
                check(s["entry"]["id"] == e16["id"], f"reference {ref!r}")
            # Retrying a create returns the same entry.
            _, s = await call_ok(session, "create_devlog", arguments_for(by_name["create_devlog"], None))
            check(s["created"] is False and s["entry"]["id"] == created_id, "create is idempotent")

            # --- The tools this devlog adds ----------------------------------------------
            _, s = await call_ok(session, "get_recent_changes", {"limit": 200})
            mine = [e for e in s["events"] if e["origin"] == "mcp"]
            check(len(mine) >= 10, f"change feed has the MCP writes ({len(mine)})")
            check(all(e.get("actor") == "python-sdk" for e in mine), "actor recorded")
            _, s = await call_ok(session, "get_recent_changes", {"since": s["nextSince"]})
            check(s["events"] == [], "nothing after nextSince")
            _, s = await call_ok(session, "get_devlog_stats", {})
            check(s["total"] == len(entries_before) + 1, f"stats total {s['total']}")
            for tool in INTEGRATION_TOOLS:
                text, err = await call_error(session, tool, {"id": 16, "dryRun": True})
                if tool in ("sync_with_azure_devops", "sync_with_ado"):
                    # Listed (or its old name) and working, but this workspace has no table.
                    check(text.startswith("Error: not configured: "), text)
                    check("[integrations.azure-devops]" in text, text)
                    check(err.get("kind") == "not-configured", err)
                elif tool == "sync_with_jira":
                    # Listed and working, but this workspace has no [integrations.jira].
                    check(text.startswith("Error: not configured: "), text)
                    check("[integrations.jira]" in text, text)
                    check(err.get("kind") == "not-configured", err)
                else:
                    check(text.startswith("Error: not configured: "), text)
                    check("[integrations.github]" in text, text)
                    check(err.get("kind") == "not-configured", err)

            await everyday_suite(session, imported)

            # --- Errors an agent can act on ----------------------------------------------
            text, err = await call_error(session, "get_devlog", {"id": 99999})
            check("no entry matches `99999`" in text and err["kind"] == "not-found", text)
            text, err = await call_error(session, "get_devlog", {"id": "dashbord speed"})
            check(err["kind"] == "not-found", text)
            text, err = await call_error(session, "list_devlogs", {"status": "finished"})
            check("in-progress" in text and "`status`" in text and err["kind"] == "invalid", text)
            text, _ = await call_error(session, "create_devlog", {"title": "x", "type": "epic", "description": ""})
            check("feature, bugfix, task, refactor, docs" in text, text)
            text, _ = await call_error(session, "add_devlog_note", {"id": 16, "note": "n", "colour": "red"})
            check("colour" in text, text)
            try:
                await session.call_tool("no_such_tool", {})
                fail("an unknown tool must be a protocol error")
            except MCPError as e:
                check("create_devlog" in str(e), f"unknown tool error lists the tools: {e}")

            # --- Resources and prompts -----------------------------------------------------
            res = await session.list_resources()
            uris = [str(r.uri) for r in res.resources]
            check(uris[0] == "devlog://context/active", uris[:3])
            check(f"devlog://entry/{e16['id']}" in uris, "entry 16 is a resource")
            check(attr(res, "next_cursor", "nextCursor") is None, "one page for the corpus")
            read = await session.read_resource(f"devlog://entry/{e16['id']}")
            body = json.loads(read.contents[0].text)
            check(body["legacyId"] == 16, "resource body")
            read = await session.read_resource("devlog://context/active")
            check("active devlog entries" in read.contents[0].text, "active context resource")
            prompts = (await session.list_prompts()).prompts
            check([p.name for p in prompts] == ["start_session", "resume_devlog"], prompts)
            p = await session.get_prompt("start_session", {"focus": "dashboard performance"})
            check("dashboard performance" in p.messages[0].content.text, "start_session prompt")
            p = await session.get_prompt("resume_devlog", {"id": "16"})
            check(imported[16]["title"] in p.messages[0].content.text, "resume_devlog prompt")

    # --- What was stored ------------------------------------------------------------------
    after = read_entries(opts.dir)
    # create_devlog's entry and everyday_suite's two.
    check(len(after) == len(entries_before) + 3, f"{len(after)} entry files")
    new = after[created_id]
    check(new["title"] == SAMPLE["title"] and new["type"] == "feature" and new["priority"] == "high", new)
    check(new["context"]["businessContext"] == SAMPLE["businessContext"], "businessContext stored")
    check(new["context"]["acceptanceCriteria"] == SAMPLE["acceptanceCriteria"], "criteria stored")
    check(new["aiContext"]["keyInsights"] == SAMPLE["initialInsights"], "initialInsights → keyInsights")
    check(new["aiContext"]["relatedPatterns"] == SAMPLE["relatedPatterns"], "relatedPatterns stored")
    e16 = after[imported[16]["id"]]
    check(e16["status"] == "in-progress", f"status of 16: {e16['status']}")
    check(e16["priority"] == "high", "priority of 16")
    contents = [n["content"] for n in e16["notes"]]
    check(f"Blocked: {SAMPLE['blockers']}" in contents, "blockers recorded as a note")
    check(contents.count(SAMPLE["note"]) == 2, "both notes stored")
    check(SAMPLE["files"][0] in e16["files"], "files added")
    check(e16["context"]["decisions"][-1]["decision"] == SAMPLE["decision"], "decision stored")
    check(e16["context"]["businessContext"] == SAMPLE["businessContext"], "context updated")
    check(e16["aiContext"]["currentSummary"] == SAMPLE["currentSummary"], "currentSummary stored")
    check(SAMPLE["keyInsights"][0] in e16["aiContext"]["keyInsights"], "keyInsights stored")
    check(e16["aiContext"]["suggestedNextSteps"] == SAMPLE["suggestedNextSteps"] + [SAMPLE["nextSteps"]],
          f"next steps {e16['aiContext']['suggestedNextSteps']}")
    e49 = after[imported[49]["id"]]
    check(e49["aiContext"]["suggestedNextSteps"] == [SAMPLE["nextSteps"]],
          f"update_ai_context replaces next steps: {e49['aiContext']['suggestedNextSteps']}")
    check(SAMPLE["insights"][0] in e49["aiContext"]["keyInsights"], "update_ai_context insights")
    check(e49["aiContext"]["currentSummary"] == SAMPLE["summary"], "update_ai_context summary")
    e52 = after[imported[52]["id"]]
    check(e52["status"] == "done" and e52.get("closedAt"), "complete_devlog closed 52")
    # The CLI reads the same store.
    shown = subprocess.run([opts.devlog, "--dir", opts.dir, "show", "52", "--json"],
                           capture_output=True, text=True, check=True)
    check(json.loads(shown.stdout)["status"] == "done", "devlog show 52 --json")
    print(f"stdio suite passed: {len(ORIGINAL_TOOLS)} original tools with all their arguments, "
          f"{len(INTEGRATION_TOOLS) + len(EXTRA_TOOLS) + len(EVERYDAY_TOOLS)} more tools, errors, resources, prompts")


async def everyday_suite(session, imported):
    """History and undo, note edits, relations, planning and shared insights, as an
    assistant would use them: each call's structured answer is checked, then the stored
    entry through get_devlog."""
    _, s = await call_ok(session, "create_devlog",
                         {"title": "Tenant cache invalidation", "type": "feature",
                          "description": "Invalidate the cache per tenant"})
    parent = s["entry"]["id"]
    _, s = await call_ok(session, "create_devlog",
                         {"title": "Invalidate on tenant rename", "type": "task",
                          "description": "Rename drops the tenant's cache", "parent": parent})
    child = s["entry"]["id"]
    _, s = await call_ok(session, "get_relations", {"id": parent})
    kids = s["relations"]["children"]
    check([c["id"] for c in kids] == [child], f"subtask listed: {kids}")
    # Blocking an entry, then the cycle back is refused and named.
    e16 = imported[16]["id"]
    _, s = await call_ok(session, "link_entries", {"id": child, "kind": "blocks", "other": "16"})
    check(s["changed"] is True and s["other"]["id"] == e16, s)
    text, err = await call_error(session, "link_entries", {"id": "16", "kind": "blocks", "other": child})
    check(err["kind"] == "invalid" and "cycle" in text and "#16" in text, text)
    _, s = await call_ok(session, "unlink_entries", {"id": child, "other": "16"})
    check(s["removed"] == ["blocks"], s)
    # A parent cannot be completed while a subtask is open.
    text, err = await call_error(session, "complete_devlog", {"id": parent})
    check(err["kind"] == "invalid" and "open subtask" in text, text)
    _, s = await call_ok(session, "change_status", {"id": child, "transition": "start"})
    check(s["from"] == "new" and s["entry"]["status"] == "in-progress", s)

    # Notes: edit, delete, and the history that keeps both.
    _, s = await call_ok(session, "add_devlog_note", {"id": parent, "note": "first text"})
    note = s["note"]["id"]
    _, s = await call_ok(session, "edit_note", {"id": parent, "noteId": note, "text": "second text"})
    check(s["note"]["content"] == "second text", s)
    _, s = await call_ok(session, "delete_note", {"id": parent, "noteId": note[:8]})
    check(s["totalNotes"] == 0, s)
    _, s = await call_ok(session, "get_entry_history", {"id": parent, "limit": 2})
    kinds = [ev["type"] for c in s["changes"] for ev in c["events"]]
    check("note-deleted" in kinds and "note-edited" in kinds, f"history kinds {kinds}")
    check(all(c["actor"] == "python-sdk" for c in s["changes"]), "history names the actor")
    _, s = await call_ok(session, "undo_change", {"id": parent})
    _, s = await call_ok(session, "get_devlog", {"id": parent})
    check([n["content"] for n in s["entry"]["notes"]] == ["second text"], "undo restores the note")

    # Planning: a milestone, a due date, time spent.
    _, s = await call_ok(session, "create_milestone", {"name": "v9", "dueDate": "2026-12-24"})
    check(s["milestone"]["state"] == "open", s)
    _, s = await call_ok(session, "update_devlog",
                         {"id": parent, "milestone": "v9", "dueDate": "2026-12-20", "estimatedHours": 4})
    check(s["entry"]["milestone"] == "v9" and s["entry"]["dueDate"] == "2026-12-20", s)
    _, s = await call_ok(session, "log_time", {"id": parent, "duration": "1h30m", "note": "spike"})
    check(s["worklog"]["minutes"] == 90 and s["worklog"]["author"] == "python-sdk", s)
    check(s["actualHours"] == 1.5, s)
    text, err = await call_error(session, "log_time", {"id": parent, "duration": "25h"})
    check(err["kind"] == "invalid" and "24h" in text, text)
    wid = s["worklog"]["id"]
    _, s = await call_ok(session, "edit_worklog", {"id": parent, "worklogId": wid[:8], "duration": "2h"})
    check(s["worklog"]["minutes"] == 120 and s["actualHours"] == 2.0, s)
    _, s = await call_ok(session, "log_work", {"id": parent, "duration": "30m"})
    _, s = await call_ok(session, "delete_worklog", {"id": parent, "worklogId": s["worklog"]["id"]})
    check(s["totalMinutes"] == 120, s)
    text, err = await call_error(session, "delete_worklog", {"id": parent, "worklogId": "zzzz"})
    check(err["kind"] == "invalid" and "no worklog" in text, text)
    _, s = await call_ok(session, "list_milestones", {})
    v9 = [m for m in s["milestones"] if m["name"] == "v9"]
    check(len(v9) == 1 and v9[0]["total"] == 1 and v9[0]["done"] == 0, s)
    _, s = await call_ok(session, "list_devlogs", {"milestone": "v9"})
    check([i["id"] for i in s["items"]] == [parent], s)

    # Dependencies and risks.
    _, s = await call_ok(session, "add_dependency", {"id": parent, "description": "Payments API v2"})
    _, s = await call_ok(session, "add_risk", {"id": parent, "description": "Vendor late",
                                               "impact": "high", "probability": "low"})
    risk = s["risk"]["id"]
    _, s = await call_ok(session, "remove_risk", {"id": parent, "itemId": risk})
    _, s = await call_ok(session, "get_devlog", {"id": parent})
    check(s["entry"]["context"]["risks"] == [], "risk removed")
    check(any(d["description"] == "Payments API v2" for d in s["entry"]["context"]["dependencies"]),
          "dependency stored")

    # Shared insights: found for related work, listed without it, given with the context.
    _, s = await call_ok(session, "add_insight",
                         {"id": parent, "insight": "Tenant caches are keyed by tenant id"})
    check("Tenant caches are keyed by tenant id" in s["aiContext"]["sharedInsights"], s)
    _, s = await call_ok(session, "get_shared_insights", {"forId": child})
    texts = [i["text"] for i in s["items"]]
    check("Tenant caches are keyed by tenant id" in texts, f"insight for related work: {texts}")
    check(s["items"][0]["matchedTerms"], s["items"][0])
    _, s = await call_ok(session, "get_shared_insights", {})
    check("Tenant caches are keyed by tenant id" in [i["text"] for i in s["items"]],
          f"insights without a piece of work: {s}")
    r, _ = await call_ok(session, "get_context_for_ai", {"id": child})
    check("Tenant caches are keyed by tenant id" in text_of(r), text_of(r)[-400:])
    _, s = await call_ok(session, "close_milestone", {"name": "v9"})
    check(s["milestone"]["state"] == "closed", s)


async def http_session_round_trip(session, label):
    tools = (await session.list_tools()).tools
    check(len(tools) >= len(ORIGINAL_TOOLS), f"{label}: tools listed")
    title = f"Entry over HTTP ({label})"
    _, s = await call_ok(session, "create_devlog", {"title": title, "type": "task", "description": "via HTTP"})
    handle = s["entry"]["handle"]
    _, s = await call_ok(session, "add_devlog_note", {"id": handle, "note": f"note over {label}"})
    check(s["totalNotes"] == 1, f"{label}: note added")
    _, s = await call_ok(session, "get_devlog", {"id": f"#{handle}"})
    check(s["entry"]["title"] == title, f"{label}: read back")
    text, _ = await call_error(session, "get_devlog", {"id": 424242})
    check("no entry matches" in text, text)
    return s["entry"]["id"]


async def http_suite(opts):
    ids, labels = [], []
    # The initialize handshake (protocol versions before 2026-07-28).
    async with streamable_http_client(opts.url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            label = f"initialize {attr(init, 'protocol_version', 'protocolVersion')}"
            labels.append(label)
            ids.append(await http_session_round_trip(session, label))
    # The stateless protocol (server/discover, 2026-07-28), where the SDK supports it.
    try:
        from mcp import Client
    except ImportError:
        Client = None
    if Client is not None:
        async with Client(opts.url) as client:
            label = f"auto-negotiated {client.protocol_version}"
            labels.append(label)
            ids.append(await http_session_round_trip(client, label))
    entries = read_entries(opts.dir)
    for i in ids:
        check(i in entries, f"entry {i} stored")
        check(entries[i]["notes"][0]["content"].startswith("note over "), "note stored")
    print(f"http suite passed: {len(ids)} sessions ({', '.join(labels)})")


def check_failures(exc):
    """The CheckFailed messages inside `exc` (task groups wrap them in exception groups)."""
    if isinstance(exc, CheckFailed):
        return [str(exc)]
    out = []
    for sub in getattr(exc, "exceptions", ()):
        out.extend(check_failures(sub))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["stdio", "http"])
    ap.add_argument("--devlog", help="the devlog binary (stdio)")
    ap.add_argument("--dir", required=True, help="the .devlog folder the server uses")
    ap.add_argument("--tools", help="the original devlog's mcp-tools.json (stdio)")
    ap.add_argument("--url", help="the streamable HTTP endpoint (http)")
    opts = ap.parse_args()
    if opts.mode == "stdio" and not (opts.devlog and opts.tools):
        ap.error("stdio needs --devlog and --tools")
    if opts.mode == "http" and not opts.url:
        ap.error("http needs --url")
    suite = stdio_suite if opts.mode == "stdio" else http_suite
    try:
        asyncio.run(suite(opts))
    except BaseException as e:  # noqa: BLE001 - report check failures plainly, re-raise the rest
        failures = check_failures(e)
        if not failures:
            raise
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
