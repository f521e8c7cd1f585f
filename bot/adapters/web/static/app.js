// storyloom rooms in the browser. Plain JavaScript, no build step.
//
// Safety rule for this file: text from people or the model is only ever put into the page with
// textContent / createTextNode (see renderRich), never parsed as markup; the tests check that
// no HTML-parsing sink appears here at all.
"use strict";

(() => {
  const SECRET = /^[A-Za-z0-9_-]{20,128}$/;
  const $ = (id) => document.getElementById(id);

  const saved = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try { window.localStorage.setItem(key, value); } catch { /* private mode */ }
    },
  };

  function newSecret() {
    const bytes = new Uint8Array(24);
    crypto.getRandomValues(bytes);
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // This browser's private id: the server keeps only a hash of it (your turns, your votes).
  function clientId() {
    let id = saved.get("storyloom.client");
    if (!id || !SECRET.test(id)) {
      id = newSecret();
      saved.set("storyloom.client", id);
    }
    return id;
  }

  function roomToken() {
    const token = window.location.hash.slice(1);
    return SECRET.test(token) ? token : null;
  }

  const state = {
    ws: null,
    token: null,
    name: "",
    me: null,
    joined: false,
    refused: false,
    retries: 0,
    messages: new Map(),
    limits: { chars: 4000, bytes: 65536 },
  };

  // -- views ---------------------------------------------------------------------------------
  function show(view) {
    for (const id of ["landing", "join", "room"]) $(id).hidden = id !== view;
    document.body.dataset.view = view;
  }

  function route() {
    const token = roomToken();
    if (state.ws) {
      state.refused = true; // leaving this room: no reconnect
      state.ws.close();
      state.ws = null;
    }
    state.token = token;
    state.joined = false;
    if (!token) {
      show("landing");
      $("create-name").value = saved.get("storyloom.name") || "";
      return;
    }
    show("join");
    $("join-name").value = saved.get("storyloom.name") || "";
    $("join-error").textContent = "";
    $("join-name").focus();
  }

  // -- starting and joining ------------------------------------------------------------------
  async function createRoom(event) {
    event.preventDefault();
    const name = $("create-name").value.trim();
    const button = $("create-button");
    $("create-error").textContent = "";
    button.disabled = true;
    try {
      const response = await fetch("/api/rooms", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: $("create-room").value }),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok || !SECRET.test(data.room || "")) {
        $("create-error").textContent = data.error || "The room could not be started. Try again.";
        return;
      }
      saved.set("storyloom.admin." + data.room, data.admin);
      saved.set("storyloom.name", name);
      history.pushState(null, "", "/#" + data.room);
      state.token = data.room;
      join(name);
    } catch {
      $("create-error").textContent = "The server can't be reached. Check your connection.";
    } finally {
      button.disabled = false;
    }
  }

  function submitJoin(event) {
    event.preventDefault();
    const name = $("join-name").value.trim();
    if (!name) return;
    saved.set("storyloom.name", name);
    join(name);
  }

  function join(name) {
    state.name = name;
    state.refused = false;
    connect();
  }

  function connect() {
    const token = state.token;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws`);
    state.ws = ws;
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({
        type: "join",
        room: token,
        name: state.name,
        client: clientId(),
        admin: saved.get("storyloom.admin." + token),
      }));
    });
    ws.addEventListener("message", (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch { return; }
      handle(data);
    });
    ws.addEventListener("close", () => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (state.refused || !state.joined) {
        if (!state.refused) {
          show("join");
          $("join-error").textContent = "The server can't be reached. Try again in a moment.";
        }
        return;
      }
      state.retries += 1;
      const wait = Math.min(15000, 500 * 2 ** Math.min(state.retries, 5));
      setStatus("Connection lost. Reconnecting…");
      window.setTimeout(() => { if (!state.ws && state.token === token) connect(); }, wait);
    });
  }

  function send(frame) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      setStatus("Not connected yet. Your message was not sent.");
      return false;
    }
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  // -- events from the server ----------------------------------------------------------------
  function handle(event) {
    switch (event.type) {
      case "welcome": return welcome(event);
      case "refused": return refused(event);
      case "people": return renderPeople(event.people || []);
      case "message": return addMessage(event);
      case "edit": return editMessage(event);
      case "typing": $("typing").hidden = !event.on; return undefined;
      case "error": return addSystem(event.text);
      default: return undefined;
    }
  }

  function welcome(event) {
    state.me = event.you;
    state.joined = true;
    state.retries = 0;
    state.limits = event.limits || state.limits;
    const roomName = (event.room && event.room.name) || "Story room";
    $("room-name").textContent = roomName;
    document.title = roomName + " · storyloom";
    $("log").replaceChildren();
    state.messages.clear();
    if (!(event.history || []).length) $("log").append(emptyHint());
    for (const message of event.history || []) addMessage(message, { quiet: true });
    setStatus("");
    show("room");
    scrollDown(true);
    $("text").focus();
  }

  function refused(event) {
    state.refused = true;
    show("join");
    $("join-error").textContent = event.text || "You could not join this room.";
  }

  function renderPeople(people) {
    const list = $("people");
    list.replaceChildren();
    for (const person of people) {
      const item = document.createElement("li");
      item.textContent = person.name;
      item.style.setProperty("--hue", String(hue(person.id)));
      if (person.admin) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "host";
        item.append(" ", badge);
      }
      if (state.me && person.id === state.me.id) item.classList.add("me");
      list.append(item);
    }
    $("people-count").textContent = people.length === 1 ? "👥 1 here" : `👥 ${people.length} here`;
  }

  // -- messages ------------------------------------------------------------------------------
  function addMessage(event, { quiet = false } = {}) {
    const log = $("log");
    const stick = quiet || nearBottom();
    const sender = event.from || {};
    const mine = state.me && sender.id === state.me.id;
    const article = document.createElement("article");
    article.className = "msg";
    article.dataset.id = event.id;
    if (sender.bot) article.classList.add("bot");
    if (mine) article.classList.add("mine");
    if (event.private) article.classList.add("private");
    if (event.command) article.classList.add("command");
    article.style.setProperty("--hue", String(hue(sender.id || "")));

    const head = document.createElement("header");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = sender.name || "?";
    head.append(who);
    if (event.private) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = event.withheld
        ? "only you can see this: the room's filters held it back"
        : "only you can see this";
      head.append(tag);
    }
    const body = document.createElement("div");
    body.className = "body";
    const files = document.createElement("div");
    files.className = "files";
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    article.append(head, body, files, buttons);
    fill(article, event);
    state.messages.set(event.id, article);
    for (const hint of log.querySelectorAll(".hint-empty")) hint.remove();
    log.append(article);
    if (stick) scrollDown(quiet);
  }

  function emptyHint() {
    const hint = document.createElement("p");
    hint.className = "hint-empty";
    hint.append(
      "Nothing here yet. Press ",
      Object.assign(document.createElement("strong"), { textContent: "📖 New story" }),
      " and say what the story is about, or type ",
      Object.assign(document.createElement("code"), { textContent: "/help" }),
      ". ",
      Object.assign(document.createElement("strong"), { textContent: "Invite" }),
      " shows the link for your friends.",
    );
    return hint;
  }

  function editMessage(event) {
    const article = state.messages.get(event.id);
    if (!article) return;
    const stick = nearBottom();
    fill(article, event);
    if (stick) scrollDown(true); // streaming: keep up with the text, no animation
  }

  function fill(article, event) {
    if (typeof event.text === "string") {
      const body = article.querySelector(".body");
      body.replaceChildren();
      renderRich(body, event.text);
    }
    if (Array.isArray(event.files)) {
      const files = article.querySelector(".files");
      files.replaceChildren();
      for (const file of event.files) {
        if (typeof file.url !== "string" || !file.url.startsWith("/files/")) continue;
        const link = document.createElement("a");
        link.href = file.url;
        link.download = file.name || "story";
        link.textContent = `⬇️ ${file.name} (${formatSize(file.size || 0)})`;
        files.append(link);
      }
    }
    if (Array.isArray(event.buttons)) {
      const row = article.querySelector(".buttons");
      row.replaceChildren();
      for (const spec of event.buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "action " + (spec.style || "secondary");
        button.textContent = spec.label || "…";
        button.disabled = Boolean(spec.disabled);
        button.dataset.action = spec.action;
        row.append(button);
      }
    }
  }

  function addSystem(text) {
    addMessage({
      id: "sys-" + Math.random().toString(36).slice(2),
      from: { id: "system", name: "storyloom", bot: true },
      text: String(text || ""),
      private: true,
    });
  }

  // A small, safe subset of Markdown: **bold**, *italic*, `code`, line breaks.
  // Every piece of text becomes a text node; only these fixed elements are ever created.
  const INLINE = /(\*\*[^*\n]+\*\*|`[^`\n]+`|\*[^*\s][^*\n]*\*)/g;

  function renderRich(parent, text) {
    const lines = text.split("\n");
    lines.forEach((line, index) => {
      if (index > 0) parent.append(document.createElement("br"));
      let last = 0;
      for (const match of line.matchAll(INLINE)) {
        if (match.index > last) parent.append(document.createTextNode(line.slice(last, match.index)));
        const token = match[0];
        let element;
        if (token.startsWith("**")) {
          element = document.createElement("strong");
          element.textContent = token.slice(2, -2);
        } else if (token.startsWith("`")) {
          element = document.createElement("code");
          element.textContent = token.slice(1, -1);
        } else {
          element = document.createElement("em");
          element.textContent = token.slice(1, -1);
        }
        parent.append(element);
        last = match.index + token.length;
      }
      if (last < line.length) parent.append(document.createTextNode(line.slice(last)));
    });
  }

  function hue(text) {
    let h = 0;
    for (let i = 0; i < text.length; i += 1) h = (h * 31 + text.charCodeAt(i)) % 360;
    return h;
  }

  function formatSize(bytes) {
    if (bytes < 1024) return `${bytes} bytes`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function nearBottom() {
    const log = $("log");
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollDown(instant) {
    const log = $("log");
    log.scrollTo({ top: log.scrollHeight, behavior: instant ? "auto" : "smooth" });
  }

  function setStatus(text) {
    const status = $("status");
    status.textContent = text;
    status.hidden = !text;
  }

  // -- writing -------------------------------------------------------------------------------
  function submitText(event) {
    if (event) event.preventDefault();
    const area = $("text");
    const text = area.value;
    if (!text.trim()) return;
    if (text.length > state.limits.chars) {
      setStatus(`That is ${text.length} characters; the limit is ${state.limits.chars}. Please split it up.`);
      return;
    }
    if (send({ type: "say", text })) {
      area.value = "";
      grow();
      setStatus("");
    }
  }

  function grow() {
    const area = $("text");
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight, 200) + "px";
  }

  function onKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submitText(event);
  }

  function onTool(event) {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.send) send({ type: "say", text: button.dataset.send });
    if (button.dataset.fill) {
      const area = $("text");
      area.value = button.dataset.fill;
      area.focus();
      area.setSelectionRange(area.value.length, area.value.length);
      grow();
    }
  }

  function onAction(event) {
    const button = event.target.closest("button.action");
    if (!button || button.disabled) return;
    if (send({ type: "press", action: button.dataset.action })) {
      button.disabled = true; // one press; the answer re-enables or replaces it
      window.setTimeout(() => { if (button.isConnected) button.disabled = false; }, 1500);
    }
  }

  function toggleInvite() {
    const stick = nearBottom();
    const panel = $("invite-panel");
    panel.hidden = !panel.hidden;
    $("invite-link").value = window.location.href;
    if (!panel.hidden) $("invite-link").select();
    if (stick) scrollDown(true);
  }

  async function copyLink() {
    const input = $("invite-link");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      $("copy-link").textContent = "Copied";
    } catch {
      $("copy-link").textContent = "Select and copy";
    }
    window.setTimeout(() => { $("copy-link").textContent = "Copy"; }, 2000);
  }

  function togglePeople() {
    const stick = nearBottom();
    const list = $("people");
    list.hidden = !list.hidden;
    $("people-toggle").setAttribute("aria-expanded", String(!list.hidden));
    if (stick) scrollDown(true);
  }

  // -- start ---------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("create-form").addEventListener("submit", createRoom);
    $("join-form").addEventListener("submit", submitJoin);
    $("composer").addEventListener("submit", submitText);
    $("text").addEventListener("keydown", onKey);
    $("text").addEventListener("input", grow);
    document.querySelector(".tools").addEventListener("click", onTool);
    $("log").addEventListener("click", onAction);
    $("invite").addEventListener("click", toggleInvite);
    $("copy-link").addEventListener("click", copyLink);
    $("people-toggle").addEventListener("click", togglePeople);
    window.addEventListener("hashchange", route);
    route();
  });
})();
