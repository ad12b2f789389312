// The self-service page of a link: the token comes in the URL fragment (never sent to a server
// or in a Referer), is kept for this tab only and leaves the address bar at once. Everything
// shown is set as text, never as HTML.
"use strict";
(function () {
  const ru = (navigator.language || "").toLowerCase().startsWith("ru");
  const t = ru
    ? { title: "Ваши согласия", none: "Согласий нет.", bad: "Ссылка недействительна или отозвана. Запросите новую.",
        granted: "действует", withdrawn: "отозвано", given: "дано", withdraw: "Отозвать согласие",
        receipt: "квитанция", failed: "Не удалось: " }
    : { title: "Your consents", none: "No consents are on record.", bad: "This link is not valid or has been revoked. Ask for a new one.",
        granted: "given", withdrawn: "withdrawn", given: "given on", withdraw: "Withdraw consent",
        receipt: "receipt", failed: "Failed: " };
  document.documentElement.lang = ru ? "ru" : "en";
  document.title = t.title;
  document.getElementById("title").textContent = t.title;
  const fragment = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fragment) {
    sessionStorage.setItem("pdgate-link", fragment);
    history.replaceState(null, "", location.pathname);
  }
  const token = sessionStorage.getItem("pdgate-link");
  const status = document.getElementById("status");
  const list = document.getElementById("consents");
  const call = (method, url) =>
    fetch(url, { method, headers: { authorization: "Bearer " + token }, credentials: "omit", cache: "no-store" });
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  async function load() {
    if (!token) { status.textContent = t.bad; return; }
    const r = await call("GET", "consents");
    if (!r.ok) { status.textContent = t.bad; return; }
    const body = await r.json();
    list.replaceChildren();
    status.textContent = body.consents.length ? "" : t.none;
    for (const c of body.consents) {
      const li = el("li", undefined, c.state);
      li.append(el("h2", c.description || c.purpose));
      const p = el("p");
      p.append(el("span", c.state === "granted" ? t.granted : t.withdrawn, "state"),
        " · " + t.given + " " + new Date(c.given_at).toLocaleString() + " · ");
      const a = el("a", t.receipt);
      a.href = c.receipt_url;
      a.rel = "noreferrer";
      p.append(a);
      li.append(p);
      if (c.state === "granted") {
        const b = el("button", t.withdraw);
        b.addEventListener("click", async () => {
          b.disabled = true;
          const w = await call("POST", c.withdraw_url);
          if (!w.ok) { status.textContent = t.failed + w.status; b.disabled = false; return; }
          load();
        });
        li.append(b);
      }
      list.append(li);
    }
  }
  load();
})();
