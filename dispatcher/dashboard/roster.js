// The roster in force (名册), on every view: which persons jiaoying calls tonight. A
// reload that was refused is shown loudly, problems and all: the officer who expected a
// change must see that the old roster is still the one called.

import { drawIfChanged, el } from "./dom.js";
import { dateTime } from "./format.js";

const HASH_SHOWN = 8; // enough to tell two versions apart and to read out on the phone

function inForce(roster) {
  return el(
    "p",
    { class: "roster-in-force", "data-digest": roster.digest },
    el("strong", {}, "名册"),
    " ",
    el("code", { class: "roster-hash", title: `内容哈希 ${roster.digest}` }, roster.digest.slice(0, HASH_SHOWN)),
    el("span", { class: "roster-counts" }, ` · ${roster.grids} 个网格 · ${roster.persons} 人 · ${roster.zones} 个广播区`),
    el("span", { class: "roster-loaded", title: roster.source }, ` · ${dateTime(roster.loaded_at)} 载入`),
  );
}

function refused(attempt, roster) {
  return el(
    "div",
    { class: "roster-refused", role: "alert", "data-problems": attempt.problems.length },
    el(
      "p",
      {},
      el("strong", {}, "名册重新载入失败"),
      `（${dateTime(attempt.at)}，${attempt.by}）：${attempt.problems.length} 个问题，仍使用名册 `,
      el("code", {}, roster.digest.slice(0, HASH_SHOWN)),
      "。请改正后重新载入。",
    ),
    el("ul", { class: "roster-problems" }, attempt.problems.map((problem) => el("li", {}, problem))),
  );
}

/** Draw the roster's state (`GET /v1/roster`) into `node`. */
export function drawRoster(node, state) {
  node.hidden = false;
  drawIfChanged(node, state, ({ in_force: roster, last_reload: attempt }) => [
    inForce(roster),
    attempt && attempt.outcome === "refused" && refused(attempt, roster),
  ]);
}
