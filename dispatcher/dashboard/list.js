// The list of warnings: one card each, coloured by level, newest first.

import { drawIfChanged, el, progressBar } from "./dom.js";
import { IN_FORCE, LEVELS, WARNING_STATUS, dateTime, percent, since } from "./format.js";

function card(warning) {
  const label = `已应答 ${warning.answered}/${warning.recipients}`;
  return el(
    "li",
    {},
    el(
      "a",
      {
        class: `warning-card level-${warning.level}`,
        href: `#/w/${encodeURIComponent(warning.id)}`,
        "data-warning": warning.id,
        "data-status": warning.status,
      },
      el(
        "div",
        { class: "card-head" },
        el("span", { class: "level-badge" }, LEVELS[warning.level] || warning.level),
        warning.drill && el("span", { class: "drill-badge" }, "演练"),
        el("span", { class: `status status-${warning.status}` }, WARNING_STATUS[warning.status] || warning.status),
      ),
      el("h2", { class: "card-event" }, warning.event),
      el("p", { class: "card-headline" }, warning.headline),
      progressBar(warning.answered, warning.recipients, label),
      el(
        "p",
        { class: "card-meta" },
        el("span", { class: "count" }, el("strong", { class: "answered" }, warning.answered), "/", el("span", { class: "total" }, warning.recipients), " 已应答"),
        el("span", { class: "rate" }, percent(warning.answered, warning.recipients)),
        el("span", { class: "sent", title: `发布时间 ${dateTime(warning.sent)}` }, "发布于 ", el("span", { "data-since": warning.sent }, since(warning.sent, Date.now()))),
      ),
    ),
  );
}

/**
 * Draw the list into `view`. Warnings in force come first and always show; the ended
 * ones (cancelled, cleared, expired) only when `showEnded` is set.
 */
export function drawList(view, warnings, showEnded) {
  if (!view.querySelector("#warning-list")) {
    view.replaceChildren(
      el(
        "div",
        { class: "list-head" },
        el("h1", {}, "预警叫应进展"),
        el("label", { class: "toggle" }, el("input", { type: "checkbox", id: "show-ended" }), " 显示已结束的预警"),
      ),
      el("ul", { id: "warning-list", class: "warning-list" }),
    );
  }
  view.querySelector("#show-ended").checked = showEnded;
  const shown = warnings.filter((w) => showEnded || IN_FORCE.has(w.status));
  const ordered = [...shown.filter((w) => IN_FORCE.has(w.status)), ...shown.filter((w) => !IN_FORCE.has(w.status))];
  drawIfChanged(view.querySelector("#warning-list"), ordered, (items) =>
    items.length
      ? items.map(card)
      : el("li", { class: "empty" }, showEnded ? "还没有任何预警。" : "当前没有生效中的预警。"),
  );
}
