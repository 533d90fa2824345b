// alliance-qa web chat: sources per answer, marks as links, focus, counter, download.
// Works on the DOM Gradio renders; everything it copies was escaped by the server and
// sanitized by Gradio, and it never builds HTML from text.
(() => {
  "use strict";
  const MAX = window.AQA_MAX || 1000;
  const HINT_EMPTY = "The sections an answer quotes appear here, with the quoted sentences highlighted.";
  const HINT_NONE = "No sources for this reply.";
  let active = null;        // the bot message whose sources the panel shows
  let activeAt = -1;        // its position among the bot messages (Gradio may re-render them as new nodes)
  let shownKey = null;      // what the panel shows now
  let lastCount = 0;        // bot messages seen
  let wasDisabled = false;  // the question box was disabled (a question is being answered)
  let pinned = 0;           // until when an explicit choice (click, focus) wins over scrolling

  const $ = (sel, root) => (root || document).querySelector(sel);
  const bots = () => Array.from(document.querySelectorAll('#aqa-chat [data-testid="bot"]'));
  const box = () => $("#aqa-question textarea");
  const wide = () => { const col = $("#aqa-sources-col"); return !!col && getComputedStyle(col).display !== "none"; };

  function hint(text) {
    const p = document.createElement("p");
    p.className = "aqa-hint";
    p.textContent = text;
    return p;
  }

  function answerText(msg) {
    const md = $(".md", msg) || msg;
    return Array.from(md.childNodes)
      .filter((n) => !(n.nodeType === 1 && n.matches("details.aqa-inline")))
      .map((n) => n.textContent).join(" ").replace(/\s+/g, " ").trim();
  }

  // Show the cards of `msg` (a bot message, or null) in the side panel.
  function show(msg) {
    const panel = $("#aqa-sources");
    active = msg;
    const list = bots();
    activeAt = msg ? list.indexOf(msg) : -1;
    for (const b of list) b.classList.toggle("aqa-active", b === msg && !!msg);
    if (!panel) return;
    const cards = msg ? Array.from(msg.querySelectorAll("details.aqa-inline article.aqa-source")) : [];
    const key = msg ? cards.map((c) => c.outerHTML).join("") || "none:" + answerText(msg) : "empty";
    if (key === shownKey) return;
    shownKey = key;
    panel.replaceChildren(...(cards.length ? cards.map((c) => c.cloneNode(true))
      : [hint(msg ? HINT_NONE : HINT_EMPTY)]));
    panel.scrollTop = 0;
  }

  function announce(msg) {
    let live = $("#aqa-live");
    if (!live) {  // outside Gradio's tree, so it is there at every width
      live = document.createElement("div");
      live.id = "aqa-live";
      live.className = "aqa-sr";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    if (!msg) return;
    const marks = Array.from(msg.querySelectorAll("details.aqa-inline article.aqa-source header"))
      .map((h) => h.textContent.replace(/score [\d.]+$/, "").trim());
    live.textContent = "Answer: " + answerText(msg) + (marks.length ? " Sources: " + marks.join("; ") + "." : "");
  }

  function fixLabels() {
    for (const m of document.querySelectorAll('#aqa-chat [data-testid="bot"], #aqa-chat [data-testid="user"]')) {
      const who = m.getAttribute("data-testid") === "bot" ? "Answer: " : "Your question: ";
      const label = who + answerText(m);
      if (m.getAttribute("aria-label") !== label) m.setAttribute("aria-label", label);
    }
    const send = $("#aqa-question button.submit-button") || $("#aqa-question button");
    if (send && !send.getAttribute("aria-label")) send.setAttribute("aria-label", "Send question");
    const ta = box();
    if (ta && !ta.getAttribute("aria-label")) ta.setAttribute("aria-label", "Your question");
    for (const ex of document.querySelectorAll("#aqa-chat .examples[role]")) ex.removeAttribute("role");
    const status = $("#aqa-status");
    if (status && !status.getAttribute("role")) status.setAttribute("role", "status");
  }

  function focusBox() {
    const ta = box();
    const el = document.activeElement;
    if (!ta || ta.disabled) return;
    if (el && el !== ta && el.matches("input, textarea, select") && !el.closest("#aqa-question")) return;
    ta.focus({ preventScroll: true });
  }

  function refresh() {
    const list = bots();
    if (list.length > lastCount) {
      show(list[list.length - 1]);
      announce(list[list.length - 1]);
      focusBox();
    } else if (active && !document.contains(active) && list.length === lastCount && list[activeAt]) {
      show(list[activeAt]);  // the same answer, re-rendered: keep the reader's choice
    } else if (!active || !document.contains(active) || list.length < lastCount) {
      show(list.length ? list[list.length - 1] : null);
    } else {
      show(active);
    }
    lastCount = list.length;
    fixLabels();
    const ta = box();
    if (ta) {
      if (wasDisabled && !ta.disabled) focusBox();
      wasDisabled = ta.disabled;
      if (!ta.hasAttribute("maxlength")) ta.setAttribute("maxlength", String(MAX));
      counter();
    }
  }

  // The counter under the question box, and the message at the limit.
  function counter() {
    const ta = box();
    const wrap = $("#aqa-question");
    if (!ta || !wrap) return;
    let c = $("#aqa-counter");
    if (!c) {
      c = document.createElement("div");
      c.id = "aqa-counter";
      const n = document.createElement("span");
      n.className = "aqa-count";
      const msg = document.createElement("span");
      msg.className = "aqa-limit-msg";
      msg.setAttribute("role", "status");
      c.append(n, msg);
      wrap.append(c);
    }
    const len = ta.value.length;
    const atLimit = len >= MAX;
    c.classList.toggle("aqa-limit", atLimit);
    $(".aqa-count", c).textContent = `${len.toLocaleString("en")} / ${MAX.toLocaleString("en")}`;
    const text = atLimit ? ` That is the limit: a question can have at most ${MAX.toLocaleString("en")} characters.` : "";
    const m = $(".aqa-limit-msg", c);
    if (m.textContent !== text) m.textContent = text;
  }

  // Ask `text` as if typed: fill the box, then press its Send button.
  function ask(text) {
    const ta = box();
    if (!ta || ta.disabled) return;
    ta.value = text.slice(0, MAX);
    ta.dispatchEvent(new Event("input", { bubbles: true }));
    requestAnimationFrame(() => {
      const send = $("#aqa-question button.submit-button");
      if (send) send.click();
      else ta.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", code: "Enter", bubbles: true }));
    });
  }

  // Bring the card for `mark` in answer `msg` into view and highlight its quote.
  function reveal(msg, mark) {
    show(msg);
    let scope;
    if (wide()) {
      scope = $("#aqa-sources");
    } else {
      scope = $("details.aqa-inline", msg);
      if (scope) scope.open = true;
    }
    if (!scope) return;
    const card = Array.from(scope.querySelectorAll("article.aqa-source"))
      .find((a) => ($(".aqa-mark", a) || {}).textContent === mark);
    if (!card) return;
    for (const old of document.querySelectorAll(".aqa-flash")) old.classList.remove("aqa-flash");
    card.classList.add("aqa-flash");
    card.setAttribute("tabindex", "-1");
    card.scrollIntoView({ block: "nearest", behavior: "instant" });
    card.focus({ preventScroll: true });
  }

  // Copy buttons copy what the page shows (text, then the sources), not the message's HTML source.
  function messageCopy(m) {
    if (m.getAttribute("data-testid") === "user") return answerText(m);
    const md = $(".md", m) || m;
    const text = Array.from(md.childNodes)
      .filter((n) => !(n.nodeType === 1 && n.matches("details.aqa-inline")))
      .map((n) => (n.nodeType === 1 ? n.innerText : n.textContent)).join("").replace(/\n{3,}/g, "\n\n").trim();
    const cards = Array.from(m.querySelectorAll("details.aqa-inline article.aqa-source")).map((a) => {
      const quotes = Array.from(a.querySelectorAll("mark")).map((q) => `“${q.textContent.trim()}”`).join(" ");
      return `- ${$(".aqa-mark", a).textContent} ${$(".aqa-title", a).textContent}${quotes ? ": " + quotes : ""}`;
    });
    return text + (cards.length ? "\n\nSources:\n" + cards.join("\n") : "");
  }

  function copyTarget(button) {
    const name = button.getAttribute("aria-label");
    if (name === "Copy conversation") {
      return Array.from(document.querySelectorAll('#aqa-chat [data-testid="bot"], #aqa-chat [data-testid="user"]'))
        .map((m) => (m.getAttribute("data-testid") === "user" ? "Q: " : "") + messageCopy(m)).join("\n\n");
    }
    if (name !== "Copy message") return null;
    let row = button.closest(".message-buttons");
    for (let e = row && row.previousElementSibling; e; e = e.previousElementSibling) {
      const m = e.matches("[data-testid]") ? e : e.querySelector('[data-testid="bot"], [data-testid="user"]');
      if (m) return messageCopy(m);
    }
    return null;
  }

  document.addEventListener("click", (ev) => {
    const t = ev.target instanceof Element ? ev.target : null;
    if (!t) return;
    const copy = t.closest("#aqa-chat button[aria-label]");
    const text = copy && copyTarget(copy);
    if (text !== null && text !== undefined && copy) {
      ev.preventDefault();
      ev.stopPropagation();
      navigator.clipboard.writeText(text).then(() => {
        const live = $("#aqa-live");
        if (live) live.textContent = "Copied.";
      }, () => {});
      return;
    }
    const cite = t.closest("button.aqa-cite");
    const msg = t.closest('#aqa-chat [data-testid="bot"]');
    if (msg) pinned = Date.now() + 1500;
    if (cite && msg) { ev.preventDefault(); ev.stopPropagation(); reveal(msg, cite.textContent); return; }
    const q = t.closest("button.aqa-ask");
    if (q) { ev.preventDefault(); ev.stopPropagation(); ask(q.textContent); return; }
    if (msg) show(msg);
  }, true);

  document.addEventListener("focusin", (ev) => {
    const msg = ev.target instanceof Element && ev.target.closest('#aqa-chat [data-testid="bot"]');
    if (msg && msg !== active) { pinned = Date.now() + 1500; show(msg); }
  });

  // Scrolling the chat (by the user, not by Gradio) shows the answer at the top third of its visible part.
  let ticking = false;
  let userScroll = 0;
  // A scroll this soon after the reader's wheel, touch, key or pointer counts as theirs. Generous: on a loaded
  // machine the browser delivered the scroll event over a second after the wheel, and the panel kept stale cards.
  const USER_SCROLL_MS = 4000;
  for (const type of ["wheel", "touchmove", "keydown", "pointerdown"]) {
    document.addEventListener(type, () => { userScroll = Date.now(); }, { capture: true, passive: true });
  }
  document.addEventListener("scroll", (ev) => {
    const area = ev.target instanceof Element ? ev.target : document.scrollingElement;
    if (ticking || Date.now() - userScroll > USER_SCROLL_MS || Date.now() < pinned || !area || !(area.closest && area.closest("#aqa-chat"))) return;
    ticking = true;
    requestAnimationFrame(() => {
      ticking = false;
      const list = bots();
      const top = area.getBoundingClientRect().top + area.clientHeight / 3;
      let best = null;
      if (area.scrollTop + area.clientHeight >= area.scrollHeight - 8) best = list[list.length - 1];
      else for (const b of list) if (b.getBoundingClientRect().top <= top) best = b;
      if (best) show(best);
    });
  }, true);

  document.addEventListener("input", (ev) => {
    if (ev.target instanceof Element && ev.target.closest("#aqa-question")) counter();
  }, true);

  window.aqaDownload = (md) => {
    if (!md) return;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([md], { type: "text/markdown;charset=utf-8" }));
    a.download = "chat-" + new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-") + ".md";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  };

  let queued = false;
  const observer = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; refresh(); });
  });
  const start = () => {
    observer.observe(document.body, { childList: true, subtree: true, characterData: true,
      attributes: true, attributeFilter: ["disabled"] });
    refresh();
  };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
