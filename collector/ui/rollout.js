// Rollout: per pod of a Service, registration (Ready -> in rotation) and drain exposure
// (Terminating -> stopped accepting -> LB stops sending), drawn against the preStop hook and the
// grace period, with the verdict and the settings that would cover the drain (GET
// /api/v1/services, the report's PodDrain and Backend figures).

import { get } from "./api.js";
import { range } from "./app.js";
import { clock, h, secs, shortObject } from "./format.js";
import { OKABE_ITO } from "./palette.js";

const NS = "http://www.w3.org/2000/svg";
const ROW = 34;
const AXIS = 22;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// "sleep 8" -> 8 (seconds); other hooks -> null.
export function preStopSeconds(text) {
  const m = /sleep\s+(\d+(?:\.\d+)?)/.exec(text ?? "");
  return m ? Number(m[1]) : null;
}

export async function renderRollout(root, params) {
  const body = h("div.rollout");
  root.append(h("div.view-head", {}, h("h1", {}, "Rollout ", h("span.muted", {}, params.service ?? "all Services")),
    h("div.legend", {},
      key("bar-prestop", "preStop hook"), key("bar-grace", "grace period"), key("mark-stop", "pod stops accepting"),
      key("mark-lb", "LB stops sending (min–median–max over probers)"), key("bar-exposure", "exposed: LB still sends, pod refuses"),
      key("bar-registration", "Ready → LB in rotation"))),
  body);
  const load = async () => {
    const [from, to] = range();
    const report = await get("services", { service: params.service, from, to });
    const services = report.services.filter((s) => s.pods.length || s.backends.some((b) => b.latencies.registration));
    body.replaceChildren(...(services.length ? services.map((s) => service(s, body.clientWidth || 1100))
      : [h("p.empty", {}, "No rollout in the range: no pod of a Service behind an LB became Ready or went Terminating.")]));
  };
  await load();
  return { refresh: load, dispose() {} };
}

function key(cls, label) {
  return h("span.legend-item", {}, h(`span.key.${cls}`), label);
}

// A pod probed from two sources is one pod: the counts and charts follow the source that speaks
// for the Service (`source`: the emulation closest to the LB); what the real LB did (`observed`)
// is drawn apart, never counted with the emulation.
function service(s, width) {
  const drains = s.pods.filter((p) => p.source === s.source);
  const observed = s.source === "observed" ? [] : s.pods.filter((p) => p.source === "observed");
  const uncovered = drains.filter((p) => p.covered === false);
  const l = s.latencies;
  return h("section.rollout-service", { dataset: { service: s.service } },
    h("h2", {}, s.service, h("span.muted", {}, via(s))),
    h("div.stats", {},
      stat("registration", l.registration), stat("detection", l.detection), stat("drain exposure", l.drain_exposure),
      drains.length ? h("div.stat", { dataset: { uncovered: uncovered.length } },
        uncovered.length ? h("b.bad", {}, `✕ ${uncovered.length} of ${drains.length} pods exposed`)
          : h("b.good", {}, `✓ ${drains.filter((p) => p.covered).length} of ${drains.length} pods covered`)) : null),
    drains.length ? h("h3", {}, "Drain: seconds after Terminating (the delete request)") : null,
    drains.length ? drainChart(drains, width) : null,
    observed.length ? h("h3", {}, "Drain as the real LB did it (its observed probes)") : null,
    observed.length ? drainChart(observed, width) : null,
    registrations(s, width));
}

function via(s) {
  const others = s.objects.filter((o) => o !== `Service/${s.service}`);
  return others.length ? ` via ${others.map((o) => `${o.split("/")[0]} ${shortObject(o)}`).join(", ")}` : "";
}

function stat(label, st) {
  return h("div.stat", {}, h("span.muted", {}, `${label} `),
    st ? h("b", {}, `${secs(st.median_s)}`) : h("b", {}, "–"),
    st ? h("span.muted", {}, ` median, ${secs(st.min_s)}–${secs(st.max_s)}, n=${st.count}`) : null);
}

function scale(max, width) {
  return (s) => (Math.max(0, s) / max) * width;
}

function axis(x, max, width) {
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300].find((s) => max / s <= width / 60) ?? 600;
  const g = svg("g", { class: "axis" });
  for (let s = 0; s <= max; s += step) {
    g.append(svg("line", { x1: x(s), x2: x(s), y1: 0, y2: 5000, class: "gridline" }),
      svg("text", { x: x(s) + 2, y: 14 }, `${s} s`));
  }
  return g;
}

function drainChart(pods, width) {
  const plotW = Math.max(320, Math.min(820, width - 640));
  const max = Math.ceil(Math.max(10, ...pods.flatMap((p) => [p.grace_period_s ?? 0, preStopSeconds(p.pre_stop) ?? 0,
    p.lb_stops_sending_after?.max_s ?? 0, p.stopped_accepting_after_s ?? 0, p.needed_grace_period_s ?? 0])) * 1.08);
  const x = scale(max, plotW);
  const rows = pods.map((p, i) => {
    const y = AXIS + i * ROW;
    const g = svg("g", { class: "pod", "data-pod": p.pod });
    if (p.grace_period_s !== null) {
      g.append(svg("rect", { x: 0, y: y + 4, width: x(p.grace_period_s), height: 24, class: "bar-grace" },
        svg("title", {}, `terminationGracePeriodSeconds ${p.grace_period_s}`)));
    }
    const pre = preStopSeconds(p.pre_stop);
    if (pre !== null) {
      g.append(svg("rect", { x: 0, y: y + 9, width: x(pre), height: 14, class: "bar-prestop" },
        svg("title", {}, `preStop: ${p.pre_stop}`)));
    }
    const stop = p.stopped_accepting_after_s;
    const lb = p.lb_stops_sending_after;
    if (stop !== null && lb && lb.max_s > stop) {
      g.append(svg("rect", { x: x(stop), y: y + 2, width: x(lb.max_s) - x(stop), height: 28, class: "bar-exposure" },
        svg("title", {}, `exposed ${secs(p.exposure?.max_s)} at most: the LB sends new requests after the pod stopped accepting`)));
    }
    if (lb) {
      const cy = y + 16;
      g.append(svg("line", { x1: x(lb.min_s), x2: x(lb.max_s), y1: cy, y2: cy, class: "mark-lb" }),
        svg("line", { x1: x(lb.min_s), x2: x(lb.min_s), y1: cy - 6, y2: cy + 6, class: "mark-lb" }),
        svg("line", { x1: x(lb.max_s), x2: x(lb.max_s), y1: cy - 6, y2: cy + 6, class: "mark-lb" }),
        svg("path", { d: `M${x(lb.median_s)},${cy - 7} l6,7 l-6,7 l-6,-7 z`, class: "mark-lb-median" },
          svg("title", {}, `LB stops sending ${secs(lb.min_s)}–${secs(lb.max_s)} after Terminating (median ${secs(lb.median_s)})`)));
    }
    if (stop !== null) {
      g.append(svg("line", { x1: x(stop), x2: x(stop), y1: y + 1, y2: y + 31, class: "mark-stop" }),
        svg("text", { x: x(stop), y: y + 10, class: "mark-stop-glyph", "text-anchor": "middle" }, "✕",
          svg("title", {}, `stopped accepting ${secs(stop)} after Terminating`)));
    }
    return g;
  });
  const chart = svg("svg", { width: plotW, height: AXIS + pods.length * ROW, class: "chart", role: "img",
    "aria-label": "drain per pod after Terminating" },
  defs(), axis(x, max, plotW), rows);
  const labels = pods.map((p) => h("div.row-label", { style: `height:${ROW}px` },
    h("b", {}, p.pod.split("/")[1] ?? p.pod), h("span.muted", {}, ` ${p.node ?? ""} · ${clock(Date.parse(p.terminating_at))}`)));
  const verdicts = pods.map((p) => drainVerdict(p));
  return h("div.chart-grid", {},
    h("div.labels", { style: `padding-top:${AXIS}px` }, labels), chart,
    h("div.verdicts", { style: `padding-top:${AXIS}px` }, verdicts));
}

function drainVerdict(p) {
  const covered = p.covered;
  const cls = covered === true ? "good" : covered === false ? "bad" : "unknown";
  const text = covered === true ? `✓ covered: the LB stops by ${secs(p.lb_stops_sending_after?.max_s)}`
    : covered === false ? `✕ exposed up to ${secs(p.exposure?.max_s)}`
      : `? ${p.note ?? "a moment is unknown"}`;
  const advice = [];
  if (covered === false && p.needed_pre_stop_s !== null) advice.push(`preStop sleep ≥ ${p.needed_pre_stop_s} s`);
  if (p.grace_short_by_s && p.needed_grace_period_s !== null) advice.push(`grace period ≥ ${p.needed_grace_period_s} s`);
  return h(`div.verdict-row.${cls}`, { style: `height:${ROW}px`, dataset: { pod: p.pod, covered: String(covered) },
    title: `preStop ${p.pre_stop ?? "none"}, grace ${p.grace_period_s ?? "?"} s` },
  h("b", {}, text), advice.length ? h("span.advice", {}, ` — set ${advice.join(", ")}`) : null);
}

function defs() {
  return svg("defs", {},
    svg("pattern", { id: "exposure-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, fill: OKABE_ITO.vermillion, "fill-opacity": 0.35 }),
      svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: OKABE_ITO.vermillion, "stroke-width": 3 })));
}

function registrations(s, width) {
  const rows = s.backends.filter((b) => b.latencies.registration && b.hop === "lb" && !b.what_if &&
    (b.source === s.source || b.source === "observed"));
  if (!rows.length) return null;
  const plotW = Math.max(320, Math.min(820, width - 640));
  const max = Math.ceil(Math.max(5, ...rows.map((b) => b.latencies.registration.max_s)) * 1.1);
  const x = scale(max, plotW);
  const bars = rows.map((b, i) => {
    const r = b.latencies.registration, y = AXIS + i * ROW;
    return svg("g", { class: "registration", "data-pod": b.pod ?? b.node },
      svg("rect", { x: 0, y: y + 9, width: Math.max(2, x(r.median_s)), height: 14, class: "bar-registration" }),
      svg("line", { x1: x(r.min_s), x2: x(r.max_s), y1: y + 16, y2: y + 16, class: "whisker" }),
      svg("line", { x1: x(r.max_s), x2: x(r.max_s), y1: y + 10, y2: y + 22, class: "whisker" }),
      svg("title", {}, `Ready → in rotation: median ${secs(r.median_s)}, ${secs(r.min_s)}–${secs(r.max_s)} over ${r.count} probers`));
  });
  return h("div", {}, h("h3", {}, "Registration: seconds from Ready to LB in rotation, per pod"),
    h("div.chart-grid", {},
      h("div.labels", { style: `padding-top:${AXIS}px` }, rows.map((b) => h("div.row-label", { style: `height:${ROW}px` },
        h("b", {}, (b.pod ?? b.node).split("/").pop()),
        h("span.muted", {}, ` ${b.target} · ${b.node}${b.source === "observed" && s.source !== "observed" ? " · real LB (observed)" : ""}`)))),
      svg("svg", { width: plotW, height: AXIS + rows.length * ROW, class: "chart", role: "img", "aria-label": "registration per pod" },
        axis(x, max, plotW), bars),
      h("div.verdicts", { style: `padding-top:${AXIS}px` }, rows.map((b) => h("div.verdict-row", { style: `height:${ROW}px` },
        `${secs(b.latencies.registration.median_s)} median`, h("span.muted", {}, ` (${b.rotation} rotation now)`))))));
}
