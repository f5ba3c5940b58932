// One warning's page: progress, counts per state, the grids on a map, the places, the
// 未叫醒名单, the field tasks (door-knock, gong), who answered, and the answered share
// over time.

import { getAll, getJson } from "./api.js";
import { answerChart } from "./chart.js";
import { drawIfChanged, el, progressBar } from "./dom.js";
import { IN_FORCE, LEVELS, STATES, WARNING_STATUS, dateTime, duration, percent, since } from "./format.js";
import { gridMap } from "./map.js";
import { answeredList, silentList, silentShown } from "./people.js";
import { placeLabel, placeTree, shortGridName } from "./places.js";
import { taskList } from "./tasks.js";

/** Everything the page shows, read in parallel so one poll is one round trip. */
export async function loadWarning(id) {
  const path = `/v1/warnings/${encodeURIComponent(id)}`;
  const [summary, recipients, tasks, map] = await Promise.all([
    getJson(path),
    getAll(`${path}/recipients`, "recipients"),
    getAll(`/v1/tasks?warning=${encodeURIComponent(id)}`, "tasks"),
    getJson(`${path}/map`),
  ]);
  return { summary, recipients, tasks, map };
}

function head({ summary, simulated }) {
  return el(
    "div",
    { class: `warning-head level-${summary.level}` },
    el("a", { class: "back", href: "#/" }, "← 全部预警"),
    el(
      "div",
      { class: "card-head" },
      el("span", { class: "level-badge" }, LEVELS[summary.level] || summary.level),
      summary.drill && el("span", { class: "drill-badge" }, "演练"),
      el("span", { class: `status status-${summary.status}` }, WARNING_STATUS[summary.status] || summary.status),
    ),
    el("h1", {}, summary.event),
    el("p", { class: "card-headline" }, summary.headline),
    el(
      "p",
      { class: "card-meta" },
      el("span", {}, `发布 ${dateTime(summary.sent)}（`, el("span", { "data-since": summary.sent }, since(summary.sent, Date.now())), "）"),
      summary.expires && el("span", {}, `有效至 ${dateTime(summary.expires)}`),
    ),
    simulated && el("p", { class: "simulated", role: "note" }, "模拟模式：部分通道未配置服务商，这些发送没有真正到达任何人。"),
    el("button", { type: "button", class: "secondary", "data-ledger": summary.id }, "下载叫应台账 (CSV)"),
    " ",
    el("button", { type: "button", class: "secondary", "data-evaluation": summary.id }, "下载评估报告 (HTML)"),
  );
}

function taskFacts({ knocks, gongs }) {
  return (
    `；敲门任务：待填报 ${knocks.open}，已填报 ${knocks.done}` +
    (gongs.open + gongs.done ? `；鸣锣吹哨任务：待填报 ${gongs.open}，已填报 ${gongs.done}` : "")
  );
}

function progress({ summary, knocks, gongs }) {
  const taken = summary.time_to_answer;
  const levels = Object.entries(summary.escalations_by_level);
  return [
    el("h2", {}, "叫应进度"),
    el(
      "p",
      { class: "big-count" },
      el("strong", { class: "answered" }, summary.answered),
      " / ",
      el("span", { class: "total" }, summary.recipients),
      " 人已应答 ",
      el("span", { class: "rate" }, percent(summary.answered, summary.recipients)),
    ),
    progressBar(summary.answered, summary.recipients, `已应答 ${summary.answered}/${summary.recipients}`),
    el(
      "ul",
      { class: "state-counts" },
      Object.entries(STATES).map(([state, label]) =>
        el(
          "li",
          { class: `state-chip state-${state}${summary.states[state] ? "" : " zero"}`, "data-state": state },
          el("span", { class: "label" }, label),
          el("strong", { class: "value" }, summary.states[state] ?? 0),
        ),
      ),
    ),
    el(
      "p",
      { class: "facts" },
      taken.answered
        ? `应答用时：中位 ${duration(taken.p50 * 1000)}，90% ${duration(taken.p90 * 1000)}，最长 ${duration(taken.max * 1000)}`
        : "应答用时：暂无",
      levels.length ? `；升级：${levels.map(([level, count]) => `第${level}级 ${count} 人次`).join("，")}` : "",
      taskFacts({ knocks, gongs }),
    ),
  ];
}

function chart({ start, end, total, answeredAt }) {
  return [el("h2", {}, "应答比例"), answerChart({ start, end, total, answeredAt })];
}

function placeRow(node, level) {
  return el(
    "div",
    { class: "place-row" },
    el("span", { class: "place-name" }, level === "grid" ? node.label : placeLabel(node)),
    el("span", { class: "place-count" }, el("strong", {}, node.answered), `/${node.total}`),
    progressBar(node.answered, node.total, `${placeLabel(node)} 已应答 ${node.answered}/${node.total}`),
  );
}

function placeItem(node, village) {
  const attributes = {
    class: `place ${node.kind}${node.answered === node.total ? " all-answered" : ""}`,
    "data-code": node.code,
    "data-answered": node.answered,
    "data-total": node.total,
  };
  if (node.kind === "grid") {
    return el("li", attributes, placeRow({ ...node, label: shortGridName(node, village) }, "grid"));
  }
  return el(
    "li",
    attributes,
    placeRow(node, node.kind),
    node.children.length > 0 &&
      el("ul", { class: `places-${node.kind === "township" ? "villages" : "grids"}` }, node.children.map((c) => placeItem(c, node))),
  );
}

function places(tree) {
  return [
    el("h2", {}, "分镇村网格应答"),
    tree.length ? el("ul", { class: "places" }, tree.map((node) => placeItem(node, null))) : el("p", { class: "empty" }, "没有匹配到网格。"),
  ];
}

function skeleton(view) {
  const panel = (id) => el("section", { id, class: `panel ${id}` });
  view.replaceChildren(
    el(
      "div",
      { class: "warning-page" },
      el("div", { id: "w-head" }),
      el(
        "div",
        { class: "warning-grid" },
        el("div", { class: "column" }, panel("w-progress"), panel("w-map"), panel("w-chart"), panel("w-places")),
        el("div", { class: "column" }, panel("w-silent"), panel("w-tasks"), panel("w-answered")),
      ),
    ),
  );
}

/** Draw (or update) the warning page in `view` from one poll's data. */
export function drawWarning(view, { summary, recipients, tasks, map }) {
  if (view.dataset.warning !== summary.id) {
    skeleton(view);
    view.dataset.warning = summary.id;
  }
  // The level class on the whole page colours every bar and the chart like the list.
  view.querySelector(".warning-page").className = `warning-page level-${summary.level}`;
  const inForce = IN_FORCE.has(summary.status);
  const answeredAt = recipients.filter((r) => r.state === "answered" && r.answered_at).map((r) => r.answered_at);
  const start = Date.parse(summary.sent);
  // A warning in force is drawn up to now; an ended one up to its last answer.
  const end = inForce ? Date.now() : Math.max(start, ...answeredAt.map((iso) => Date.parse(iso)));
  // The head holds the ledger button: redrawn only when what it shows changes, not at
  // every send counted, so a click or keyboard focus on it is not lost.
  const { id, level, drill, status, event, headline, sent, expires } = summary;
  const simulated = Object.keys(summary.sends || {}).some((key) => key.endsWith(":simulated"));
  drawIfChanged(
    view.querySelector("#w-head"),
    { summary: { id, level, drill, status, event, headline, sent, expires }, simulated },
    head,
  );
  // Per kind: a gong reported is no household knocked on.
  const none = { open: 0, done: 0 };
  const byKind = summary.tasks.by_kind;
  const counts = { knocks: byKind.door_knock ?? none, gongs: byKind.gong ?? none };
  drawIfChanged(view.querySelector("#w-progress"), { summary, ...counts }, progress);
  drawIfChanged(view.querySelector("#w-map"), map, gridMap);
  drawIfChanged(view.querySelector("#w-chart"), { start, end: Math.floor(end / 1000) * 1000, total: recipients.length, answeredAt }, chart);
  drawIfChanged(view.querySelector("#w-places"), placeTree(recipients, summary.places), places);
  drawIfChanged(view.querySelector("#w-silent"), { silent: silentShown(recipients), inForce, expires: summary.expires }, (d) =>
    silentList(d.silent, d.inForce, d.expires),
  );
  drawIfChanged(view.querySelector("#w-tasks"), { tasks, inForce }, (d) => taskList(d.tasks, d.inForce));
  drawIfChanged(view.querySelector("#w-answered"), recipients, answeredList);
}

/** The page for a warning id nobody knows. */
export function drawMissing(view, id) {
  delete view.dataset.warning;
  view.replaceChildren(
    el("div", { class: "panel" }, el("h1", {}, "找不到这条预警"), el("p", {}, `编号 ${id} 不存在。`), el("a", { href: "#/" }, "← 全部预警")),
  );
}
