// The two things a duty officer records by hand: a person's answer heard off-line, and
// the report of a field task (a door-knock's households, a gong's time). Both dialogs
// live in index.html, outside the parts that polling redraws, so a refresh never wipes
// what is being typed.

import { ApiError, Unauthorized, postJson } from "./api.js";
import { HOW } from "./format.js";

let hooks = { saved: () => {}, unauthorized: () => {} };
let answering = null; // {warningId, recipient} while the answer dialog is open
let reporting = null; // {task} while the report dialog is open

const answerDialog = () => document.getElementById("answer-dialog");
const reportDialog = () => document.getElementById("report-dialog");

function showError(id, error) {
  document.getElementById(id).textContent =
    error instanceof ApiError ? `未能保存：${error.message}` : `未能保存：无法连接服务（${error.message}）`;
}

async function submit(dialog, errorId, send) {
  const button = dialog.querySelector("button[type=submit]");
  button.disabled = true; // a double click must not post twice
  try {
    const message = await send();
    dialog.close();
    hooks.saved(message);
  } catch (error) {
    if (error instanceof Unauthorized) {
      dialog.close();
      hooks.unauthorized();
    } else {
      showError(errorId, error);
    }
  } finally {
    button.disabled = false;
  }
}

async function sendAnswer() {
  const form = document.getElementById("answer-form");
  const how = new FormData(form).get("how");
  const note = form.elements.note.value.trim();
  const { warningId, recipient } = answering;
  const { status, body } = await postJson(`/v1/warnings/${encodeURIComponent(warningId)}/answers`, {
    person_id: recipient.person_id,
    how,
    ...(note ? { note } : {}),
  });
  const name = body.name || recipient.person_id;
  // 200: somebody (or a callback) answered first; the API recorded nothing new.
  return status === 201
    ? `已登记 ${name} 的应答（${HOW[how]}，登记人 ${body.answer?.by ?? ""}）`
    : `${name} 已经应答过，未重复登记`;
}

// Beijing has kept UTC+8 all year since 1991: a fixed offset turns the wall time the
// field shows into an instant whatever the browser's own time zone.
const BEIJING_MS = 8 * 3600 * 1000;

/** "2026-07-20T21:30", Beijing time, as a datetime-local field holds it. */
function beijingLocal(ms) {
  return new Date(ms + BEIJING_MS).toISOString().slice(0, 16);
}

async function sendGongReport() {
  const form = document.getElementById("report-form");
  const local = form.elements.sounded_at.value; // "YYYY-MM-DDTHH:MM", Beijing time
  const { body } = await postJson(`/v1/tasks/${reporting.task.id}/report`, {
    sounded_at: `${local.length === 16 ? `${local}:00` : local}+08:00`,
    note: form.elements.note.value.trim() || "已鸣锣吹哨",
  });
  return body.already_reported
    ? `鸣锣吹哨任务 #${reporting.task.id} 已有报告，以第一次填报为准`
    : `已提交鸣锣吹哨任务 #${reporting.task.id} 的报告`;
}

async function sendReport() {
  if (reporting.task.kind === "gong") return sendGongReport();
  const form = document.getElementById("report-form");
  const households = form.elements.households_reached.valueAsNumber;
  const moved = form.elements.people_moved.valueAsNumber;
  const { body } = await postJson(`/v1/tasks/${reporting.task.id}/report`, {
    households_reached: households,
    people_moved: Number.isNaN(moved) ? 0 : moved,
    note: form.elements.note.value.trim(),
  });
  return body.already_reported
    ? `敲门任务 #${reporting.task.id} 已有报告，以第一次填报为准`
    : `已提交敲门任务 #${reporting.task.id} 的报告，${body.closed} 人记为已应答`;
}

/** Wire the dialogs once: `saved(message)` after a save, `unauthorized()` on a 401. */
export function setupDialogs({ saved, unauthorized }) {
  hooks = { saved, unauthorized };
  for (const dialog of [answerDialog(), reportDialog()]) {
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  }
  document.getElementById("answer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit(answerDialog(), "answer-error", sendAnswer);
  });
  document.getElementById("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit(reportDialog(), "report-error", sendReport);
  });
}

/** Ask how `recipient` answered; `tokenName` is shown as who enters it. */
export function openAnswerDialog(warningId, recipient, tokenName) {
  answering = { warningId, recipient };
  const form = document.getElementById("answer-form");
  form.reset();
  const where = recipient.grids.map((g) => g.name || g.code).join("、");
  document.getElementById("answer-person").textContent =
    `${recipient.name || recipient.person_id}（${recipient.role || "网格员"}，${where}）${recipient.phone || ""}`;
  answerDialog().querySelector(".by-name").textContent = tokenName;
  document.getElementById("answer-error").textContent = "";
  answerDialog().showModal();
}

/** Ask for the report of field `task` (door-knock or gong); `tokenName` is shown as who
 * files it. */
export function openReportDialog(task, tokenName) {
  reporting = { task };
  document.getElementById("report-form").reset();
  // A gong report is a time and a note: it answers for nobody, so no counts are asked.
  const gong = task.kind === "gong";
  document.getElementById("report-title").textContent = gong ? "填报鸣锣吹哨结果" : "填报敲门入户结果";
  document.getElementById("report-counts").hidden = gong;
  document.getElementById("report-households").required = !gong;
  document.getElementById("report-gong").hidden = !gong;
  const soundedAt = document.getElementById("report-sounded-at");
  soundedAt.required = gong;
  soundedAt.value = beijingLocal(Date.now()); // most reports come in as the gong sounds
  soundedAt.max = beijingLocal(Date.now() + 60 * 1000);
  const grids = task.grids.map((g) => g.name || g.code).join("、");
  const silent = task.silent_persons.map((p) => p.name || p.person_id).join("、");
  document.getElementById("report-task").textContent = gong
    ? `鸣锣吹哨任务 #${task.id}：${grids}`
    : `敲门任务 #${task.id}：${grids}` + (silent ? `。提交后记为已应答：${silent}` : "");
  reportDialog().querySelector(".by-name").textContent = tokenName;
  document.getElementById("report-error").textContent = "";
  reportDialog().showModal();
}
