/**
 * The status page: plain HTML, CSS and JavaScript served by the bridge itself (no framework, nothing loaded from
 * elsewhere; the Content-Security-Policy allows only these files and the bridge's own event stream). The script builds
 * every cell with `textContent`, never HTML, so no lock id, vendor name or error text can inject markup.
 * Kept as strings so the compiled package needs no asset files beside it; the script has no backticks or `${`.
 */

export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>latchkey bridge</title>
<link rel="stylesheet" href="/status/app.css">
</head>
<body>
<header>
  <h1>latchkey bridge <span id="bridge-id">…</span></h1>
  <span id="health" class="badge muted">…</span>
  <span id="live" class="live">connecting…</span>
  <span id="version" class="muted"></span>
</header>
<ul id="degraded" class="degraded" hidden></ul>
<main>
  <section class="cards">
    <article id="cloud-card"><h2>Cloud link</h2><dl id="cloud"></dl></article>
    <article id="outbox-card"><h2>Outbox</h2><dl id="outbox"></dl></article>
    <article id="ble-card"><h2>Bluetooth LE</h2><dl id="ble"></dl></article>
    <article id="broker-card"><h2>MQTT broker</h2><dl id="broker"></dl></article>
    <article id="actions-card"><h2>Remote actions</h2><dl id="actions"></dl><ol id="recent-actions" class="small"></ol></article>
  </section>
  <section>
    <h2>Locks <span id="lock-count" class="muted"></span></h2>
    <p class="legend">
      <span class="tag bridge">bridge's word</span> what the bridge itself sees (a lock's MQTT session or BLE visit).
      <span class="tag unauth">unauthenticated</span> what the lock's reports say as the bridge peeks at them: it holds
      no report key and cannot check them, so a rogue login could show anything here; nothing is decided by it.
      <span class="tag cloud">cloud's verdict</span> the cloud's judgement of the lock's sealed reports.
    </p>
    <div class="scroll">
    <table id="locks">
      <thead><tr>
        <th>Lock</th>
        <th>Online <span class="tag bridge">bridge's word</span></th>
        <th>Battery <span class="tag unauth">unauthenticated</span></th>
        <th>Last seen <span class="tag unauth">unauthenticated</span></th>
        <th>Lock state <span class="tag unauth">unauthenticated</span></th>
        <th>Signed state: runs / bridge holds <span class="tag unauth">runs: unauthenticated</span></th>
        <th>Last events <span class="tag unauth">unauthenticated</span></th>
        <th>Seq gaps <span class="tag unauth">unauthenticated</span></th>
        <th>Reports refused <span class="tag cloud">cloud's verdict</span></th>
      </tr></thead>
      <tbody></tbody>
    </table>
    </div>
    <p id="no-locks" class="muted" hidden>No lock has been assigned to or seen by this bridge yet.</p>
  </section>
  <section>
    <h2>Vendor connections</h2>
    <table id="vendors">
      <thead><tr><th>Connection</th><th>Vendor</th><th>Account</th><th>Cloud says</th><th>Bridge reported</th><th>Locks reached</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="no-vendors" class="muted" hidden>No vendor connection is assigned to this bridge.</p>
  </section>
</main>
<footer class="muted">Read-only. Live over Server-Sent Events; times are this bridge's clock shown in your time zone.</footer>
<script src="/status/app.js"></script>
</body>
</html>
`;

export const STATUS_CSS = `:root {
  --bg: #f6f7f9; --fg: #1d2330; --muted: #667085; --card: #fff; --line: #e3e6eb;
  --ok: #137a3a; --ok-bg: #e3f6e9; --bad: #b42318; --bad-bg: #fde8e6; --warn: #935f00; --warn-bg: #fff3d6;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
}
body { margin: 0; padding: 16px 24px 32px; }
header { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
section { margin-top: 20px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.badge { border-radius: 999px; padding: 2px 10px; font-weight: 600; font-size: 12px; text-transform: uppercase; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.muted { background: var(--line); }
.live { font-size: 12px; color: var(--muted); }
.live.on::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: #12b76a; margin-right: 6px; }
.degraded { margin: 12px 0 0; padding: 10px 14px 10px 30px; background: var(--warn-bg); color: var(--warn); border-radius: 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; align-items: start; }
article { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 3px 12px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
ol.small { margin: 8px 0 0; padding-left: 18px; }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
th .tag { display: table; margin-top: 3px; }
td.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; white-space: nowrap; }
.tag { display: inline-block; font-size: 10px; font-weight: 600; border-radius: 4px; padding: 0 4px; text-transform: uppercase; vertical-align: 1px; }
.tag.bridge { background: #e0eaff; color: #2948a8; }
.tag.unauth { background: #fff3d6; color: #935f00; border: 1px dashed #e3b341; }
.tag.cloud { background: #e3f6e9; color: #137a3a; }
.legend { color: var(--muted); font-size: 12px; margin: 0 0 8px; }
.on-yes { color: var(--ok); font-weight: 600; }
.on-no { color: var(--bad); font-weight: 600; }
.behind { color: var(--warn); font-weight: 600; }
.events { margin: 0; padding: 0; list-style: none; font-size: 12px; }
.changed { animation: flash 1.2s ease-out; }
@keyframes flash { from { background: #fff6c2; } to { background: transparent; } }
footer { margin-top: 24px; font-size: 12px; }
`;

export const STATUS_JS = `"use strict";
(function () {
  var offset = 0;
  var rows = new Map();
  var byId = function (id) { return document.getElementById(id); };

  function serverNow() { return Date.now() + offset; }
  function setNow(now) { if (typeof now === "number") offset = now - Date.now(); }

  function ago(ms) {
    if (ms === null || ms === undefined) return "never";
    var s = Math.max(0, Math.round((serverNow() - ms) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  function clock(ms) { return new Date(ms).toLocaleString(); }
  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }
  function node(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  /** A time shown as "12 s ago", kept current by the ticker; the exact time in the tooltip. */
  function when(ms) {
    var e = node("span", ago(ms));
    if (ms !== null && ms !== undefined) { e.dataset.at = String(ms); e.title = clock(ms); }
    return e;
  }
  function fill(dl, pairs) {
    dl.replaceChildren();
    pairs.forEach(function (p) {
      var dd = node("dd");
      dd.dataset.field = p[2] || "";
      if (p[1] instanceof Node) dd.appendChild(p[1]); else dd.textContent = String(p[1]);
      dl.append(node("dt", p[0]), dd);
    });
  }
  function counts(map) {
    var keys = Object.keys(map || {});
    if (keys.length === 0) return "none";
    return keys.map(function (k) { return k + " " + map[k]; }).join(", ");
  }

  function renderSite(site) {
    byId("bridge-id").textContent = site.bridge.id;
    byId("version").textContent = "v" + site.bridge.version;
    var health = byId("health");
    health.textContent = site.bridge.status;
    health.className = "badge " + (site.bridge.status === "running" ? "ok" : site.bridge.status === "degraded" ? "warn" : "bad");
    var degraded = byId("degraded");
    degraded.replaceChildren();
    site.bridge.degraded.forEach(function (d) { degraded.append(node("li", d.message)); });
    degraded.hidden = site.bridge.degraded.length === 0;

    var c = site.cloud;
    var reach = node("span", c.reachable === null ? "not tried yet" : c.reachable ? "reachable" : "unreachable",
      c.reachable === null ? "" : c.reachable ? "on-yes" : "on-no");
    fill(byId("cloud"), [
      ["URL", c.url],
      ["Link", reach, "reachable"],
      ["Unreachable since", c.unreachableSince === null ? "—" : when(c.unreachableSince)],
      ["Last success", when(c.lastSuccessAt), "lastSuccess"],
      ["Last error", c.lastError ? c.lastError.message : "none", "lastError"],
      ["Error at", c.lastError ? when(c.lastError.at) : "—"],
      ["Credentials", c.credentialsRefused ? "REFUSED: check cloud.secret" : "accepted or not tried", "credentials"],
      ["Change feed", site.feed.caughtUp ? "caught up" : "catching up"],
      ["Refused reports", counts(site.upload.reportsRefused)]
    ]);

    var o = site.outbox;
    fill(byId("outbox"), [
      ["Items", o.items + " of " + o.maxItems, "items"],
      ["Bytes", bytes(o.bytes) + " of " + bytes(o.maxBytes)],
      ["Oldest", o.oldestAt === null ? "empty" : when(o.oldestAt), "oldest"],
      ["Full", o.full ? "yes (" + o.fullPolicy + ")" : "no"]
    ]);

    var b = site.ble;
    fill(byId("ble"), b === null ? [["Adapter", "off (ble.enabled: false)", "state"]] : [
      ["Adapter", node("span", b.state, b.state === "available" ? "on-yes" : b.state === "unavailable" ? "on-no" : ""), "state"],
      ["Why", b.reason || "—"],
      ["Since", when(b.since)],
      ["Next try", b.nextAttemptAt === null ? "—" : when(b.nextAttemptAt)],
      ["Failed tries", b.failures]
    ]);

    fill(byId("broker"), [
      ["Kind", site.broker.kind],
      ["URL", site.broker.url],
      ["Connected", node("span", site.broker.connected ? "yes" : "no", site.broker.connected ? "on-yes" : "on-no")]
    ]);

    var a = site.actions;
    fill(byId("actions"), [
      ["Waiting", a.pending, "pending"],
      ["In flight", a.inFlight],
      ["Outcomes", counts(a.outcomes)]
    ]);
    var recent = byId("recent-actions");
    recent.replaceChildren();
    a.recent.forEach(function (r) {
      var li = node("li", r.action + " " + r.lockId + ": " + r.outcome + " ");
      li.append(when(r.at));
      recent.append(li);
    });

    var vt = byId("vendors").tBodies[0];
    vt.replaceChildren();
    site.vendorConnections.forEach(function (v) {
      var tr = node("tr");
      tr.dataset.vendor = v.id;
      tr.append(node("td", v.id, "id"), node("td", v.vendor), node("td", v.username), node("td", v.cloudState),
        node("td", (v.reportedState || "not yet") + (v.reason ? " (" + v.reason + ")" : "")), node("td", v.locks));
      vt.append(tr);
    });
    byId("no-vendors").hidden = site.vendorConnections.length > 0;
  }

  function lockCells(l) {
    var online = node("span", l.online ? "online" : "offline", l.online ? "on-yes" : "on-no");
    var battery = l.battery ? l.battery.level + " % (" + (l.battery.mv / 1000).toFixed(2) + " V, " + l.battery.state + ")" : "—";
    var runs = l.runsV === null ? "?" : "v" + l.runsV + (l.runsVFrom ? " (" + l.runsVFrom + ")" : "");
    var held = l.heldV === null ? "none" : "v" + l.heldV;
    var version = node("span", runs + " / " + held, l.runsV !== null && l.heldV !== null && l.runsV < l.heldV ? "behind" : "");
    var events = node("ul", null, "events");
    l.events.forEach(function (e) {
      var li = node("li", e.type + (e.code ? " " + e.code : "") + (e.v !== undefined ? " v" + e.v : "") + " #" + e.seq + " ");
      li.append(when(e.receivedAt));
      events.append(li);
    });
    if (l.events.length === 0) events.append(node("li", "none since start", "muted"));
    var transport = l.transport ? " · " + l.transport : "";
    var id = node("td", l.lockId, "id");
    id.append(node("div", (l.assigned ? "assigned" : "not assigned") + transport, "muted small"));
    return {
      lock: id,
      online: online,
      battery: battery,
      lastSeen: when(l.lastSeenAt),
      lockState: l.lockState || "—",
      version: version,
      events: events,
      gaps: l.dropped === 0 ? "none" : l.dropped + " dropped",
      refused: counts(l.refusals)
    };
  }

  function renderLock(l) {
    var cells = lockCells(l);
    var tr = rows.get(l.lockId);
    var fresh = !tr;
    if (fresh) {
      tr = node("tr");
      tr.dataset.lock = l.lockId;
      rows.set(l.lockId, tr);
    }
    var tds = Object.keys(cells).map(function (col) {
      var value = cells[col];
      var td = value instanceof HTMLTableCellElement ? value : node("td");
      if (!(value instanceof HTMLTableCellElement)) {
        if (value instanceof Node) td.appendChild(value); else td.textContent = String(value);
      }
      td.dataset.col = col;
      return td;
    });
    tr.replaceChildren.apply(tr, tds);
    if (!fresh) { tr.classList.remove("changed"); void tr.offsetWidth; tr.classList.add("changed"); }
  }

  function placeRows() {
    var body = byId("locks").tBodies[0];
    var ids = Array.from(rows.keys()).sort();
    ids.forEach(function (id) { body.appendChild(rows.get(id)); });
    byId("lock-count").textContent = "(" + ids.length + ")";
    byId("no-locks").hidden = ids.length > 0;
  }

  function tick() {
    document.querySelectorAll("[data-at]").forEach(function (e) { e.textContent = ago(Number(e.dataset.at)); });
  }

  function connect() {
    var live = byId("live");
    var source = new EventSource("/status/events");
    source.onopen = function () { live.textContent = "live"; live.className = "live on"; };
    source.onerror = function () { live.textContent = "reconnecting…"; live.className = "live"; };
    source.addEventListener("snapshot", function (m) {
      var data = JSON.parse(m.data);
      setNow(data.now);
      renderSite(data.site);
      rows.forEach(function (tr) { tr.remove(); });
      rows.clear();
      data.locks.forEach(renderLock);
      placeRows();
      document.body.dataset.ready = "true";
    });
    source.addEventListener("site", function (m) {
      var data = JSON.parse(m.data);
      setNow(data.now);
      renderSite(data.site);
    });
    source.addEventListener("locks", function (m) {
      var data = JSON.parse(m.data);
      setNow(data.now);
      data.changed.forEach(renderLock);
      data.removed.forEach(function (id) { var tr = rows.get(id); if (tr) tr.remove(); rows.delete(id); });
      placeRows();
    });
  }

  setInterval(tick, 1000);
  connect();
})();
`;
