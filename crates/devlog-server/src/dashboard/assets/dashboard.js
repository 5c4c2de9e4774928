// devlog dashboard: live updates, the entry forms and the board. Served as a file (the CSP
// allows no inline script); no dependencies. Writes go to the REST API as JSON, so the
// server's rule that every POST declares JSON holds and errors are the API's own messages.
"use strict";

(function () {
  const status = () => document.getElementById("live-status");
  const say = (text) => { const s = status(); if (s) s.textContent = text; };

  // ---- errors from the API: {"error": {"class", "message", "hint"}} ----
  async function apiError(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch (_) { /* not JSON */ }
    return { message: "the server answered " + response.status, hint: null };
  }
  function showError(box, err) {
    box.replaceChildren();
    const p = document.createElement("p");
    p.textContent = err.message;
    box.appendChild(p);
    if (err.hint) {
      const h = document.createElement("p");
      h.className = "hint";
      h.textContent = err.hint;
      box.appendChild(h);
    }
    box.hidden = false;
    box.focus();
  }
  // With single sign-on the session cookie authenticates the page; its writes carry the
  // session's CSRF token (the server refuses them without it).
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? { "X-CSRF-Token": csrfMeta.content } : {};
  async function send(method, url, body, headers) {
    return fetch(url, {
      method,
      headers: Object.assign({ "Content-Type": "application/json", "Accept": "application/json" }, csrf, headers || {}),
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  }

  // ---- live updates: reload <main> after a change in the feed (the SSE stream) ----
  let dirty = false;       // a form with unsaved input is on the page
  let timer = null;
  let refreshes = 0;
  async function refresh() {
    if (dirty) { say("This entry changed elsewhere; save or reload to see it."); return; }
    const focused = document.activeElement;
    const key = focused && (focused.id || focused.getAttribute("data-id"));
    const response = await fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("main");
    const main = document.getElementById("main");
    if (!fresh || !main) return;
    main.replaceChildren(...fresh.childNodes);
    document.title = doc.title;
    refreshes += 1;
    document.body.dataset.refreshes = String(refreshes);
    if (key) {
      const again = document.getElementById(key) || main.querySelector('[data-id="' + CSS.escape(key) + '"]');
      if (again) again.focus();
    }
    wire(main);
    say("Updated " + new Date().toLocaleTimeString());
  }
  // The page's one stream. It is closed when the page is left: a browser keeps left pages
  // in its back/forward cache with their connections open, and HTTP/1.1 allows six
  // connections to a server, so after a few pages the streams of cached pages would hold
  // them all and this page's writes would wait forever.
  let events = null;
  function listen() {
    if (!window.EventSource || document.body.dataset.page === "new" || events) return;
    // From the feed position the page was read at (a reconnect resumes by Last-Event-ID).
    const seq = document.body.dataset.seq;
    events = new EventSource("/api/v1/events/stream" + (seq ? "?since=" + encodeURIComponent(seq) : ""));
    events.onmessage = () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    };
    events.onopen = () => { document.body.dataset.live = "on"; };
    events.onerror = () => { document.body.dataset.live = "off"; };
  }
  function stopListening() {
    if (!events) return;
    events.close();
    events = null;
    document.body.dataset.live = "off";
  }
  window.addEventListener("pagehide", stopListening);
  window.addEventListener("pageshow", (ev) => {
    // Back from the cache: listen anew from the position the page was read at, so the
    // changes made meanwhile arrive and refresh it.
    if (ev.persisted) listen();
  });

  // ---- the create and edit forms ----
  function splitTags(v) { return v.split(",").map((t) => t.trim()).filter((t) => t); }
  function formBody(form, editing) {
    const body = {};
    for (const el of form.querySelectorAll("[data-kind]")) {
      const v = el.value;
      const initial = el.defaultValue !== undefined && el.tagName !== "SELECT" ? el.defaultValue : null;
      const changed = el.tagName === "SELECT"
        ? !Array.from(el.options).some((o) => o.selected && o.defaultSelected)
        : v !== initial;
      if (editing && !changed) continue;
      switch (el.dataset.kind) {
        case "text": case "choice":
          body[el.name] = v; break;
        case "optional":
          if (v.trim() !== "") body[el.name] = v.trim();
          else if (editing) body[el.name] = el.name === "assignee" ? "" : "none";
          break;
        case "number":
          if (v.trim() !== "") body[el.name] = Number(v);
          break;
        case "lines":
          body[el.name] = v.split("\n").map((l) => l.trim()).filter((l) => l);
          break;
        case "tags": {
          const tags = splitTags(v);
          if (!editing) { body.tags = tags; break; }
          const before = splitTags(form.dataset.originalTags || "");
          body.addTags = tags.filter((t) => !before.includes(t));
          body.removeTags = before.filter((t) => !tags.includes(t));
          break;
        }
      }
    }
    return body;
  }
  function wireForm(form) {
    form.addEventListener("input", () => { dirty = true; });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const box = document.getElementById("form-error");
      const editing = form.dataset.method === "PATCH";
      const body = formBody(form, editing);
      const headers = editing && form.dataset.etag ? { "If-Match": form.dataset.etag } : {};
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const response = await send(form.dataset.method, form.dataset.api, body, headers);
        if (!response.ok) { showError(box, await apiError(response)); return; }
        const entry = await response.json();
        dirty = false;
        location.assign("/entries/" + entry.handle);
      } catch (e) {
        showError(box, { message: "the server could not be reached: " + e.message });
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- the board: drag a card, or choose in its menu ----
  async function move(id, to) {
    const box = document.getElementById("board-error");
    const response = await send("PATCH", "/api/v1/entries/" + encodeURIComponent(id), { status: to });
    if (!response.ok) { if (box) showError(box, await apiError(response)); return; }
    if (box) box.hidden = true;
    say("Moved to " + to);
    await refresh();
  }
  function wireBoard(root) {
    for (const card of root.querySelectorAll(".board-card")) {
      card.addEventListener("dragstart", (ev) => {
        ev.dataTransfer.setData("text/plain", card.dataset.id);
        ev.dataTransfer.effectAllowed = "move";
        card.classList.add("dragging");
      });
      card.addEventListener("dragend", () => card.classList.remove("dragging"));
    }
    for (const col of root.querySelectorAll(".column")) {
      col.addEventListener("dragover", (ev) => { ev.preventDefault(); col.classList.add("drop-target"); });
      col.addEventListener("dragleave", () => col.classList.remove("drop-target"));
      col.addEventListener("drop", (ev) => {
        ev.preventDefault();
        col.classList.remove("drop-target");
        const id = ev.dataTransfer.getData("text/plain");
        if (id) move(id, col.dataset.status);
      });
    }
    // The keyboard path: choosing in the menu only selects (arrowing through a closed
    // <select> fires "change" for every option passed); the card's Move button applies it.
    for (const form of root.querySelectorAll(".move")) {
      const select = form.querySelector(".move-status");
      const button = form.querySelector("button");
      const sync = () => { button.disabled = select.value === form.dataset.current; };
      select.addEventListener("change", sync);
      sync();
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        if (select.value !== form.dataset.current) move(form.dataset.id, select.value);
      });
    }
  }

  // ---- the sync page: resolve a conflict (JSON to the REST API) ----
  function wireSync(root) {
    for (const button of root.querySelectorAll(".resolve-conflict")) {
      button.addEventListener("click", async () => {
        const box = document.getElementById("sync-error");
        button.disabled = true;
        try {
          const response = await send("POST", "/api/v1/sync/conflicts/" + encodeURIComponent(button.dataset.id) + "/resolve", { take: button.dataset.take });
          if (!response.ok) { if (box) showError(box, await apiError(response)); return; }
          if (box) box.hidden = true;
          say("Conflict " + button.dataset.id + " resolved (" + button.dataset.take + ")");
          await refresh();
        } catch (e) {
          if (box) showError(box, { message: "the server could not be reached: " + e.message });
        } finally {
          button.disabled = false;
        }
      });
    }
  }

  // ---- workflows: run one (JSON to the REST API), then show the run ----
  function wireWorkflows(root) {
    for (const form of root.querySelectorAll("form.run-workflow")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const box = document.getElementById("workflow-error");
        const name = form.dataset.workflow || form.elements.workflow.value;
        const entry = form.dataset.entry || (form.elements.entry ? form.elements.entry.value.trim() : "");
        const button = form.querySelector("button");
        button.disabled = true;
        try {
          const response = await send("POST", "/api/v1/workflows/" + encodeURIComponent(name) + "/run", entry ? { entry: entry } : {});
          if (!response.ok) { if (box) showError(box, await apiError(response)); return; }
          const run = await response.json();
          say("Workflow " + name + " ran: " + run.state);
          window.location.assign("/workflows/runs/" + encodeURIComponent(run.id));
        } catch (e) {
          if (box) showError(box, { message: "the server could not be reached: " + e.message });
        } finally {
          button.disabled = false;
        }
      });
    }
  }

  function wire(root) {
    const form = root.querySelector("#entry-form");
    if (form) wireForm(form);
    wireBoard(root);
    wireSync(root);
    wireWorkflows(root);
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire(document);
    listen();
  });
})();
