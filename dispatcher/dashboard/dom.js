// Small helpers to build DOM nodes from API data.
//
// Text always goes in as text nodes, never through innerHTML: names, notes and SMS
// replies come from rosters and from the public, and must never be read as markup.

const SVG_NS = "http://www.w3.org/2000/svg"; // an XML namespace name, not a URL to fetch

function fill(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: el("li", {class: "person", "data-person": id}, name, " ", role). */
export function el(tag, attributes = {}, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** An SVG element, for the chart. */
export function svg(tag, attributes = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attributes, children);
}

// The data each section was last drawn from. Polling every second would otherwise
// rebuild unchanged sections, and a rebuilt section loses the keyboard focus and the
// text selection of the duty officer working in it.
const drawnFrom = new WeakMap();

/** Redraw `section` with `draw(data)` only when `data` differs from the last time. */
export function drawIfChanged(section, data, draw) {
  const key = JSON.stringify(data);
  if (drawnFrom.get(section) === key) return;
  drawnFrom.set(section, key);
  section.replaceChildren(...[draw(data)].flat());
}

/** A bar of answered/total in the warning's level colour. */
export function progressBar(answered, total, label) {
  const bar = el("div", {
    class: "bar",
    role: "progressbar",
    "aria-label": label,
    "aria-valuemin": 0,
    "aria-valuemax": total,
    "aria-valuenow": answered,
  });
  const fillPart = el("span", { class: "bar-fill" });
  // Set through the CSSOM: the Content-Security-Policy refuses inline style attributes.
  fillPart.style.width = `${total ? (100 * answered) / total : 0}%`;
  bar.append(fillPart);
  return bar;
}
