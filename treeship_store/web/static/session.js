// The session page: a timeline with one lane per agent instance, the event
// table, and the panels beside them, drawn from /api/events and kept live by
// /api/sessions/<id>/stream. Event content is untrusted: it reaches the page
// only as textContent or as numbers computed here, never as markup.
"use strict";

(function () {
  const root = document.getElementById("session");
  const sessionId = root.dataset.session;
  const SVG = "http://www.w3.org/2000/svg";
  const LANE = 30, AXIS = 26, LABEL = 200, PAD = 14, TABLE_PAGE = 500;

  const events = [];          // {e: parsed event, raw: stored line, t: ms or null}
  const lanes = new Map();    // instance id -> {id, name, parent, depth, order}
  let byTime = [];            // indexes into events, in time order
  let view = null;            // [start ms, end ms]
  let full = null;
  let selected = -1;
  let tableLimit = TABLE_PAGE;
  let drawPending = false;

  // -- reading ---------------------------------------------------------------

  const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;
  function parseTime(text) {
    const m = typeof text === "string" && RFC3339.exec(text);
    if (!m) return null;
    let ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    if (m[1] < "0100") { const d = new Date(ms); d.setUTCFullYear(+m[1]); ms = d.getTime(); }
    if (m[7]) ms += Number("0." + m[7]) * 1000;
    if (m[8] !== "Z") {
      const sign = m[8][0] === "-" ? -1 : 1;
      ms -= sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60000;
    }
    return ms;
  }

  function add(raw) {
    let e;
    try { e = JSON.parse(raw); } catch (_) { return; }
    if (!e || typeof e !== "object") return;
    // No check against the last sequence_no: the stream resumes after the
    // last line on the server, and lines another tool wrote may repeat one
    // (each is a mark).
    const item = {e: e, raw: raw, t: parseTime(e.timestamp)};
    events.push(item);
    const instance = String(e.agent_instance_id);
    const parent = e.type === "agent.spawned" ? e.spawned_by_agent_instance_id
      : e.type === "agent.started" ? e.parent_agent_instance_id : undefined;
    let lane = lanes.get(instance);
    if (!lane) {
      lane = {id: instance, name: String(e.agent_name), parent: null};
      lanes.set(instance, lane);
    }
    if (typeof parent === "string" && parent !== instance && !lane.parent) lane.parent = parent;
  }

  function isFailure(e) {
    return e.type === "agent.failed" ||
      (e.type === "agent.completed_process" && Number.isInteger(e.exit_code) && e.exit_code !== 0);
  }

  const KINDS = {
    "agent.called_tool": "tool", "agent.read_file": "read", "agent.wrote_file": "write",
    "agent.started_process": "process", "agent.completed_process": "process",
    "agent.opened_port": "network", "agent.connected_network": "network", "agent.decision": "decision",
  };
  function kind(e) {
    if (isFailure(e)) return "fail";
    if (KINDS[e.type]) return KINDS[e.type];
    return String(e.type).startsWith("session.") ? "session" : "agent";
  }

  // Tool calls and processes last duration_ms, ending at their timestamp: a
  // bar. (A session's duration is the whole axis; it gets none.)
  function barMs(e) {
    return Number.isInteger(e.duration_ms) && e.duration_ms > 0 && e.type !== "session.closed" ? e.duration_ms : 0;
  }

  function what(e) {
    for (const name of ["tool_name", "file_path", "command", "process_name", "destination", "model", "summary",
                        "reason", "termination_reason"]) {
      if (typeof e[name] === "string") return e[name];
    }
    const meta = e.meta && typeof e.meta === "object" ? e.meta : {};
    if (typeof meta.text === "string") {  // agent.note: a gate's note, or a prompt or an answer (--with-text)
      return (typeof meta.kind === "string" ? meta.kind + ": " : "") + meta.text;
    }
    return "";
  }

  // Lanes: an agent instance under the one that spawned it, depth first, each
  // level in order of first appearance.
  function orderLanes() {
    const children = new Map();
    const roots = [];
    for (const lane of lanes.values()) {
      const parent = lane.parent && lanes.has(lane.parent) && lane.parent !== lane.id ? lane.parent : null;
      if (parent) (children.get(parent) || children.set(parent, []).get(parent)).push(lane);
      else roots.push(lane);
    }
    const ordered = [];
    const seen = new Set();
    (function walk(list, depth) {
      for (const lane of list) {
        if (seen.has(lane.id)) continue;
        seen.add(lane.id);
        lane.depth = depth;
        lane.order = ordered.length;
        ordered.push(lane);
        walk(children.get(lane.id) || [], depth + 1);
      }
    })(roots, 0);
    for (const lane of lanes.values()) {  // a cycle of parents: show them at the top level
      if (!seen.has(lane.id)) { lane.depth = 0; lane.order = ordered.length; ordered.push(lane); }
    }
    return ordered;
  }

  function span() {
    let lo = Infinity, hi = -Infinity;
    for (const item of events) {
      if (item.t === null) continue;
      lo = Math.min(lo, item.t - barMs(item.e));
      hi = Math.max(hi, item.t);
    }
    if (lo === Infinity) return [0, 1];
    if (hi - lo < 1) { lo -= 500; hi += 500; }
    const margin = (hi - lo) * 0.02;
    return [lo - margin, hi + margin];
  }

  // -- drawing ---------------------------------------------------------------

  function el(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const key in attributes) node.setAttribute(key, attributes[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw() {
    drawPending = false;
    const box = document.getElementById("timeline");
    const ordered = orderLanes();
    const width = Math.max(box.clientWidth, 600);
    const height = AXIS + ordered.length * LANE + PAD;
    const plot = width - LABEL - PAD;
    const [v0, v1] = view;
    const x = (t) => LABEL + (t - v0) / (v1 - v0) * plot;
    const y = (instance) => AXIS + lanes.get(instance).order * LANE + LANE / 2;
    const svg = el("svg", {width: width, height: height, "aria-hidden": "true"});
    const clip = el("clipPath", {id: "plot"});
    clip.appendChild(el("rect", {x: LABEL, y: 0, width: plot + PAD, height: height}));
    svg.appendChild(el("defs")).appendChild(clip);

    // Lanes and their labels.
    for (const lane of ordered) {
      const top = AXIS + lane.order * LANE;
      svg.appendChild(el("rect", {x: 0, y: top, width: width, height: LANE, class: "lane" + (lane.order % 2 ? " odd" : "")}));
      const label = el("text", {x: 6 + lane.depth * 14, y: top + LANE / 2 + 4, class: "lane-label",
                                "data-instance": lane.id, "data-lane": lane.order},
        (lane.depth ? "↳ " : "") + lane.name + " · " + lane.id);
      label.appendChild(el("title", {}, lane.name + " (" + lane.id + ")"));
      svg.appendChild(label);
    }
    // The time axis.
    const ticks = 8;
    for (let i = 0; i <= ticks; i++) {
      const t = v0 + (v1 - v0) * i / ticks;
      svg.appendChild(el("line", {x1: x(t), x2: x(t), y1: AXIS - 4, y2: height - PAD, class: "tick"}));
      svg.appendChild(el("text", {x: x(t), y: AXIS - 8, class: "tick-label" + (i === ticks ? " last" : "")},
                             tickLabel(t, v1 - v0)));
    }
    const plotted = el("g", {"clip-path": "url(#plot)"});
    svg.appendChild(plotted);
    const links = document.createDocumentFragment();
    const bars = document.createDocumentFragment();
    const marks = document.createDocumentFragment();
    for (let i = 0; i < events.length; i++) {
      const item = events[i], e = item.e;
      if (item.t === null || !lanes.has(String(e.agent_instance_id))) continue;
      const d = barMs(e);
      if (item.t < v0 || item.t - d > v1) continue;
      const cy = y(String(e.agent_instance_id));
      const k = kind(e);
      const target = e.type === "agent.spawned" ? null
        : e.type === "agent.handoff" ? e.to_agent_instance_id
        : e.type === "agent.returned" ? e.returned_to_agent_instance_id : null;
      const source = e.type === "agent.spawned" ? e.spawned_by_agent_instance_id
        : e.type === "agent.handoff" ? e.from_agent_instance_id : null;
      for (const [a, b] of [[source, String(e.agent_instance_id)], [String(e.agent_instance_id), target]]) {
        if (typeof a === "string" && typeof b === "string" && a !== b && lanes.has(a) && lanes.has(b)) {
          links.appendChild(el("line", {x1: x(item.t), x2: x(item.t), y1: y(a), y2: y(b), class: "link k-" + k,
                                        "marker-end": "url(#arrow)"}));
        }
      }
      if (d > 0) {
        bars.appendChild(el("rect", {x: x(item.t - d), y: cy - 5, width: Math.max(x(item.t) - x(item.t - d), 1),
                                     height: 10, class: "bar k-" + k, "data-i": i}));
      }
      marks.appendChild(el("circle", {cx: x(item.t), cy: cy, r: k === "fail" ? 7 : 5,
                                      class: "mark k-" + k + (i === selected ? " selected" : ""), "data-i": i,
                                      "data-lane": lanes.get(String(e.agent_instance_id)).order}));
    }
    const arrow = el("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6,
                                orient: "auto-start-reverse"});
    arrow.appendChild(el("path", {d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head"}));
    svg.querySelector("defs").appendChild(arrow);
    plotted.appendChild(links);
    plotted.appendChild(bars);
    plotted.appendChild(marks);
    box.replaceChildren(svg);
  }

  function tickLabel(t, range) {
    const iso = new Date(t).toISOString();
    return range < 2000 ? iso.slice(11, 23) : range < 2 * 86400000 ? iso.slice(11, 19) : iso.slice(0, 16).replace("T", " ");
  }

  function schedule() {
    if (!drawPending) { drawPending = true; requestAnimationFrame(draw); }
  }

  // -- the panels and the table ---------------------------------------------

  function row(cells, classes) {
    const tr = document.createElement("tr");
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text === undefined || text === null ? "" : String(text);
      if (classes && classes[i]) td.className = classes[i];
      tr.appendChild(td);
    });
    return tr;
  }

  function showDetails(i) {
    const panel = document.getElementById("details");
    const item = events[i], e = item.e;
    const heading = document.createElement("h2");
    heading.textContent = e.type + " · #" + e.sequence_no;
    const table = document.createElement("table");
    table.className = "fields";
    for (const key of Object.keys(e)) {
      const value = e[key];
      const tr = row([key, typeof value === "string" ? value : JSON.stringify(value)], ["key", "value"]);
      if (key === "exit_code" && isFailure(e)) tr.className = "bad";
      table.appendChild(tr);
    }
    const caption = document.createElement("h3");
    caption.textContent = "Stored line";
    const pre = document.createElement("pre");
    pre.textContent = item.raw;
    panel.replaceChildren(heading, table, caption, pre);
  }

  function select(i, reveal) {
    if (i < 0 || i >= events.length) return;
    selected = i;
    showDetails(i);
    const t = events[i].t;
    if (reveal && t !== null && (t < view[0] || t > view[1])) {
      const half = (view[1] - view[0]) / 2;
      view = [t - half, t + half];
    }
    schedule();
  }

  function panels(damaged) {
    const files = new Map(), tokens = new Map();
    for (const {e} of events) {
      if (e.type === "agent.wrote_file" && typeof e.file_path === "string") {
        const f = files.get(e.file_path) || files.set(e.file_path, [0, 0, 0]).get(e.file_path);
        f[0] += 1;
        f[1] += Number.isInteger(e.additions) ? e.additions : 0;
        f[2] += Number.isInteger(e.deletions) ? e.deletions : 0;
      } else if (e.type === "agent.decision") {
        const model = typeof e.model === "string" ? e.model : "(none)";
        const t = tokens.get(model) || tokens.set(model, [0, 0, 0]).get(model);
        t[0] += 1;
        t[1] += Number.isInteger(e.tokens_in) ? e.tokens_in : 0;
        t[2] += Number.isInteger(e.tokens_out) ? e.tokens_out : 0;
      }
    }
    const fill = (id, entries, classes) => {
      const body = document.querySelector("#" + id + " tbody");
      body.replaceChildren(...entries.map((cells) => row(cells, classes)));
    };
    fill("files", [...files].sort().map(([path, f]) => [path, f[0], "+" + f[1], "−" + f[2]]),
         ["path", "n", "n add", "n del"]);
    fill("tokens", [...tokens].sort().map(([model, t]) => [model, ...t]), ["", "n", "n", "n"]);
    if (damaged) fill("damaged", damaged.map((d) => [d.line_no, d.offset, d.length, d.reason]), ["n", "n", "n", ""]);
  }

  function fillFilters() {
    for (const [id, values] of [["agent-filter", new Set(events.map(({e}) => String(e.agent_name)))],
                                ["type-filter", new Set(events.map(({e}) => String(e.type)))]]) {
      const select = document.getElementById(id);
      const have = new Set([...select.options].map((o) => o.value));
      for (const value of [...values].sort()) {
        if (!have.has(value)) { const o = document.createElement("option"); o.value = o.textContent = value; select.appendChild(o); }
      }
    }
  }

  function table() {
    const agent = document.getElementById("agent-filter").value;
    const type = document.getElementById("type-filter").value;
    const body = document.querySelector("#events tbody");
    const rows = [];
    let matching = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i].e;
      if ((agent && String(e.agent_name) !== agent) || (type && e.type !== type)) continue;
      matching += 1;
      if (rows.length >= tableLimit) continue;
      const exit = e.type === "agent.completed_process" && e.exit_code !== undefined ? e.exit_code
        : Number.isInteger(e.duration_ms) ? e.duration_ms + " ms" : "";
      const tr = row([e.sequence_no, e.timestamp, e.agent_name + " · " + e.agent_instance_id, e.type, what(e), exit],
                     ["n", "time", "", "", "what", "n"]);
      tr.dataset.i = i;
      tr.tabIndex = 0;
      if (isFailure(e)) tr.classList.add("bad");
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    document.getElementById("shown").textContent = rows.length < matching
      ? rows.length + " of " + matching + " events" : matching + " events";
    document.getElementById("more").hidden = rows.length >= matching;
    document.getElementById("event-count").textContent = events.length;
  }

  function refresh() {
    byTime = events.map((_, i) => i).filter((i) => events[i].t !== null).sort((a, b) => events[a].t - events[b].t || a - b);
    const whole = span();
    const following = !full || (view[0] === full[0] && view[1] === full[1]);
    full = whole;
    if (following) view = whole.slice();  // showing everything: keep showing everything
    fillFilters();
    panels(null);
    table();
    schedule();
  }

  // -- zoom, pan, keys, clicks ----------------------------------------------

  function zoom(factor, at) {
    const centre = at === undefined ? (view[0] + view[1]) / 2 : at;
    const width = Math.max((view[1] - view[0]) * factor, 1);
    view = [centre - (centre - view[0]) * width / (view[1] - view[0]),
            centre + (view[1] - centre) * width / (view[1] - view[0])];
    schedule();
  }

  function pan(fraction) {
    const shift = (view[1] - view[0]) * fraction;
    view = [view[0] + shift, view[1] + shift];
    schedule();
  }

  function step(direction) {
    if (!byTime.length) return;
    const at = byTime.indexOf(selected);
    const next = at < 0 ? (direction > 0 ? 0 : byTime.length - 1) : Math.min(Math.max(at + direction, 0), byTime.length - 1);
    select(byTime[next], true);
  }

  const actions = {
    "zoom-in": () => zoom(0.5), "zoom-out": () => zoom(2), "pan-left": () => pan(-0.25),
    "pan-right": () => pan(0.25), "reset": () => { view = full.slice(); schedule(); },
  };

  function wire() {
    document.querySelector(".toolbar").addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]");
      if (action) actions[action.dataset.action]();
    });
    const box = document.getElementById("timeline");
    box.addEventListener("click", (event) => {
      const i = event.target.getAttribute && event.target.getAttribute("data-i");
      if (i !== null && i !== undefined) select(Number(i), false);
    });
    box.addEventListener("keydown", (event) => {
      const keys = {
        "ArrowRight": () => event.shiftKey ? pan(0.25) : step(1), "ArrowLeft": () => event.shiftKey ? pan(-0.25) : step(-1),
        "+": () => zoom(0.5), "=": () => zoom(0.5), "-": () => zoom(2), "0": actions.reset,
        "Home": () => select(byTime[0], true), "End": () => select(byTime[byTime.length - 1], true),
      };
      if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
    });
    box.addEventListener("wheel", (event) => {
      if (!event.ctrlKey && !event.altKey && Math.abs(event.deltaX) <= Math.abs(event.deltaY) && !event.shiftKey) {
        const rect = box.getBoundingClientRect();
        const fraction = (event.clientX - rect.left - LABEL) / (rect.width - LABEL - PAD);
        if (fraction < 0) return;
        event.preventDefault();
        zoom(event.deltaY > 0 ? 1.25 : 0.8, view[0] + fraction * (view[1] - view[0]));
      } else if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
        event.preventDefault();
        pan((event.deltaX || event.deltaY) > 0 ? 0.1 : -0.1);
      }
    }, {passive: false});
    for (const id of ["agent-filter", "type-filter"]) {
      document.getElementById(id).addEventListener("change", () => { tableLimit = TABLE_PAGE; table(); });
    }
    document.getElementById("more").addEventListener("click", () => { tableLimit += TABLE_PAGE; table(); });
    const pick = (event) => {
      const tr = event.target.closest("tr[data-i]");
      if (tr && (event.type === "click" || event.key === "Enter")) select(Number(tr.dataset.i), true);
    };
    document.querySelector("#events tbody").addEventListener("click", pick);
    document.querySelector("#events tbody").addEventListener("keydown", pick);
    window.addEventListener("resize", schedule);
  }

  // -- loading, then live -----------------------------------------------------

  function live(lastLine) {
    const status = document.getElementById("live");
    // From the line after the last one the page read: lines, not sequence
    // numbers, which another tool's lines may repeat.
    const source = new EventSource("/api/sessions/" + encodeURIComponent(sessionId) + "/stream?after_seq=" + lastLine);
    let pending = false;
    source.onopen = () => { status.textContent = "live"; status.className = "live on"; };
    source.onerror = () => {
      // Refused (503: too many live pages), the stream is closed for good; else the browser reconnects.
      const closed = source.readyState === EventSource.CLOSED;
      status.textContent = closed ? "not live: reload to try again" : "reconnecting…";
      status.className = "live off";
    };
    // The record was replaced (a restore): what the page shows is of the old
    // file, its counts and damaged lines too. Load it again.
    source.addEventListener("reset", () => { source.close(); location.reload(); });
    source.onmessage = (message) => {
      add(message.data);
      if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; refresh(); }); }
    };
  }

  async function start() {
    const started = performance.now();
    const base = "/api/events?session=" + encodeURIComponent(sessionId);
    const [[text, lastLine], damaged] = await Promise.all([
      fetch(base).then((r) => r.ok ? Promise.all([r.text(), r.headers.get("treeship-last-line")])
        : Promise.reject(new Error(r.status))),
      fetch("/api/sessions/" + encodeURIComponent(sessionId) + "/damaged").then((r) => r.json()),
    ]);
    for (const line of text.split("\n")) if (line) add(line);
    view = span();
    wire();
    refresh();
    panels(damaged);
    draw();
    root.dataset.drawMs = String(Math.round(performance.now() - started));  // since this script began
    root.dataset.readyMs = String(Math.round(performance.now()));  // since the page was asked for
    root.dataset.ready = "1";
    live(lastLine);
  }

  start().catch((error) => {
    const box = document.getElementById("timeline");
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = "Could not load the session: " + error.message;
    box.replaceChildren(p);
  });
})();
