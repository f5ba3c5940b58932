// Field tasks: door-knocks (敲门入户), who was sent to which grids, whose households are
// still to knock on; the gong (鸣锣吹哨) where loudspeakers failed; the reports that came back.

import { el } from "./dom.js";
import { dateTime } from "./format.js";

function report(task) {
  const r = task.report || {};
  const done =
    task.kind === "gong"
      ? `已鸣锣吹哨 ${r.sounded_at ? dateTime(r.sounded_at) : ""}`
      : `到户 ${r.households_reached ?? 0} 户，转移 ${r.people_moved ?? 0} 人`;
  return el(
    "div",
    { class: "task-report" },
    el("p", {}, done),
    r.note && el("p", { class: "task-note" }, r.note),
    el("p", { class: "task-by" }, `填报人 ${r.reported_by || "—"}`, task.reported_at ? ` · ${dateTime(task.reported_at)}` : ""),
  );
}

function taskRow(task, inForce) {
  const open = task.status === "open";
  const gong = task.kind === "gong";
  const assignee = task.assignee;
  return el(
    "li",
    { class: `task task-${task.status}`, "data-task": task.id, "data-status": task.status },
    el(
      "div",
      { class: "task-head" },
      el("strong", {}, `${gong ? "鸣锣吹哨任务" : "敲门任务"} #${task.id}`),
      el("span", { class: `task-status ${open ? "open" : "done"}` }, open ? "待填报" : "已填报"),
      el("time", { datetime: task.created_at }, dateTime(task.created_at)),
    ),
    el(
      "p",
      { class: "task-assignee" },
      "负责人：",
      assignee ? `${assignee.name || assignee.person_id}${assignee.role ? `（${assignee.role}）` : ""} ${assignee.phone || ""}` : "无人可派",
    ),
    // Why a gong: the loudspeakers it stands in for went silent.
    task.zone && el("p", { class: "task-zone" }, "播发失败：", task.zone.name || task.zone.zone_id),
    el("p", { class: "task-grids" }, "网格：", task.grids.map((g) => g.name || g.code).join("、")),
    open &&
      task.silent_persons.length > 0 &&
      el("p", { class: "task-silent" }, "仍未应答：", task.silent_persons.map((p) => p.name || p.person_id).join("、")),
    open
      ? inForce &&
        el("button", { type: "button", class: "report-button", "data-report": task.id }, gong ? "填报鸣锣结果" : "填报敲门结果")
      : report(task),
  );
}

/** The warning's field tasks (door-knocks, gongs), open ones first (the API's order). */
export function taskList(tasks, inForce) {
  const open = tasks.filter((t) => t.status === "open").length;
  const title = tasks.some((t) => t.kind === "gong") ? "敲门入户 · 鸣锣吹哨 " : "敲门入户 ";
  return [
    el("h2", {}, title, el("span", { class: "count" }, `待填报 ${open} · 已填报 ${tasks.length - open}`)),
    tasks.length
      ? el("ul", { class: "tasks" }, tasks.map((t) => taskRow(t, inForce)))
      : el("p", { class: "empty" }, "尚无敲门任务。"),
  ];
}
