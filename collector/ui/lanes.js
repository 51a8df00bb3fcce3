// Swimlanes on one <canvas>: per backend the LB state as bands (stacked by the probers' states
// where they disagree: the spread between the first and the last prober), probe outcome density
// below, lifecycle markers across. Only visible rows are drawn and only their labels exist in
// the DOM, so thousands of backends scroll smoothly. Zoom: ctrl/shift + wheel, double-click,
// the +/− keys; pan: drag or the arrow keys.

import { clock, clockMs, duration, h, sourceWords, tickStep } from "./format.js";
import { OKABE_ITO, cssClass, fillFor, markerStyle, styleOf } from "./palette.js";

export const LABEL_WIDTH = 300;
export const LANE_HEIGHT = 34;
export const HEADER_HEIGHT = 26;
const AXIS_HEIGHT = 24;
const BAND_TOP = 5, BAND_HEIGHT = 15, DENSITY_TOP = 22, DENSITY_HEIGHT = 9;

export class Lanes {
  // onWindow(from, to): the user zoomed or panned; onPick(lane): a lane was clicked.
  constructor(root, { onWindow, onPick, showMinor = () => false }) {
    this.onWindow = onWindow;
    this.onPick = onPick;
    this.showMinor = showMinor;
    this.rows = [];
    this.data = null;
    this.view = [0, 1];
    this.axis = h("canvas.axis", { "aria-hidden": "true" });
    this.canvas = h("canvas.plot", { role: "img", "aria-label": "LB state per backend over time" });
    this.labels = h("div.lane-labels");
    this.spacer = h("div.spacer", {}, this.labels, this.canvas);
    this.scroller = h("div.scroller", { tabindex: "0" }, this.spacer);
    this.tip = h("div.tip", { role: "tooltip", hidden: true });
    this.el = h("div.lanes", {}, h("div.axis-row", {}, h("div.axis-label", {}, "backend"), this.axis), this.scroller, this.tip);
    root.append(this.el);
    this.scroller.addEventListener("scroll", () => this.draw());
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.scroller);
    this.listen();
  }

  dispose() {
    this.resize.disconnect();
  }

  // New data; the view window follows the data's range unless `keepView`.
  set(data, keepView = false) {
    this.data = data;
    if (!keepView) this.view = [data.from.at_ms, data.to.at_ms];
    this.rows = [];
    let y = 0, key = null;
    for (const lane of data.lanes) {
      const k = `${lane.service}|${lane.object}|${lane.port}|${lane.version}|${lane.what_if}|${lane.hop}|${lane.source}`;
      if (k !== key) {
        key = k;
        this.rows.push({ header: lane, y, height: HEADER_HEIGHT });
        y += HEADER_HEIGHT;
      }
      this.rows.push({ lane, y, height: LANE_HEIGHT });
      y += LANE_HEIGHT;
    }
    this.spacer.style.height = `${Math.max(y, 40)}px`;
    this.labels.replaceChildren();
    this.labelCache = new Map();
    this.draw();
  }

  x(t, width) {
    const [a, b] = this.view;
    return ((t - a) / Math.max(1, b - a)) * width;
  }

  visible() {
    const top = this.scroller.scrollTop, bottom = top + this.scroller.clientHeight;
    return this.rows.filter((r) => r.y + r.height > top && r.y < bottom);
  }

  draw() {
    if (!this.data) return;
    const width = Math.max(100, this.scroller.clientWidth - LABEL_WIDTH);
    const height = Math.max(40, Math.min(this.scroller.clientHeight, parseFloat(this.spacer.style.height)));
    const ratio = window.devicePixelRatio || 1;
    for (const [c, w, hh] of [[this.canvas, width, height], [this.axis, width, AXIS_HEIGHT]]) {
      if (c.width !== Math.round(w * ratio) || c.height !== Math.round(hh * ratio)) {
        c.width = Math.round(w * ratio);
        c.height = Math.round(hh * ratio);
        c.style.width = `${w}px`;
        c.style.height = `${hh}px`;
      }
    }
    this.drawAxis(width, ratio);
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const top = this.scroller.scrollTop;
    const rows = this.visible();
    this.drawGrid(ctx, width, height);
    for (const row of rows) {
      const y = row.y - top;
      if (row.header) {
        ctx.fillStyle = "#f2f4f7";
        ctx.fillRect(0, y, width, row.height);
      } else {
        this.drawLane(ctx, row.lane, y, width);
      }
    }
    this.drawGaps(ctx, width, height);
    const now = this.x(Date.now(), width);
    if (now > 0 && now < width) {
      ctx.fillStyle = OKABE_ITO.blue;
      ctx.fillRect(now - 1, 0, 2, height);
    }
    this.placeLabels(rows);
  }

  drawAxis(width, ratio) {
    const ctx = this.axis.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, AXIS_HEIGHT);
    ctx.fillStyle = "#333";
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const [a, b] = this.view;
    const step = tickStep(b - a, width);
    const withDate = b - a > 86_400_000;
    for (let t = Math.ceil(a / step) * step; t <= b; t += step) {
      const x = this.x(t, width);
      ctx.fillRect(x, AXIS_HEIGHT - 6, 1, 6);
      ctx.fillText(clock(t, withDate && t % 86_400_000 === 0), x + 3, AXIS_HEIGHT / 2 - 1);
    }
  }

  drawGrid(ctx, width, height) {
    const [a, b] = this.view;
    const step = tickStep(b - a, width);
    ctx.fillStyle = "#eceef1";
    for (let t = Math.ceil(a / step) * step; t <= b; t += step) ctx.fillRect(this.x(t, width), 0, 1, height);
  }

  drawLane(ctx, lane, y, width) {
    ctx.fillStyle = "#e9ebee";
    ctx.fillRect(0, y + LANE_HEIGHT - 1, width, 1);
    for (const band of lane.bands) {
      const x0 = Math.max(0, this.x(band.from_ms, width));
      const x1 = Math.min(width, this.x(band.to_ms, width));
      if (x1 <= 0 || x0 >= width || x1 - x0 <= 0) continue;
      const w = Math.max(1, x1 - x0);
      if (band.unanimous) {
        ctx.fillStyle = fillFor(ctx, band.state);
        ctx.fillRect(x0, y + BAND_TOP, w, BAND_HEIGHT);
      } else {
        // Disagreeing probers: the band splits by how many are in each state.
        const total = band.states.reduce((s, [, n]) => s + n, 0) || 1;
        let yy = y + BAND_TOP;
        for (const [state, n] of band.states) {
          const hh = (BAND_HEIGHT * n) / total;
          ctx.fillStyle = fillFor(ctx, state);
          ctx.fillRect(x0, yy, w, hh);
          yy += hh;
        }
        ctx.fillStyle = OKABE_ITO.orange;
        ctx.fillRect(x0, y + BAND_TOP - 3, w, 2);
      }
    }
    this.drawDensity(ctx, lane, y, width);
    for (const m of lane.markers) {
      const style = markerStyle(m.kind);
      if (style.minor && !this.showMinor()) continue;
      const x = this.x(m.at_ms, width);
      if (x < -8 || x > width + 8) continue;
      ctx.fillStyle = style.color;
      ctx.fillRect(Math.round(x) - 1, y + 1, 2, LANE_HEIGHT - 3);
      ctx.beginPath();
      ctx.arc(x, y + BAND_TOP + BAND_HEIGHT / 2, 6.5, 0, Math.PI * 2);
      ctx.fillStyle = "#fff";
      ctx.fill();
      ctx.strokeStyle = style.color;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.fillStyle = style.color;
      ctx.font = "bold 10px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(style.glyph, x, y + BAND_TOP + BAND_HEIGHT / 2 + 0.5);
      ctx.textAlign = "start";
    }
  }

  drawDensity(ctx, lane, y, width) {
    const bucket = this.data.bucket_ms, from = this.data.from.at_ms;
    const max = lane.density.reduce((m, d) => Math.max(m, d.successes + d.failures + d.not_counted), 1);
    const base = y + DENSITY_TOP + DENSITY_HEIGHT;
    for (const d of lane.density) {
      const x0 = this.x(from + d.i * bucket, width);
      const x1 = this.x(from + (d.i + 1) * bucket, width);
      if (x1 < 0 || x0 > width) continue;
      const w = Math.max(1, x1 - x0 - 0.5);
      const total = d.successes + d.failures + d.not_counted;
      const hh = Math.max(2, (DENSITY_HEIGHT * total) / max);
      const fail = (hh * d.failures) / (total || 1);
      const skip = (hh * d.not_counted) / (total || 1);
      ctx.fillStyle = "#5b6b7c";
      ctx.fillRect(x0, base - hh, w, hh - fail - skip);
      ctx.fillStyle = OKABE_ITO.vermillion;
      ctx.fillRect(x0, base - fail - skip, w, fail);
      ctx.fillStyle = "#b0b0b0";
      ctx.fillRect(x0, base - skip, w, skip);
    }
  }

  drawGaps(ctx, width, height) {
    for (const g of this.data.gaps) {
      const x0 = this.x(g.from.at_ms, width), x1 = this.x(g.to.at_ms, width);
      if (x1 < 0 || x0 > width) continue;
      ctx.fillStyle = "rgba(120,120,120,.18)";
      ctx.fillRect(x0, 0, Math.max(2, x1 - x0), height);
    }
  }

  placeLabels(rows) {
    const keep = new Set();
    for (const row of rows) {
      let el = this.labelCache.get(row);
      if (!el) {
        el = row.header ? headerLabel(row.header) : laneLabel(row.lane);
        el.style.top = `${row.y}px`;
        el.style.height = `${row.height}px`;
        if (row.lane) {
          el.tabIndex = 0;
          el.setAttribute("role", "button");
          el.addEventListener("click", () => this.onPick?.(row.lane));
          el.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.onPick?.(row.lane); } });
        }
        this.labelCache.set(row, el);
      }
      keep.add(el);
      if (!el.isConnected) this.labels.append(el);
    }
    for (const el of [...this.labels.children]) if (!keep.has(el)) el.remove();
  }

  // The lane and moment under a pointer event.
  pick(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top + this.scroller.scrollTop;
    const row = this.rows.find((rw) => y >= rw.y && y < rw.y + rw.height);
    const [a, b] = this.view;
    return { row, x, t: a + (x / r.width) * (b - a), width: r.width, yIn: row ? y - row.y : 0 };
  }

  zoom(factor, at) {
    const [a, b] = this.view;
    const span = Math.max(10_000, (b - a) * factor);
    const center = at ?? (a + b) / 2;
    const ratio = (center - a) / (b - a || 1);
    this.setView(center - span * ratio, center + span * (1 - ratio));
  }

  pan(fraction) {
    const [a, b] = this.view;
    this.setView(a + (b - a) * fraction, b + (b - a) * fraction);
  }

  setView(a, b) {
    this.view = [Math.round(a), Math.round(b)];
    this.draw();
    clearTimeout(this.windowTimer);
    this.windowTimer = setTimeout(() => this.onWindow?.(...this.view), 350);
  }

  listen() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener("wheel", (e) => {
      if (!e.ctrlKey && !e.shiftKey) return;
      e.preventDefault();
      this.zoom(e.deltaY > 0 ? 1.25 : 0.8, this.pick(e).t);
    }, { passive: false });
    c.addEventListener("dblclick", (e) => this.zoom(e.shiftKey ? 2 : 0.5, this.pick(e).t));
    c.addEventListener("mousedown", (e) => { drag = { x: e.clientX, view: [...this.view] }; });
    window.addEventListener("mouseup", () => { drag = null; });
    c.addEventListener("mousemove", (e) => {
      if (drag && e.buttons === 1) {
        const [a, b] = drag.view;
        const dt = ((drag.x - e.clientX) / c.getBoundingClientRect().width) * (b - a);
        if (Math.abs(drag.x - e.clientX) > 2) {
          this.tip.hidden = true;
          this.setView(a + dt, b + dt);
          return;
        }
      }
      this.hover(e);
    });
    c.addEventListener("mouseleave", () => { this.tip.hidden = true; });
    c.addEventListener("click", (e) => { const p = this.pick(e); if (p.row?.lane && !drag) this.onPick?.(p.row.lane); });
    this.scroller.addEventListener("keydown", (e) => {
      const keys = { "+": () => this.zoom(0.5), "=": () => this.zoom(0.5), "-": () => this.zoom(2),
        ArrowLeft: () => this.pan(-0.25), ArrowRight: () => this.pan(0.25) };
      if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
    });
  }

  hover(e) {
    const p = this.pick(e);
    const lane = p.row?.lane;
    if (!lane) { this.tip.hidden = true; return; }
    const tol = ((this.view[1] - this.view[0]) / p.width) * 7;
    const lines = [h("b", {}, lane.pod ?? lane.node, " → ", lane.target), h("div.muted", {}, clockMs(p.t))];
    const markers = lane.markers.filter((m) => Math.abs(m.at_ms - p.t) <= tol && (!markerStyle(m.kind).minor || this.showMinor()));
    for (const m of markers) {
      const detail = Object.entries(m.detail).map(([k, v]) => `${k}=${v}`).join(" ");
      const ms = markerStyle(m.kind);
      lines.push(h("div", {}, h("span.mk", { style: `border-color:${ms.color};color:${ms.color}` }, ms.glyph), ` ${markerStyle(m.kind).label} ${clockMs(m.at_ms)} `,
        h("span.muted", {}, `${m.object} ${detail}`)));
    }
    const band = lane.bands.find((b) => p.t >= b.from_ms && p.t < b.to_ms);
    if (band) {
      lines.push(h("div", {}, band.states.map(([s, n]) => h(`span.chip.${cssClass(s).replace(" ", ".")}`, {}, `${styleOf(s).glyph} ${s} ×${n} `)),
        h("span.muted", {}, ` ${clock(band.from_ms)}–${clock(band.to_ms)} (${duration(band.to_ms - band.from_ms)})`)));
      for (const [reason, n] of band.reasons) lines.push(h("div", {}, `reason: ${reason} ×${n}`));
      if (!band.unanimous) {
        // The run of disagreeing bands around the pointer: from the first prober's change to the last's.
        const i = lane.bands.indexOf(band);
        let a = i, b = i;
        while (a > 0 && !lane.bands[a - 1].unanimous) a -= 1;
        while (b < lane.bands.length - 1 && !lane.bands[b + 1].unanimous) b += 1;
        const first = lane.bands[a].from_ms, last = lane.bands[b].to_ms;
        lines.push(h("div", { class: "spread" }, `probers disagree for ${duration(last - first)}: first change ${clockMs(first)}, ` +
          `last ${clockMs(last)}`));
      }
    }
    const bucket = this.data.bucket_ms;
    const i = Math.floor((p.t - this.data.from.at_ms) / bucket);
    const d = lane.density.find((x) => x.i === i);
    if (d) {
      lines.push(h("div", {}, `probes ${clock(this.data.from.at_ms + i * bucket)} +${duration(bucket)}: ${d.successes} ok, ${d.failures} failed` +
        `${d.not_counted ? `, ${d.not_counted} not counted` : ""}`));
      lines.push(h("div.muted", {}, d.outcomes.map(([k, n]) => `${k} ×${n}`).join(", "),
        ` · latency p50 ≤ ${d.p50_ms ?? ">30000"} ms, max ≤ ${d.max_ms ?? ">30000"} ms`));
    }
    this.tip.replaceChildren(...lines);
    this.tip.hidden = false;
    const r = this.el.getBoundingClientRect();
    const left = Math.min(e.clientX - r.left + 14, r.width - 380);
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${e.clientY - r.top + 14}px`;
  }
}

function headerLabel(lane) {
  return h("div.lane-header", { dataset: { version: lane.version, whatIf: lane.what_if, source: lane.source } },
    h("b", {}, lane.object.split("/").slice(1).join("/")), ` :${lane.port} · ${lane.lb} · `,
    lane.hop === "lb" ? "LB probe" : `${lane.hop} hop`, " · ",
    h(`span.tag.source-${lane.source}`, { title: sourceWords(lane.source)[1] },
      sourceWords(lane.source)[0]), " · ",
    h(lane.what_if ? "span.tag.tag-whatif" : "span.tag", {}, lane.what_if ? `what-if ${lane.version}` : lane.version),
    h("span.muted", { title: lane.probe }, ` ${lane.probe}`));
}

function laneLabel(lane) {
  const last = lane.bands[lane.bands.length - 1];
  const state = last ? (last.unanimous ? last.state : "mixed") : "unknown";
  const kinds = [...new Set(lane.markers.map((m) => m.kind))];
  return h("div.lane-label", {
    dataset: { backend: lane.id ?? "", state, node: lane.node, pod: lane.pod ?? "", version: lane.version,
      whatIf: lane.what_if, markers: kinds.join(",") },
    title: `${lane.agent}: ${lane.pod ?? lane.node} → ${lane.target}, ${lane.probers} probers`,
  },
  h(`span.badge.${cssClass(state).replace(" ", ".")}`, {}, styleOf(state).glyph),
  h("span.name", {}, lane.pod ? lane.pod.split("/")[1] : lane.node),
  h("span.muted", {}, ` ${lane.target}${lane.pod ? ` · ${lane.node}` : ""}`),
  lane.removed_at_ms ? h("span.tag", {}, "removed") : null);
}
