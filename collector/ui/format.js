// Formatting and small DOM helpers shared by the views.

// h("div.card", {title: "x"}, child, "text") -> an element. Attributes starting with "on" are
// listeners; `dataset` is an object of data-* values.
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className += (el.className ? " " : "") + v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

// 12:03:04 (local time); with the date when `withDate`.
export function clock(ms, withDate = false) {
  const d = new Date(ms);
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}` : t;
}

// 12:03:04.123
export function clockMs(ms) {
  return `${clock(ms)}.${pad(new Date(ms).getMilliseconds(), 3)}`;
}

// 950 ms, 12.3 s, 4 m 05 s, 2 h 10 m
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  const a = Math.abs(ms);
  const sign = ms < 0 ? "−" : "";
  if (a < 1000) return `${sign}${Math.round(a)} ms`;
  if (a < 60_000) return `${sign}${(a / 1000).toFixed(a < 10_000 ? 1 : 0)} s`;
  if (a < 3_600_000) return `${sign}${Math.floor(a / 60_000)} m ${pad(Math.round((a % 60_000) / 1000))} s`;
  return `${sign}${Math.floor(a / 3_600_000)} h ${pad(Math.round((a % 3_600_000) / 60_000))} m`;
}

// Seconds (the report's `_s` fields) as a duration.
export function secs(s) {
  return s === null || s === undefined ? "–" : duration(s * 1000);
}

// "Service/ns/name" -> "ns/name"
export function shortObject(ref) {
  const parts = String(ref ?? "").split("/");
  return parts.length === 3 ? `${parts[1]}/${parts[2]}` : String(ref ?? "");
}

export const LB_NAMES = { "azure-lb": "Azure Load Balancer", alb: "AWS ALB", nlb: "AWS NLB", clb: "AWS CLB" };

export function lbName(lb) {
  return LB_NAMES[lb] ?? lb;
}

// Nice tick spacing for a time axis spanning `span` ms over `px` pixels.
export function tickStep(span, px) {
  const steps = [1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3,
    3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3];
  const want = span / Math.max(1, px / 90);
  return steps.find((s) => s >= want) ?? steps[steps.length - 1];
}

// Where a rule's probes come from, in words: emulated from the node or the LB's address, or
// the real LB's own probes seen arriving (what it really got).
const SOURCE_WORDS = {
  "node": ["from node", "probes sent from the node's own address"],
  "lb-source": ["from LB address", "probes sent from the LB's source address, through the node's packet path"],
  "syn": ["SYN probes", "half-open raw SYN probes"],
  "observed": ["real LB (observed)", "the real LB's probes, seen arriving at the node: what the LB really got"],
};

/** A source's [short, long] words; an unknown source is named as it is. */
export function sourceWords(source) {
  return SOURCE_WORDS[source] ?? [source, source];
}
