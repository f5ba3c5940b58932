// The dashboard's entry point: sign-in, the two views (#/ the list, #/w/<id> a warning)
// and the polling that keeps them live.
//
// Short polling, once a second: a change shows within about a second and a half, the
// service needs no extra machinery (an SSE stream per screen through every proxy of a
// county network), and a dropped connection heals by itself at the next poll.

import { ApiError, Unauthorized, download, forgetToken, getJson, saveToken, savedToken } from "./api.js";
import { clockTime, since, until } from "./format.js";
import { drawList } from "./list.js";
import { drawRoster } from "./roster.js";
import { setupDialogs, openAnswerDialog, openReportDialog } from "./dialogs.js";
import { drawMissing, drawWarning, loadWarning } from "./warning.js";

const POLL_MS = 1000;
const LIST_PATH = "/v1/warnings?limit=200";

const $ = (id) => document.getElementById(id);
const app = {
  tokenName: null,
  showEnded: false,
  shown: null, // the data last drawn, for the buttons' look-ups
  route: "", // the hash the shown data belongs to
  timer: null,
  polling: false,
  pollAgain: false,
};

function route() {
  const match = /^#\/w\/([^/]+)$/.exec(location.hash);
  return match ? { view: "warning", id: decodeURIComponent(match[1]) } : { view: "list" };
}

async function refresh() {
  const hash = location.hash;
  const where = route();
  const view = $("view");
  drawRoster($("roster"), await getJson("/v1/roster"));
  if (where.view === "list") {
    const { warnings } = await getJson(LIST_PATH);
    if (hash !== location.hash) return; // the officer moved on while this was loading
    delete view.dataset.warning;
    drawList(view, warnings, app.showEnded);
    app.shown = { warnings };
  } else {
    let data;
    try {
      data = await loadWarning(where.id);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404 && hash === location.hash) {
        drawMissing(view, where.id);
        return;
      }
      throw error;
    }
    if (hash !== location.hash) return;
    drawWarning(view, data);
    app.shown = data;
  }
  app.route = hash;
  tick();
}

// Relative times ("3分12秒前", "9分后") change every second while the data does not:
// they are updated in place, so the sections themselves are only redrawn on a change.
function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll("[data-since]")) node.textContent = since(node.dataset.since, now);
  for (const node of document.querySelectorAll("[data-until]")) node.textContent = until(node.dataset.until, now);
}

function connection(ok, detail) {
  const status = $("connection");
  status.classList.toggle("error", !ok);
  if (ok) {
    status.textContent = `实时更新 · ${clockTime(new Date().toISOString())}`;
    status.dataset.updated = String(Date.now());
  } else {
    status.textContent = `连接中断（${detail}），正在重试…`;
  }
}

/** Poll now; one poll at a time, and the next one a second after this one ends. */
async function poll() {
  if (app.polling) {
    app.pollAgain = true;
    return;
  }
  app.polling = true;
  clearTimeout(app.timer);
  try {
    if (!document.hidden) {
      await refresh();
      connection(true);
    }
  } catch (error) {
    if (error instanceof Unauthorized) {
      app.polling = false;
      signOut("令牌已失效或被撤销，请重新登录。");
      return;
    }
    // A fetch that never reached the service rejects with a TypeError ("Failed to fetch").
    connection(false, error instanceof ApiError ? `服务返回 ${error.status}：${error.message}` : "无法连接服务");
  }
  app.polling = false;
  if (!app.tokenName) return;
  if (app.pollAgain) {
    app.pollAgain = false;
    poll();
  } else {
    app.timer = setTimeout(poll, POLL_MS);
  }
}

function showApp(tokenName) {
  app.tokenName = tokenName;
  $("who-name").textContent = tokenName;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("view").hidden = false;
  poll();
}

function signOut(message = "") {
  forgetToken();
  clearTimeout(app.timer);
  app.tokenName = null;
  app.shown = null;
  $("who").hidden = true;
  $("view").hidden = true;
  $("view").replaceChildren();
  delete $("view").dataset.warning;
  $("roster").hidden = true;
  $("roster").replaceChildren();
  $("connection").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("token").value = "";
  $("token").focus();
}

/** Check a token with the API (`/v1/me` names it) before keeping it. */
async function signIn(token) {
  const error = $("sign-in-error");
  error.textContent = "正在验证…";
  try {
    const me = await getJson("/v1/me", token);
    saveToken(token);
    error.textContent = "";
    showApp(me.token_name);
  } catch (failure) {
    forgetToken();
    $("sign-in").hidden = false;
    error.textContent =
      failure instanceof Unauthorized
        ? "令牌无效：服务不认识这个令牌。请核对后重新粘贴（注意不要多复制空格）。"
        : `无法连接服务：${failure.message}`;
  }
}

let toastTimer = null;
function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), 5000);
}

// One listener for the redrawn parts: their buttons come and go with every change.
function onClick(event) {
  const target = event.target.closest("button[data-answer], button[data-report], button[data-ledger], button[data-evaluation]");
  if (!target || !app.shown || app.route !== location.hash) return;
  const { summary, recipients, tasks } = app.shown;
  if (target.dataset.answer) {
    const recipient = recipients.find((r) => r.person_id === target.dataset.answer);
    if (recipient) openAnswerDialog(summary.id, recipient, app.tokenName);
  } else if (target.dataset.report) {
    const task = tasks.find((t) => String(t.id) === target.dataset.report);
    if (task) openReportDialog(task, app.tokenName);
  } else if (target.dataset.ledger) {
    const id = target.dataset.ledger;
    download(`/v1/warnings/${encodeURIComponent(id)}/ledger.csv`, `叫应台账-${id}.csv`).catch((error) =>
      error instanceof Unauthorized ? signOut("令牌已失效或被撤销，请重新登录。") : toast(`下载失败：${error.message}`),
    );
  } else if (target.dataset.evaluation) {
    const id = target.dataset.evaluation;
    download(`/v1/warnings/${encodeURIComponent(id)}/report`, `叫应评估报告-${id}.html`).catch((error) =>
      error instanceof Unauthorized ? signOut("令牌已失效或被撤销，请重新登录。") : toast(`下载失败：${error.message}`),
    );
  }
}

function start() {
  setupDialogs({
    saved: (message) => {
      toast(message);
      poll(); // show the change now, not at the next tick
    },
    unauthorized: () => signOut("令牌已失效或被撤销，请重新登录。"),
  });
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) signIn(token);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("toast").addEventListener("click", () => ($("toast").hidden = true));
  $("view").addEventListener("click", onClick);
  $("view").addEventListener("change", (event) => {
    if (event.target.id === "show-ended") {
      app.showEnded = event.target.checked;
      poll();
    }
  });
  window.addEventListener("hashchange", () => {
    window.scrollTo(0, 0);
    if (app.tokenName) poll();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && app.tokenName) poll();
  });
  setInterval(tick, 1000);
  const token = savedToken();
  if (token) signIn(token);
  else signOut();
}

start();
