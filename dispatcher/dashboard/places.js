// Township → village → grid, with answered/total at each level.
//
// The hierarchy comes from the grid codes themselves (administrative codes: 9 digits
// name a township, 12 a village, and a grid code extends its village's code), so it
// needs no tree from the roster. Names: grids from the recipients, townships and
// villages from the warning's `places`.

const TOWNSHIP_DIGITS = 9;
const VILLAGE_DIGITS = 12;
const KINDS = ["township", "village", "grid"];

function child(children, code, kind, name) {
  if (!children.has(code)) {
    children.set(code, { code, kind, name, persons: new Set(), answered: new Set(), children: new Map() });
  }
  const node = children.get(code);
  node.name = node.name || name;
  return node;
}

function settle(children) {
  return [...children.values()]
    .sort((a, b) => a.code.localeCompare(b.code))
    .map((node) => ({
      code: node.code,
      kind: node.kind,
      name: node.name,
      total: node.persons.size,
      answered: node.answered.size,
      children: settle(node.children),
    }));
}

/**
 * The places of a warning's recipients as a tree, code order at each level.
 *
 * A person counts once at each place, however many of its grids they answer for: a
 * village's total is its persons, not the sum of its grids' totals.
 */
export function placeTree(recipients, places) {
  const names = new Map(places.map((place) => [place.code, place.name]));
  const townships = new Map();
  for (const recipient of recipients) {
    for (const grid of recipient.grids) {
      // A short grid code (a whole village or township answered for as one grid) is
      // its own village or township: the path drops the levels it repeats.
      const path = [...new Set([grid.code.slice(0, TOWNSHIP_DIGITS), grid.code.slice(0, VILLAGE_DIGITS), grid.code])];
      let level = townships;
      path.forEach((code, depth) => {
        const kind = depth === path.length - 1 ? "grid" : KINDS[depth];
        const node = child(level, code, kind, code === grid.code ? grid.name : names.get(code));
        node.persons.add(recipient.person_id);
        if (recipient.state === "answered") node.answered.add(recipient.person_id);
        level = node.children;
      });
    }
  }
  return settle(townships);
}

/** How to call a place that nobody named: its kind and code. */
export function placeLabel(node) {
  if (node.name) return node.name;
  return `${{ township: "乡镇", village: "村", grid: "网格" }[node.kind]} ${node.code}`;
}

/** A grid's name without its village's ("新田村第一网格" in 新田村 → "第一网格"). */
export function shortGridName(grid, village) {
  const name = placeLabel(grid);
  const prefix = village && village.name;
  return prefix && name.startsWith(prefix) && name.length > prefix.length ? name.slice(prefix.length) : name;
}
