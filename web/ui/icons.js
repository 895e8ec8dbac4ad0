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
  smile: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16zM8.5 8a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm7 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zM7 13.5h10a5 5 0 0 1-10 0z",
  pin: "M15 2l7 7-2 1-4 4 1 5-2 1-4-4-6 6-1-1 6-6-4-4 1-2 5 1 4-4z",
  upload: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-1 5h2v4h4v2h-4v4h-2v-4H7v-2h4z",
  file: "M6 2h8l6 6v14H6zm8 1.5V9h5z",
  thread: "M5 3h2v9a3 3 0 0 0 3 3h9v2h-9a5 5 0 0 1-5-5zm11 9 4 4-4 4z",
  close: "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z",
};
// Shapes with holes (a ring, a hole in a disc): drawn even-odd so the inner path cuts out.
const EVEN_ODD = new Set(["smile", "upload", "file"]);

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
  if (EVEN_ODD.has(name)) path.setAttribute("fill-rule", "evenodd");
  svg.append(path);
  return svg;
}
