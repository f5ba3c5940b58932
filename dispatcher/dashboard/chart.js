// The answered share over time, drawn as inline SVG: a step line that rises at each
// answer. No charting library: the page must work on a closed network, and one line
// on two axes does not need one.

import { svg } from "./dom.js";
import { clockTime } from "./format.js";

const WIDTH = 640;
const HEIGHT = 220;
const LEFT = 58;
const RIGHT = 14;
const TOP = 14;
const BOTTOM = 30;

/**
 * The chart from `start` to `end` (ms since the epoch) of `answeredAt` (ISO times) out
 * of `total` recipients.
 */
export function answerChart({ start, end, total, answeredAt }) {
  const times = answeredAt.map((iso) => Date.parse(iso)).sort((a, b) => a - b);
  // An answer can arrive a moment before `sent` (a clock skew of the producer) or after
  // the last poll's `now`: widen the span rather than draw outside the axes.
  const from = Math.min(start, times[0] ?? start);
  const to = Math.max(end, times.at(-1) ?? end, from + 1000);
  const x = (t) => LEFT + ((t - from) / (to - from)) * (WIDTH - LEFT - RIGHT);
  const y = (share) => TOP + (1 - share) * (HEIGHT - TOP - BOTTOM);
  const share = (count) => (total ? count / total : 0);

  const points = [[x(from), y(0)]];
  times.forEach((t, index) => {
    points.push([x(t), y(share(index))], [x(t), y(share(index + 1))]);
  });
  points.push([x(to), y(share(times.length))]);
  const line = points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
  const area = `${line} ${x(to).toFixed(1)},${y(0)} ${x(from).toFixed(1)},${y(0)}`;

  const grid = [0, 0.5, 1].map((level) => [
    svg("line", { class: "chart-grid", x1: LEFT, x2: WIDTH - RIGHT, y1: y(level), y2: y(level) }),
    svg("text", { class: "chart-label", x: LEFT - 6, y: y(level) + 4, "text-anchor": "end" }, `${level * 100}%`),
  ]);
  const axis = [
    svg("text", { class: "chart-label", x: LEFT, y: HEIGHT - 8, "text-anchor": "start" }, clockTime(new Date(from).toISOString())),
    svg("text", { class: "chart-label", x: WIDTH - RIGHT, y: HEIGHT - 8, "text-anchor": "end" }, clockTime(new Date(to).toISOString())),
  ];
  const summary = `应答比例随时间变化：已应答 ${times.length}/${total}`;
  return svg(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": summary,
      "data-answered": times.length,
      "data-total": total,
    },
    svg("title", {}, summary),
    grid,
    svg("polygon", { class: "chart-area", points: area }),
    svg("polyline", { class: "chart-line", points: line }),
    axis,
  );
}
