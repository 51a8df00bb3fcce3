// Timeline: swimlanes per backend (GET /api/v1/lanes) for a Service or a node, with zoom and
// pan, hover details, live refresh, and the picked backend's prober changes
// (GET /api/v1/backends/{id}/timeline).

import { latest } from "./api.js";
import { isLive, pause, range } from "./app.js";
import { clockMs, duration, h, shortObject } from "./format.js";
import { MARKERS, cssClass, family, legend, styleOf } from "./palette.js";
import { Lanes } from "./lanes.js";

// Rows of changes listed in the detail panel (the latest ones).
const MAX_CHANGES = 60;

export async function renderTimeline(root, params) {
  const load = latest();
  const loadDetail = latest();
  const options = { whatIf: true, allHops: params.hops === "all", minor: false, node: params.node ?? "" };
  const summary = h("span.muted", { "aria-live": "polite" });
  const detail = h("aside.detail", { hidden: true, "aria-label": "backend detail" });
  const toggles = h("div.toolbar", {},
    h("label", {}, "Node ", h("input", { type: "search", value: options.node, placeholder: "any", size: 18,
      onchange: (e) => { options.node = e.target.value.trim(); refresh(); } })),
    check("what-if versions", options.whatIf, (on) => { options.whatIf = on; redraw(); }),
    check("plain hops (pod, ClusterIP, NodePort)", options.allHops, (on) => { options.allHops = on; redraw(); }),
    check("minor lifecycle events", options.minor, (on) => { options.minor = on; lanes.draw(); }),
    h("span.zoom", {},
      h("button", { type: "button", title: "zoom in (+)", onclick: () => lanes.zoom(0.5) }, "+"),
      h("button", { type: "button", title: "zoom out (−)", onclick: () => lanes.zoom(2) }, "−"),
      h("button", { type: "button", title: "back to the chosen range", onclick: () => refresh(true).catch(() => {}) }, "reset")),
    summary);
  const markersLegend = h("div.legend", {}, Object.entries(MARKERS).filter(([, m]) => !m.minor).map(([kind, m]) =>
    h("span.legend-item", { dataset: { marker: kind } }, h("span.mk", { style: `border-color:${m.color};color:${m.color}` }, m.glyph), m.label)));
  root.append(
    h("div.view-head", {}, h("h1", {}, "Timeline ", h("span.muted", {}, params.service ?? (options.node || "all Services"))),
      legend(["in", "out", "pending", "draining", "gone", "unknown", "mixed"])),
    markersLegend, toggles);
  const body = h("div.timeline-body");
  root.append(body);
  let data = null;
  let windowed = null; // [from, to] chosen by zoom/pan
  const lanes = new Lanes(body, {
    showMinor: () => options.minor,
    onWindow: (from, to) => {
      if (to < Date.now() - 10_000) pause();
      windowed = [from, to];
      const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
      q.set("from", from);
      q.set("to", to);
      history.replaceState(null, "", `#/timeline?${q}`);
      refresh().catch(() => {});
    },
    onPick: (lane) => pick(lane),
  });
  body.append(detail);

  const filtered = () => ({
    ...data,
    lanes: data.lanes.filter((l) => (options.whatIf || !l.what_if) && (options.allHops || l.hop === "lb")),
  });
  const redraw = () => {
    if (!data) return;
    const shown = filtered();
    lanes.set(shown, true);
    const out = shown.lanes.filter((l) => { const b = l.bands[l.bands.length - 1]; return b && !(b.unanimous && family(b.state).startsWith("in")); });
    summary.textContent = `${shown.lanes.length} backends${data.lanes.length > shown.lanes.length ? ` of ${data.lanes.length}` : ""}` +
      ` · ${out.length} not in rotation now · buckets of ${data.bucket_ms / 1000} s`;
  };
  // A live refresh waits at least this many times the last load's duration: a large range of
  // thousands of backends does not keep the collector busy.
  const BACKOFF = 3;
  let lastLoad = { at: 0, took: 0 };
  async function refresh(reset = false, live = false) {
    if (live && Date.now() - lastLoad.at < BACKOFF * lastLoad.took) return;
    if (reset) windowed = null;
    let [from, to] = range();
    if (windowed && isLive()) [from, to] = [Date.now() - (windowed[1] - windowed[0]), Date.now()];
    else if (windowed) [from, to] = windowed;
    const started = Date.now();
    data = await load("lanes", { service: params.service, node: options.node || undefined, from, to });
    lastLoad = { at: started, took: Date.now() - started };
    const first = !lanes.data;
    lanes.view = [windowed ? from : fitStart(data, from, to), to];
    redraw();
    if (first && params.backend) {
      const lane = data.lanes.find((l) => String(l.id) === params.backend);
      if (lane) pick(lane);
    }
  }

  async function pick(lane) {
    if (lane.id === null) return;
    detail.hidden = false;
    detail.replaceChildren(h("p.muted", {}, "loading…"));
    const [from, to] = lanes.view;
    const t = await loadDetail(`backends/${lane.id}/timeline`, { from, to });
    detail.replaceChildren(...backendDetail(t, () => { detail.hidden = true; }));
  }

  await refresh();
  return { refresh: () => refresh(false, true), dispose: () => lanes.dispose() };
}

// Without a chosen window, the view starts shortly before the first backend of the range was
// seen: a young collector's data is not a sliver at the right edge.
function fitStart(data, from, to) {
  const earliest = Math.min(...data.lanes.map((l) => l.first_seen_ms));
  if (!Number.isFinite(earliest) || earliest <= from) return from;
  return Math.max(from, earliest - Math.max(10_000, (to - earliest) * 0.05));
}

// Consecutive changes with the same from, to and reason, as one row: the probers that made it and
// the spread from the first to the last of them.
export function changeGroups(changes) {
  const groups = [];
  for (const c of changes) {
    const last = groups[groups.length - 1];
    if (last && last.from === c.from && last.to === c.to && last.reason === c.reason && !last.probers.includes(c.prober)) {
      last.probers.push(c.prober);
      last.last = c.at_ms;
    } else {
      groups.push({ from: c.from, to: c.to, reason: c.reason, text: c.reason_text, probers: [c.prober], first: c.at_ms, last: c.at_ms });
    }
  }
  return groups;
}

function check(label, on, onChange) {
  return h("label.check", {}, h("input", { type: "checkbox", checked: on, onchange: (e) => onChange(e.target.checked) }), ` ${label}`);
}

function backendDetail(t, close) {
  const b = t.backend;
  const spec = b.spec;
  const groups = changeGroups(t.changes).slice(-MAX_CHANGES).reverse();
  const view = b.view?.states ?? [];
  return [
    h("header", {}, h("h2", {}, b.pod ?? b.node, " → ", b.target),
      h("button.close", { type: "button", onclick: close, "aria-label": "close" }, "✕")),
    h("dl", {},
      h("dt", {}, "Service"), h("dd", {}, shortObject(b.service), b.object !== b.service ? ` via ${b.object}` : ""),
      h("dt", {}, "LB / hop"), h("dd", {}, `${b.lb}, ${b.hop} hop, ${b.source} source`),
      h("dt", {}, "version"), h("dd", {}, b.version, b.what_if ? " (what-if)" : ""),
      h("dt", {}, "probe"), h("dd", {}, `${spec.protocol} ${spec.port} ${spec.path ?? ""}, every ${spec.interval_s}s, timeout ${spec.timeout_s}s, ` +
        `healthy ${spec.healthy_threshold} / unhealthy ${spec.unhealthy_threshold}${spec.matcher ? `, matcher ${spec.matcher}` : ""}`),
      h("dt", {}, "agent"), h("dd", {}, `${b.agent}, ${b.probers} virtual probers`),
      h("dt", {}, "now"), h("dd", {}, view.map((s) => h(`span.chip.${cssClass(s.state).replace(" ", ".")}`, {}, `${styleOf(s.state).glyph} ${s.state} ×${s.probers}`)))),
    h("h3", {}, `State changes (${t.changes.length})`),
    h("table.changes", {},
      h("thead", {}, h("tr", {}, h("th", {}, "when"), h("th", {}, "probers"), h("th", {}, "change"))),
      h("tbody", {}, groups.map((g) => h("tr", {},
        h("td", {}, clockMs(g.first), g.last > g.first ? h("div.muted", {}, `…${clockMs(g.last)} (${duration(g.last - g.first)})`) : null),
        h("td", { title: g.probers.map((p) => `#${p}`).join(" ") }, g.probers.length === 1 ? `#${g.probers[0]}` : `${g.probers.length}`),
        h("td", {}, h("span.nowrap", {}, `${g.from} → `, h(`span.chip.${cssClass(g.to).replace(" ", ".")}`, {}, `${styleOf(g.to).glyph} ${g.to}`)),
          g.reason ? h("div.reason", {}, h("b", {}, g.reason), g.text ? h("span.muted", {}, ` ${g.text}`) : null) : null))))),
    h("h3", {}, `Lifecycle (${t.lifecycle.length})`),
    h("ul.lifecycle", {}, t.lifecycle.slice(-MAX_CHANGES).reverse().map((l) =>
      h("li", { dataset: { kind: l.kind } }, h("b", {}, l.kind), ` ${clockMs(l.at_ms)} `, h("span.muted", {}, l.object)))),
  ];
}
