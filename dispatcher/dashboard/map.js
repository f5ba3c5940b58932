// The affected grids on a map of their own, coloured by state: who is answered, who is
// still silent, where somebody is on the way to the doors. No tile server: the service
// places each grid on a plane (`GET /v1/warnings/{id}/map`, the same plane the report
// draws) from the roster's coordinates, or draws its boundary from grids.geojson.

import { el, svg } from "./dom.js";

const RADIUS = 8;

function legend(states) {
  return el(
    "ul",
    { class: "map-legend" },
    states.map((s) =>
      el(
        "li",
        { class: `map-key map-${s.state}`, "data-state": s.state },
        svg("svg", { class: "map-swatch", viewBox: "0 0 12 12", "aria-hidden": "true" }, svg("circle", { cx: 6, cy: 6, r: 5 })),
        `${s.name} `,
        el("strong", {}, s.grids),
      ),
    ),
  );
}

/** A grid's name beside its point; on the right side of the map, to its left (no clipping). */
function labelOf(grid, width) {
  const left = grid.x > width * 0.7;
  const x = left ? grid.x - RADIUS - 3 : grid.x + RADIUS + 3;
  return svg("text", { class: "map-label", x, y: grid.y + 4, "text-anchor": left ? "end" : "start" }, grid.name);
}

function gridMark(grid, names, width) {
  const label = `${grid.name}：${names[grid.state] ?? grid.state}（${grid.answered}/${grid.persons} 人已应答）`;
  return svg(
    "g",
    { class: `map-grid map-${grid.state}`, "data-code": grid.code, "data-state": grid.state },
    svg("title", {}, label),
    grid.shape && svg("path", { class: "map-shape", d: grid.shape }),
    svg("circle", { class: "map-point", cx: grid.x, cy: grid.y, r: RADIUS }),
    labelOf(grid, width),
  );
}

/** The map panel from the map JSON. */
export function gridMap(map) {
  const names = Object.fromEntries(map.states.map((s) => [s.state, s.name]));
  const silent = map.states.filter((s) => s.state === "waiting" || s.state === "escalated").reduce((n, s) => n + s.grids, 0);
  const summary = `受影响网格地图：${map.grids.length + map.unplaced.length} 个网格，${silent} 个仍未应答`;
  const parts = [
    el("h2", {}, "网格地图"),
    legend(map.states),
    map.grids.length
      ? svg(
          "svg",
          { class: "grid-map", viewBox: `0 0 ${map.width} ${map.height}`, role: "img", "aria-label": summary },
          svg("title", {}, summary),
          svg("rect", { class: "map-ground", x: 0, y: 0, width: map.width, height: map.height }),
          map.grids.map((grid) => gridMark(grid, names, map.width)),
        )
      : el("p", { class: "empty" }, "名册没有这些网格的坐标。"),
    map.unplaced.length > 0 &&
      el(
        "p",
        { class: "map-unplaced" },
        "无坐标的网格：",
        map.unplaced.map((grid, index) => [
          index ? "、" : "",
          el("span", { class: `map-${grid.state}`, "data-code": grid.code, "data-state": grid.state }, `${grid.name}（${names[grid.state] ?? grid.state}）`),
        ]),
      ),
  ];
  return parts.filter(Boolean);
}
