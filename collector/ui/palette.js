// Colours and patterns of the LB states: the Okabe–Ito palette (readable with every common form
// of colour blindness), and a pattern and glyph per state family, so that a state never depends on
// colour alone (and survives a grey-scale screenshot).

export const OKABE_ITO = {
  black: "#000000",
  orange: "#E69F00",
  sky: "#56B4E9",
  green: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  purple: "#CC79A7",
  grey: "#8c8c8c",
};

// family: in (the LB sends new flows), out, pending, draining, gone, unknown.
const FAMILY = {
  up: "in", healthy: "in", "in-service": "in", unavailable: "in-unchecked",
  down: "out", unhealthy: "out", "out-of-service": "out",
  initial: "pending",
  draining: "draining",
  unused: "gone",
  unknown: "unknown", mixed: "mixed",
};

export const STYLE = {
  in: { color: OKABE_ITO.green, pattern: "solid", glyph: "✓", label: "in rotation" },
  "in-unchecked": { color: OKABE_ITO.sky, pattern: "dots", glyph: "○", label: "routed, not checked" },
  out: { color: OKABE_ITO.vermillion, pattern: "hatch", glyph: "✕", label: "out of rotation" },
  pending: { color: OKABE_ITO.yellow, pattern: "dots", glyph: "…", label: "registering" },
  draining: { color: OKABE_ITO.purple, pattern: "lines", glyph: "⇣", label: "draining" },
  gone: { color: "#bdbdbd", pattern: "cross", glyph: "–", label: "not registered" },
  unknown: { color: "#e4e4e4", pattern: "solid", glyph: "?", label: "no state yet" },
  mixed: { color: OKABE_ITO.orange, pattern: "split", glyph: "◐", label: "probers disagree" },
};

export function family(state) {
  return FAMILY[state] ?? "unknown";
}

export function styleOf(state) {
  return STYLE[family(state)];
}

export function colorOf(state) {
  return styleOf(state).color;
}

// Whether text on this state's colour should be dark.
export function darkText(state) {
  return ["pending", "unknown", "gone", "in-unchecked", "mixed"].includes(family(state));
}

const patterns = new Map();

// A canvas pattern for a state (cached per context and state).
export function fillFor(ctx, state) {
  const key = state;
  const cached = patterns.get(ctx)?.get(key);
  if (cached) return cached;
  const style = styleOf(state);
  let fill = style.color;
  if (style.pattern !== "solid" && style.pattern !== "split") {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const t = tile.getContext("2d");
    t.fillStyle = style.color;
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = "rgba(0,0,0,0.45)";
    t.fillStyle = "rgba(0,0,0,0.45)";
    t.lineWidth = 1.5;
    t.beginPath();
    if (style.pattern === "hatch") {
      t.moveTo(0, 8); t.lineTo(8, 0); t.moveTo(-2, 2); t.lineTo(2, -2); t.moveTo(6, 10); t.lineTo(10, 6);
      t.stroke();
    } else if (style.pattern === "lines") {
      t.moveTo(0, 4); t.lineTo(8, 4); t.stroke();
    } else if (style.pattern === "cross") {
      t.moveTo(0, 0); t.lineTo(8, 8); t.moveTo(8, 0); t.lineTo(0, 8); t.stroke();
    } else if (style.pattern === "dots") {
      t.arc(4, 4, 1.3, 0, Math.PI * 2); t.fill();
    }
    fill = ctx.createPattern(tile, "repeat");
  }
  if (!patterns.has(ctx)) patterns.set(ctx, new Map());
  patterns.get(ctx).set(key, fill);
  return fill;
}

// CSS class for HTML chips and swatches (style.css draws the same patterns).
export function cssClass(state) {
  return `st st-${family(state)}`;
}

// The legend: one swatch per family, with its glyph and words.
export function legend(families = ["in", "out", "pending", "draining", "gone", "in-unchecked", "unknown"]) {
  const el = document.createElement("div");
  el.className = "legend";
  el.setAttribute("aria-label", "legend");
  for (const f of families) {
    const s = STYLE[f];
    const item = document.createElement("span");
    item.className = "legend-item";
    const sw = document.createElement("span");
    sw.className = `swatch st st-${f}`;
    sw.textContent = s.glyph;
    item.append(sw, document.createTextNode(s.label));
    el.append(item);
  }
  return el;
}

// Lifecycle markers: glyph and colour per kind; `minor` ones are hidden unless asked for.
export const MARKERS = {
  "pod-created": { glyph: "+", color: OKABE_ITO.grey, label: "Pod created", minor: true },
  "pod-scheduled": { glyph: "→", color: OKABE_ITO.grey, label: "scheduled", minor: true },
  "containers-ready": { glyph: "c", color: OKABE_ITO.sky, label: "containers ready", minor: true },
  "pod-ready": { glyph: "R", color: OKABE_ITO.blue, label: "Ready" },
  "pod-not-ready": { glyph: "r", color: OKABE_ITO.orange, label: "not Ready" },
  "readiness-gate": { glyph: "g", color: OKABE_ITO.sky, label: "readiness gate", minor: true },
  "pod-terminating": { glyph: "T", color: OKABE_ITO.vermillion, label: "Terminating" },
  "pod-deleted": { glyph: "✕", color: OKABE_ITO.black, label: "deleted" },
  "endpoint-conditions": { glyph: "e", color: OKABE_ITO.purple, label: "endpoint conditions", minor: true },
  "endpoint-removed": { glyph: "E", color: OKABE_ITO.purple, label: "endpoint removed" },
  "service-endpoints": { glyph: "s", color: OKABE_ITO.grey, label: "Service endpoints", minor: true },
  "node-cordoned": { glyph: "C", color: OKABE_ITO.black, label: "node cordoned" },
  "node-uncordoned": { glyph: "c", color: OKABE_ITO.grey, label: "node uncordoned" },
  "node-tainted": { glyph: "!", color: OKABE_ITO.black, label: "node tainted" },
  "node-untainted": { glyph: "i", color: OKABE_ITO.grey, label: "node untainted", minor: true },
  "node-deleted": { glyph: "✕", color: OKABE_ITO.black, label: "node deleted" },
  "spec-changed": { glyph: "S", color: OKABE_ITO.blue, label: "probe spec changed" },
};

export function markerStyle(kind) {
  return MARKERS[kind] ?? { glyph: "•", color: OKABE_ITO.grey, label: kind, minor: true };
}
