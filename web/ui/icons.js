// Small SVG icons drawn from path data here (no emoji: a machine without an emoji font shows
// empty boxes; no icon font or sprite to fetch). Built with DOM calls, like everything else.

const SVG_NS = "http://www.w3.org/2000/svg";
const PATHS = {
  plus: "M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z",
  edit: "M3 17.5V21h3.5L18 9.5 14.5 6zM16 4.5 19.5 8 21 6.5 17.5 3z",
  trash: "M6 8h12l-1 13H7zM4 4h5l1-1h4l1 1h5v2H4z",
  invite: "M9 4a4 4 0 1 1 0 8 4 4 0 0 1 0-8zM1 20c0-4 4-6 8-6s8 2 8 6zM19 7h2v3h3v2h-3v3h-2v-3h-3v-2h3z",
  crown: "M3 8l4.5 4L12 5l4.5 7L21 8l-2 11H5z",
  logout: "M4 3h9v2H6v14h7v2H4zM15 7l5 5-5 5v-3.5H9v-3h6z",
};

/** An icon (decorative: the button around it carries the accessible name). */
export function icon(name, size = 18) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", PATHS[name]);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}
