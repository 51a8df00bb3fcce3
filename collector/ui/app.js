// The page: hash routes (#/overview, #/timeline?service=ns/name, #/rollout?service=ns/name), the
// shared range and Service filter, live refresh by polling, and error display.

import { get } from "./api.js";
import { clock, shortObject } from "./format.js";
import { renderOverview } from "./overview.js";
import { renderTimeline } from "./timeline.js";
import { renderRollout } from "./rollout.js";

// How often a live view polls the collector.
export const LIVE_INTERVAL_MS = 5000;

const VIEWS = { overview: renderOverview, timeline: renderTimeline, rollout: renderRollout };

const state = {
  live: true,
  rangeMs: 3_600_000,
  current: null, // the view's handle: {refresh(), dispose()}
  timer: null,
};

// The route: view name and its parameters.
export function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const name = VIEWS[path] ? path : "overview";
  return { name, params: Object.fromEntries(new URLSearchParams(query)) };
}

// Navigates to a view with parameters (kept in the hash so a link can be shared).
export function go(name, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  location.hash = `#/${name}${q ? `?${q}` : ""}`;
}

// Like go(), and renders even when the address stays the same (no hashchange then).
function navigate(name, params) {
  const before = location.hash;
  go(name, params);
  if (location.hash === before) render();
}

// The range the views should show: [from, to] in unix ms.
export function range() {
  const { params } = route();
  if (params.from && params.to && !state.live) return [Number(params.from), Number(params.to)];
  const to = Date.now();
  return [to - state.rangeMs, to];
}

export function isLive() {
  return state.live;
}

// Stops following now (a zoom or pan into the past).
export function pause() {
  setLive(false);
}

export function showError(message) {
  const el = document.getElementById("error");
  el.hidden = !message;
  el.textContent = message ?? "";
}

export function updated() {
  document.getElementById("updated").textContent = `updated ${clock(Date.now())}`;
}

function setLive(on) {
  state.live = on;
  const button = document.getElementById("live");
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? "● Live" : "❚❚ Paused";
  clearInterval(state.timer);
  if (on) state.timer = setInterval(() => refresh(), LIVE_INTERVAL_MS);
}

async function refresh() {
  if (document.hidden || !state.current) return;
  try {
    await state.current.refresh();
    showError(null);
    updated();
  } catch (e) {
    if (e.name !== "AbortError") showError(e.message);
  }
}

async function render() {
  state.current?.dispose?.();
  const { name, params } = route();
  for (const a of document.querySelectorAll("nav a")) {
    a.toggleAttribute("aria-current", a.dataset.view === name);
  }
  document.getElementById("service-filter").value = params.service ?? "";
  const main = document.getElementById("view");
  main.replaceChildren();
  main.dataset.view = name;
  try {
    state.current = await VIEWS[name](main, params);
    showError(null);
    updated();
  } catch (e) {
    if (e.name !== "AbortError") showError(e.message);
  }
}

async function loadServices() {
  const select = document.getElementById("service-filter");
  try {
    const overview = await get("overview");
    const services = [...new Set(overview.groups.map((g) => shortObject(g.service)))].sort();
    select.replaceChildren(new Option("all Services", ""));
    for (const s of services) select.append(new Option(s, s));
    select.value = route().params.service ?? "";
  } catch (e) {
    showError(e.message);
  }
}

function start() {
  document.getElementById("range").addEventListener("change", (e) => {
    state.rangeMs = Number(e.target.value);
    const { name, params } = route();
    delete params.from;
    delete params.to;
    setLive(true);
    navigate(name, params);
  });
  document.getElementById("live").addEventListener("click", () => {
    setLive(!state.live);
    if (state.live) {
      const { name, params } = route();
      delete params.from;
      delete params.to;
      go(name, params);
    }
  });
  document.getElementById("service-filter").addEventListener("change", (e) => {
    const { name, params } = route();
    delete params.backend;
    go(name, { ...params, service: e.target.value });
  });
  window.addEventListener("hashchange", render);
  document.addEventListener("visibilitychange", () => !document.hidden && refresh());
  setLive(true);
  loadServices();
  render();
}

start();
