// The Activity page's live lines: follow GET /ws/events?since=<seq> (WebSocket, with the session cookie; each
// message one event's JSON) and add each event that passes the page's filters at the top of the table. A lost
// connection resumes from the last seq seen, so nothing is missed or shown twice. No framework.
(function () {
  "use strict";
  var table = document.getElementById("activity");
  var body = document.getElementById("events");
  var state = document.getElementById("feed-state");
  if (!table || !body || !window.WebSocket) { return; }
  var since = parseInt(table.dataset.since || "0", 10);
  var forge = (table.dataset.forge || "").replace(/\/+$/, "");
  var house = table.dataset.house || "";
  var kinds = (table.dataset.kinds || "").split(",").filter(Boolean);
  var repository = table.dataset.repository || "";
  var number = table.dataset.number === "" ? null : parseInt(table.dataset.number, 10);
  var shown = 0;

  function passes(e) {
    if (kinds.length && kinds.indexOf(e.kind) < 0) { return false; }
    if (house && (e.data || {}).house !== house && e.host !== house) { return false; }
    if (number !== null && e.number !== number) { return false; }
    return !repository || e.repository === repository;
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function link(parent, href, text, title) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (title) { a.title = title; }
    parent.appendChild(a);
    parent.appendChild(document.createTextNode(" "));
  }

  function add(e) {
    if (e.seq <= since) { return; }  // a replayed line already shown
    since = e.seq;
    if (!passes(e)) { return; }
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var row = document.createElement("tr");
    row.className = "event live";
    row.dataset.seq = String(e.seq);
    row.dataset.kind = e.kind;
    cell(row, String(e.seq));
    cell(row, e.at, "mono");
    cell(row, e.host);
    cell(row, e.kind);
    var issue = cell(row, "");
    if (e.repository && e.number !== null && e.number !== undefined) {
      var ref = e.repository + "#" + e.number;
      if (forge) { link(issue, forge + "/" + e.repository + "/issues/" + e.number, ref); }
      else { issue.appendChild(document.createTextNode(ref + " ")); }
      link(issue, "/issues/" + e.repository + "/" + e.number, "path", "its path through the mesh");
    }
    var what = JSON.stringify(e.data || {});
    cell(row, what.length > 240 ? what.slice(0, 239) + "\u2026" : what, "mono");
    body.insertBefore(row, body.firstChild);
    shown += 1;
    state.textContent = "Live: " + shown + " new event" + (shown === 1 ? "" : "s") + " since the page loaded.";
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/events?since=" + since);
    socket.onopen = function () { state.textContent = "Live: following the event log from seq " + since + "."; };
    socket.onmessage = function (m) { add(JSON.parse(m.data)); };
    socket.onclose = function (c) {
      if (c.code === 1008) { state.textContent = "Live feed refused (" + (c.reason || "log in again") + ")."; return; }
      state.textContent = "Live feed interrupted: reconnecting from seq " + since + "\u2026";
      window.setTimeout(connect, 2000);
    };
    table.feed = socket;
  }
  connect();
})();
