// A bar chart in SVG, small enough to read: one bar per value, a y-axis maximum
// and first/last labels. Built with createElementNS, so nothing is parsed as markup.

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function barChart(values, { title, firstLabel = "", lastLabel = "" }) {
  const width = 600, height = 200, left = 40, bottom = 22, top = 10;
  const max = Math.max(1, ...values);
  const plotHeight = height - top - bottom;
  const step = (width - left) / Math.max(1, values.length);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": title });
  svg.append(el("title", {}, title));
  svg.append(el("line", { class: "axis", x1: left, y1: top, x2: left, y2: top + plotHeight }));
  svg.append(el("line", { class: "axis", x1: left, y1: top + plotHeight, x2: width,
    y2: top + plotHeight }));
  svg.append(el("text", { x: left - 4, y: top + 10, "text-anchor": "end" }, String(max)));
  svg.append(el("text", { x: left - 4, y: top + plotHeight, "text-anchor": "end" }, "0"));
  values.forEach((value, index) => {
    const barHeight = (value / max) * plotHeight;
    const bar = el("rect", { class: "bar-rect", x: left + index * step + 1,
      y: top + plotHeight - barHeight, width: Math.max(1, step - 2), height: barHeight });
    bar.append(el("title", {}, String(value)));
    svg.append(bar);
  });
  svg.append(el("text", { x: left, y: height - 6 }, firstLabel));
  svg.append(el("text", { x: width, y: height - 6, "text-anchor": "end" }, lastLabel));
  return svg;
}
