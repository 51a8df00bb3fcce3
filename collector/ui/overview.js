// Overview: Services grouped by LB, each rule's backends as the LB sees them now, what-if
// versions side by side with their verdict, the agents' health and the report's findings.

import { get } from "./api.js";
import { go } from "./app.js";
import { clock, duration, h, lbName, shortObject, sourceWords } from "./format.js";
import { cssClass, legend, styleOf } from "./palette.js";

// Members shown as chips; more are drawn as a grid of cells.
export const MAX_CHIPS = 48;
// Agents listed one by one; more fold away (a summary line says how many are ok).
export const MAX_AGENT_CHIPS = 16;
const CELL = 10;
// How often the overview asks for the report's findings (an analysis of the whole range).
export const FINDINGS_EVERY_MS = 30_000;

export async function renderOverview(root, params) {
  const body = h("div.overview");
  root.append(h("div.view-head", {}, h("h1", {}, "Overview"), legend()), body);
  let findings = new Map();
  let findingsAt = 0;
  let findingsOf = "";
  const draw = (overview, agents) => {
    body.replaceChildren(agentsStrip(agents, overview), ...sections(overview, findings, params));
  };
  const load = async () => {
    const [overview, agents] = await Promise.all([
      get("overview", { service: params.service }),
      get("agents"),
    ]);
    draw(overview, agents);
    // The report's findings need the history: they arrive after the current view, and are
    // asked for again when a count changed, else every FINDINGS_EVERY_MS.
    const signature = JSON.stringify(overview.groups.map((g) => g.versions.map((v) => [v.version, v.counts])));
    if (signature === findingsOf && Date.now() - findingsAt < FINDINGS_EVERY_MS) return;
    findingsAt = Date.now();
    findingsOf = signature;
    get("services", { service: params.service })
      .then((s) => {
        findings = new Map(s.services.map((x) => [x.service, x]));
        draw(overview, agents);
      })
      .catch(() => { findingsAt = 0; });
  };
  await load();
  return { refresh: load, dispose() {} };
}

function agentsStrip(agents, overview) {
  const list = agents.agents;
  const by = (health) => list.filter((a) => a.health === health).length;
  const chips = list.map((a) =>
    h(`span.agent.agent-${a.health}`, {
      dataset: { agent: a.id, health: a.health },
      title: `${a.id}: ${a.health}${a.last_batch_age_ms !== null ? `, last batch ${duration(a.last_batch_age_ms)} ago` : ""}` +
        `${a.info ? `, ${a.info.cloud ?? "?"} ${a.info.k8s_version}${a.info.what_if_versions.length ? `, what-if ${a.info.what_if_versions.join(", ")}` : ""}` : ""}`,
    }, a.health === "ok" ? "●" : a.health === "stale" ? "◐" : "○", " ", a.info?.node ?? a.id));
  return h("section.strip", { "aria-label": "agents" },
    h("div.stat", {}, h("b", {}, overview.backends), " backends",
      overview.removed ? h("span.muted", {}, ` (+${overview.removed} removed)`) : null),
    h("div.stat", {}, h("b", {}, list.length), " agents: ",
      `${by("ok")} ok`, by("stale") ? `, ${by("stale")} stale` : "", by("disconnected") ? `, ${by("disconnected")} disconnected` : ""),
    list.length <= MAX_AGENT_CHIPS ? h("div.agents", {}, chips)
      : h("details.agents-more", {}, h("summary", {}, by("ok") === list.length ? "show all" : "show all (problems first)"),
        h("div.agents", {}, chips.sort((a, b) => (a.dataset.health === "ok") - (b.dataset.health === "ok")))));
}

function sections(overview, findings, params) {
  if (!overview.groups.length) {
    return [h("p.empty", {}, params.service
      ? `No backends of ${params.service} yet.`
      : "No backends yet: agents report them once they discover a LoadBalancer Service or Ingress.")];
  }
  const byLb = new Map();
  for (const g of overview.groups) {
    const services = byLb.get(g.lb) ?? new Map();
    byLb.set(g.lb, services);
    const list = services.get(g.service) ?? [];
    services.set(g.service, list);
    list.push(g);
  }
  return [...byLb].map(([lb, services]) =>
    h("section.lb", { dataset: { lb } },
      h("h2", {}, lbName(lb), h("span.muted", {}, ` · ${services.size} Service${services.size === 1 ? "" : "s"}`)),
      h("div.cards", {}, [...services].map(([service, groups]) => card(service, groups, findings.get(shortObject(service)))))));
}

function card(service, groups, report) {
  const name = shortObject(service);
  const objects = [...new Set(groups.map((g) => g.object))].filter((o) => o !== service);
  const worst = groups.flatMap((g) => g.versions).some((v) => v.verdict === "fails" && !v.what_if)
    ? "fails" : groups.flatMap((g) => g.versions).some((v) => v.verdict !== "ok") ? "partial" : "ok";
  return h(`article.card.card-${worst}`, { dataset: { service: name } },
    h("header", {},
      h("h3", {}, name),
      objects.length ? h("span.muted", {}, ` via ${objects.map(shortObject).join(", ")}`) : null,
      h("span.links", {},
        h("a", { href: `#/timeline?service=${encodeURIComponent(name)}` }, "Timeline →"),
        h("a", { href: `#/rollout?service=${encodeURIComponent(name)}` }, "Rollout →"))),
    report ? findingsList(report) : null,
    groups.filter((g) => g.hop === "lb").map((g) => rule(g, name)),
    hops(groups.filter((g) => g.hop !== "lb")));
}

// The plain checks along the path (pod, ClusterIP, NodePort), one line per port.
const HOP_ORDER = ["pod", "cluster-ip", "node-port"];

function hops(groups) {
  if (!groups.length) return null;
  const ports = [...new Set(groups.map((g) => g.port))];
  const sources = new Set(groups.map((g) => g.source));
  const from = (g) => sources.size > 1 ? ` ${sourceWords(g.source)[0]}` : "";
  return h("div.hops", {}, h("span.muted", {}, "path checks "), ports.map((port) =>
    h("span.hop-port", {}, h("b", {}, `:${port} `), groups
      .filter((g) => g.port === port)
      .sort((a, b) => HOP_ORDER.indexOf(a.hop) - HOP_ORDER.indexOf(b.hop))
      .flatMap((g) => g.versions.filter((v) => !v.what_if).map((v) => {
        const inside = v.members.filter((m) => m.rotation === "in").length;
        return h(`span.hop.verdict-${v.verdict}`, { dataset: { hop: g.hop, verdict: v.verdict, source: g.source },
          title: `${g.hop} check (${v.probe}, ${sourceWords(g.source)[1]}): ${inside} of ${v.members.length} pass` },
        `${verdictIcon(v.verdict)} ${g.hop}${from(g)} ${inside}/${v.members.length}`);
      })))));
}

function findingsList(report) {
  if (!report.findings.length) return null;
  const icon = { error: "✕", warning: "!", info: "i" };
  return h("ul.findings", {}, report.findings.map((f) =>
    h(`li.finding.sev-${f.severity}`, { dataset: { kind: f.kind, severity: f.severity } },
      h("span.sev", { "aria-label": f.severity }, icon[f.severity] ?? "•"),
      h("span", {}, f.message, f.advice ? h("span.advice", {}, ` — ${f.advice}`) : null))));
}

function sourceTag(source) {
  const [text, title] = sourceWords(source);
  return h(`span.tag.source.source-${source}`, { dataset: { source }, title }, text);
}

function rule(g, service) {
  const current = g.versions.find((v) => !v.what_if);
  return h("div.rule", { dataset: { port: g.port, hop: g.hop, source: g.source } },
    h("div.rule-head", {},
      h("span.port", {}, `:${g.port}`),
      h("span.tag", {}, g.hop === "lb" ? "LB probe" : `${g.hop} hop`),
      h("span.tag", {}, `${g.target_kind} targets`),
      sourceTag(g.source)),
    h("div.versions", {}, g.versions.map((v) => column(v, current, service))));
}

function verdictText(v, current) {
  const n = v.members.length;
  const inside = v.members.filter((m) => m.rotation === "in").length;
  if (v.what_if) {
    const now = current ? ` (${current.version} ${current.verdict === "ok" ? "passes" : current.verdict})` : "";
    if (v.verdict === "fails") return `${v.version} would fail: all ${n} out${now}`;
    if (v.verdict === "partial") return `${v.version} would take ${n - inside} of ${n} out${now}`;
    if (v.verdict === "ok") return `${v.version} would pass`;
    return `${v.version}: no verdict yet`;
  }
  return `${inside}/${n} in rotation`;
}

function column(v, current, service) {
  const counts = Object.entries(v.counts).sort((a, b) => b[1] - a[1]);
  return h(`div.version.verdict-${v.verdict}`, { dataset: { version: v.version, whatIf: v.what_if, verdict: v.verdict, sharedWith: v.shared_with ?? "" } },
    h("div.version-head", {},
      h("b", {}, v.version), h("span.muted", {}, v.what_if ? " what-if" : " current"),
      v.shared_with ? h("span.tag.shared", { title: `${v.version} derives the same probe as ${v.shared_with}: probed once, these are ${v.shared_with}'s backends` },
        ` same probe as ${v.shared_with}`) : null),
    h("div.verdict", { role: "status" }, verdictIcon(v.verdict), " ", verdictText(v, current)),
    h("div.probe.muted", { title: "the probe this version derives" }, v.probe),
    h("div.counts", {}, counts.map(([state, n]) =>
      h(`span.${cssClass(state).replace(" ", ".")}.count`, { title: styleOf(state).label }, `${styleOf(state).glyph} ${state} ${n}`))),
    v.members.length <= MAX_CHIPS ? chips(v.members, service) : grid(v.members, service));
}

function verdictIcon(verdict) {
  return { ok: "✓", fails: "✕", partial: "◐", unknown: "?" }[verdict] ?? "?";
}

function memberTitle(m) {
  const states = m.states.map(([s, n]) => `${s} ×${n}`).join(", ") || "no state yet";
  const reasons = m.reasons.map(([r, n]) => `${r} ×${n}`).join(", ");
  return `${m.pod ?? m.node} → ${m.target} on ${m.node}: ${states}${reasons ? `; ${reasons}` : ""}` +
    `${m.since_ms ? `; since ${clock(m.since_ms)}` : ""}`;
}

function chips(members, service) {
  return h("div.members", {}, members.map((m) =>
    h(`a.member.${cssClass(m.state).replace(" ", ".")}`, {
      href: `#/timeline?service=${encodeURIComponent(service)}&backend=${m.id}`,
      title: memberTitle(m),
      dataset: { state: m.state, rotation: m.rotation, node: m.node, pod: m.pod ?? "", backend: m.id },
    }, h("span.glyph", {}, styleOf(m.state).glyph), " ", m.pod ? shortObject(`Pod/${m.pod}`).split("/")[1] : m.node)));
}

// Thousands of members: one canvas cell each, a tooltip from the pointer's cell.
function grid(members, service) {
  const columns = 48;
  const canvas = h("canvas.grid", { role: "img", "aria-label": `${members.length} backends` });
  const rows = Math.ceil(members.length / columns);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = columns * CELL * ratio;
  canvas.height = rows * CELL * ratio;
  canvas.style.width = `${columns * CELL}px`;
  canvas.style.height = `${rows * CELL}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  members.forEach((m, i) => {
    ctx.fillStyle = styleOf(m.state).color;
    ctx.fillRect((i % columns) * CELL, Math.floor(i / columns) * CELL, CELL - 1, CELL - 1);
    if (m.rotation !== "in") {
      ctx.fillStyle = "rgba(0,0,0,.55)";
      ctx.fillRect((i % columns) * CELL + 3, Math.floor(i / columns) * CELL + 3, 3, 3);
    }
  });
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return members[Math.floor((e.clientY - r.top) / CELL) * columns + Math.floor((e.clientX - r.left) / CELL)];
  };
  canvas.addEventListener("mousemove", (e) => { canvas.title = at(e) ? memberTitle(at(e)) : ""; });
  canvas.addEventListener("click", (e) => at(e) && go("timeline", { service, backend: at(e).id }));
  return canvas;
}
