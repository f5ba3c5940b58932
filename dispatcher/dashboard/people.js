// The persons of a warning: the 未叫醒名单 (still silent) and who answered, how.

import { el } from "./dom.js";
import { CHANNELS, HOW, STATES, VIA, clockTime, dateTime, until } from "./format.js";

// States still waiting for an answer, as the API's `state=silent` means them.
export const SILENT = new Set(["pending", "notified", "delivered", "unreachable"]);

function gridNames(recipient) {
  return recipient.grids.map((grid) => grid.name || grid.code).join("、");
}

function attemptsText(channels) {
  const byChannel = new Map();
  for (const channel of channels) byChannel.set(channel, (byChannel.get(channel) || 0) + 1);
  const parts = [...byChannel].map(([channel, count]) => `${CHANNELS[channel] || channel} ${count}`);
  return parts.length ? `已呼叫 ${channels.length} 次（${parts.join("，")}）` : "尚未呼叫";
}

function nextStep(recipient, inForce, expires) {
  const at = recipient.next_step_at;
  // After the policy's last step the chain's timer is the warning's expiry, when the chain
  // just ends: no call or escalation is coming, only a person can reach them now.
  if (!at || (expires && Date.parse(at) === Date.parse(expires))) {
    return el(
      "span",
      { class: "next-step none", "data-next-step-at": at || "" },
      inForce ? "策略已无后续步骤，请人工联系" : "预警已结束",
    );
  }
  return el(
    "span",
    { class: "next-step", "data-next-step-at": at },
    "下一步 ",
    el("time", { datetime: at }, clockTime(at)),
    "（",
    el("span", { "data-until": at }, until(at, Date.now())),
    "）",
  );
}

function escalationText(recipient) {
  if (!recipient.escalation) return null;
  const last = recipient.escalations.at(-1);
  const target = last && (last.target_name || last.target_id);
  return el("span", { class: "escalated" }, `已升级 ${recipient.escalation} 级${target ? `：${target}` : ""}`);
}

function silentRow(recipient, inForce, expires) {
  return el(
    "li",
    { class: `person state-${recipient.state}`, "data-person": recipient.person_id },
    el(
      "div",
      { class: "person-who" },
      el("strong", { class: "person-name" }, recipient.name || recipient.person_id),
      recipient.role && el("span", { class: "role" }, recipient.role),
    ),
    el("div", { class: "person-grid" }, gridNames(recipient)),
    el("div", { class: "person-phone" }, recipient.phone || "无电话"),
    el(
      "div",
      { class: "person-state" },
      el("span", { class: `state-chip state-${recipient.state}` }, STATES[recipient.state] || recipient.state),
      escalationText(recipient),
    ),
    el("div", { class: "person-attempts", "data-attempts": recipient.attempts.length }, attemptsText(recipient.attempts)),
    el("div", { class: "person-next" }, nextStep(recipient, inForce, expires)),
    inForce &&
      el("button", { type: "button", class: "answer-button", "data-answer": recipient.person_id }, "登记应答"),
  );
}

// Unreachable first: every channel failed for them, so only a person can reach them now.
function urgency(recipient) {
  return recipient.state === "unreachable" ? 0 : 1;
}

/**
 * What the 未叫醒名单 shows of each silent recipient: the attempts' channels, the last
 * escalation. The list is redrawn when this changes; a delivery report that only moves
 * an attempt's status must not redraw it under the officer's hand.
 */
export function silentShown(recipients) {
  return recipients
    .filter((r) => SILENT.has(r.state))
    .map((r) => ({ ...r, attempts: r.attempts.map((a) => a.channel), escalations: r.escalations.slice(-1) }));
}

/** The 未叫醒名单 from `silentShown`: the unreachable first. */
export function silentList(silent, inForce, expires) {
  silent.sort((a, b) => urgency(a) - urgency(b));
  return [
    el("h2", {}, "未叫醒名单 ", el("span", { class: "count", "data-count": silent.length }, `${silent.length} 人`)),
    silent.length
      ? el("ul", { class: "people silent" }, silent.map((r) => silentRow(r, inForce, expires)))
      : el("p", { class: "empty" }, "全部已应答。"),
  ];
}

function howAnswered(answer) {
  if (!answer) return "已应答";
  const via = VIA[answer.via] || answer.via;
  switch (answer.via) {
    case "operator":
      return `${via}（${HOW[answer.how] || answer.how || "未注明方式"}） · 登记人 ${answer.by}`;
    case "door_knock":
      return `${via} · 填报人 ${answer.by}`;
    case "supervisor":
      return `${via} · ${answer.by_name || answer.by}`;
    case "sms":
      return answer.detail ? `${via}「${answer.detail}」` : via;
    default:
      return via;
  }
}

function answeredRow(recipient) {
  return el(
    "li",
    { class: "person answered", "data-person": recipient.person_id },
    el("strong", { class: "person-name" }, recipient.name || recipient.person_id),
    el("span", { class: "person-grid" }, gridNames(recipient)),
    recipient.answered_at &&
      el("time", { datetime: recipient.answered_at, title: dateTime(recipient.answered_at) }, clockTime(recipient.answered_at)),
    el("span", { class: "answer-how", "data-via": recipient.answer?.via ?? "" }, howAnswered(recipient.answer)),
    recipient.answer?.via === "operator" && recipient.answer.detail && el("span", { class: "answer-note" }, recipient.answer.detail),
  );
}

/** Who answered, newest first, and how: the channel, or who entered it by hand. */
export function answeredList(recipients) {
  const answered = recipients
    .filter((r) => r.state === "answered")
    .sort((a, b) => (b.answered_at || "").localeCompare(a.answered_at || ""));
  return [
    el("h2", {}, "已应答 ", el("span", { class: "count" }, `${answered.length} 人`)),
    answered.length
      ? el("ul", { class: "people answered-list" }, answered.map(answeredRow))
      : el("p", { class: "empty" }, "还没有人应答。"),
  ];
}
