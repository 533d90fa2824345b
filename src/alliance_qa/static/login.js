// alliance-qa login page: focus the user name, autocomplete hints, keep the user name after a failed try.
(() => {
  "use strict";
  let user = "";
  let focused = false;
  const fix = () => {
    const name = document.querySelector('input[data-testid="textbox"]');
    const pass = document.querySelector('input[type="password"]');
    if (!name || !pass) return;
    const heading = document.querySelector(".wrap h2");
    if (heading && !heading.getAttribute("aria-level")) {
      heading.setAttribute("role", "heading");  // the page's one heading: level 1
      heading.setAttribute("aria-level", "1");
    }
    const wrap = heading && heading.closest(".wrap");
    if (wrap && !wrap.getAttribute("role")) wrap.setAttribute("role", "main");
    name.setAttribute("autocomplete", "username");
    pass.setAttribute("autocomplete", "current-password");
    if (!focused) { focused = true; name.focus(); }
    if (user && !name.value) {
      name.value = user;
      name.dispatchEvent(new Event("input", { bubbles: true }));
      pass.focus();
    }
  };
  const remember = () => {
    const name = document.querySelector('input[data-testid="textbox"]');
    if (name && name.value) user = name.value;
  };
  document.addEventListener("keydown", (ev) => { if (ev.key === "Enter") remember(); }, true);
  document.addEventListener("click", (ev) => {
    if (ev.target instanceof Element && ev.target.closest("button")) remember();
  }, true);
  const start = () => {
    new MutationObserver(fix).observe(document.body, { childList: true, subtree: true });
    fix();
  };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
