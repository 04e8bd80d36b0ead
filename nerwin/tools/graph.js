"use strict";
// Shows a node's numbers when it is hovered or focused: its value v, v-bar = dJ/dv, its gate's
// local gradient and the rule that gave v-bar. Every string goes in as text, never as markup.
function graphFormat(a) {
  if (a === null || a === undefined) return "–";
  if (typeof a === "number") return (a >= 0 ? "+" : "") + a.toPrecision(5);
  const flat = a.flat(Infinity);
  if (flat.length <= 8) return "[" + flat.map((v) => (v >= 0 ? "+" : "") + v.toPrecision(4)).join(", ") + "]";
  const norm = Math.sqrt(flat.reduce((s, v) => s + v * v, 0));
  const top = flat.map((v, i) => [v, i]).sort((p, q) => Math.abs(q[0]) - Math.abs(p[0])).slice(0, 3);
  return `‖·‖ ${norm.toPrecision(4)}; largest ${top.map(([v, i]) => `[${i}] ${(v >= 0 ? "+" : "") + v.toPrecision(4)}`).join(", ")}`;
}

function showGraph(svg, data, detail) {
  const byName = Object.fromEntries(data.nodes.map((n) => [n.name, n]));
  const show = (g) => {
    const n = byName[g.dataset.node];
    svg.querySelectorAll(".node.sel").forEach((x) => x.classList.remove("sel"));
    g.classList.add("sel");
    const line = (k, v, cls) => { const p = document.createElement("div"); p.className = cls || "";
      p.textContent = `${k}: ${v}`; return p; };
    detail.replaceChildren(line("node", `${n.name} (${n.gate}${n.shape.length ? ", " + n.shape.join("×") : ""})`),
      ...(n.note ? [line("what", n.note)] : []),
      line("v", graphFormat(n.value), "graph-value"), line("v̄", graphFormat(n.grad), "graph-grad"),
      line("rule", n.rule), ...(n.local_note ? [line("local gradient", n.local_note)] : []));
  };
  svg.querySelectorAll(".node").forEach((g) => {
    g.addEventListener("mouseenter", () => show(g));
    g.addEventListener("focus", () => show(g));
    g.addEventListener("click", () => show(g));
  });
}
