// "What a cell sees": the map overlay with every cell's stride box and receptive field, drawn on
// hover in the browser. Python sends the picture and all the boxes once (explorer.heatmap
// .cell_regions); a click commits the cell back to Python as the trigger value "cell".

const SVG = "http://www.w3.org/2000/svg";

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function rect(svg, cls) {
  const r = document.createElementNS(SVG, "rect");
  r.setAttribute("class", cls);
  r.setAttribute("fill", "none");
  svg.appendChild(r);
  return r;
}

function place(r, box) {
  r.setAttribute("x", box[0]);
  r.setAttribute("y", box[1]);
  r.setAttribute("width", Math.max(0, box[2] - box[0]));
  r.setAttribute("height", Math.max(0, box[3] - box[1]));
}

function build(root) {
  const wrap = el("div", "hm-cells", null);
  root.appendChild(wrap);
  const stage = el("div", "stage", wrap);
  const img = el("img", "picture", stage);
  img.alt = "the map over the picture";
  img.draggable = false;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "boxes");
  stage.appendChild(svg);
  const ui = {
    wrap, stage, img, svg,
    grid: (() => {
      const g = document.createElementNS(SVG, "path");
      g.setAttribute("class", "grid");
      g.setAttribute("fill", "none");
      svg.appendChild(g);
      return g;
    })(),
    committed: rect(svg, "committed"),
    field: rect(svg, "field"),
    cell: rect(svg, "cell"),
    info: el("div", "info", wrap),
    data: null, hover: null,
  };
  stage.tabIndex = 0;
  return ui;
}

function fmt(v) {
  return Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001) ? v.toExponential(2) : v.toFixed(4);
}

function show(ui, r, c, hovering) {
  const d = ui.data;
  const i = r * d.w + c;
  const b = d.boxes.slice(8 * i, 8 * i + 8);
  place(ui.cell, b.slice(0, 4));
  place(ui.field, b.slice(4, 8));
  ui.hover = hovering ? [r, c] : null;
  const px = (v) => Math.round(v);
  ui.info.innerHTML = "";
  const head = el("span", "where", ui.info);
  head.textContent = `${hovering ? "Under the mouse" : "Chosen"}: cell (${r}, ${c}), value ${fmt(d.values[i])}`;
  const rest = el("span", "boxes-text", ui.info);
  rest.textContent = ` · white box x ${px(b[0])}–${px(b[2])}, y ${px(b[1])}–${px(b[3])}` +
    ` · dashed receptive field x ${px(b[4])}–${px(b[6])}, y ${px(b[5])}–${px(b[7])}` +
    ` (${d.field[1]}×${d.field[0]} px before clipping)`;
  ui.wrap.dataset.row = r;
  ui.wrap.dataset.col = c;
}

function cellAt(ui, ev) {
  const d = ui.data;
  const box = ui.img.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) return null;
  const x = ((ev.clientX - box.left) / box.width) * d.W;
  const y = ((ev.clientY - box.top) / box.height) * d.H;
  if (x < 0 || y < 0 || x >= d.W || y >= d.H) return null;
  // The same split as cell_box: cell c covers [c·W/w, (c+1)·W/w).
  return [Math.min(d.h - 1, Math.floor((y * d.h) / d.H)), Math.min(d.w - 1, Math.floor((x * d.w) / d.W))];
}

function commit(ui, rc) {
  const i = rc[0] * ui.data.w + rc[1];
  ui.data.committed = rc;
  place(ui.committed, ui.data.boxes.slice(8 * i, 8 * i + 4));
  ui.send({ row: rc[0], col: rc[1] });
}

function wire(ui) {
  ui.stage.addEventListener("pointermove", (ev) => {
    const rc = cellAt(ui, ev);
    if (rc) show(ui, rc[0], rc[1], true);
  });
  ui.stage.addEventListener("pointerleave", () => {
    const [r, c] = ui.data.committed;
    show(ui, r, c, false);
  });
  ui.stage.addEventListener("click", (ev) => {
    const rc = cellAt(ui, ev);
    if (rc) commit(ui, rc);
  });
  ui.stage.addEventListener("keydown", (ev) => {
    const d = ui.data;
    const [r0, c0] = ui.hover || d.committed;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (ev.key === "Enter") {
      commit(ui, [r0, c0]);
      return;
    }
    const m = moves[ev.key];
    if (!m) return;
    ev.preventDefault();
    show(ui, Math.min(d.h - 1, Math.max(0, r0 + m[0])), Math.min(d.w - 1, Math.max(0, c0 + m[1])), true);
  });
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let ui = parentElement.__hmCells;
  if (!ui) {
    ui = parentElement.__hmCells = build(parentElement);
    wire(ui);
  }
  ui.send = (cell) => setTriggerValue("cell", cell);
  if (!data) return;
  const same = ui.data && ui.data.id === data.id;
  const moved = !ui.data || ui.data.committed[0] !== data.committed[0] || ui.data.committed[1] !== data.committed[1];
  if (same && !moved) return;
  ui.data = data;
  if (!same) {
    ui.img.src = data.image;
    ui.svg.setAttribute("viewBox", `0 0 ${data.W} ${data.H}`);
    ui.stage.style.maxWidth = `${data.display}px`;
    // Faint cell borders: every cell answers a hover, so show where they are.
    let path = "";
    for (let c = 1; c < data.w; c++) path += `M${(c * data.W) / data.w} 0V${data.H}`;
    for (let r = 1; r < data.h; r++) path += `M0 ${(r * data.H) / data.h}H${data.W}`;
    ui.grid.setAttribute("d", data.h * data.w <= 4096 ? path : "");
  }
  const [r, c] = data.committed;
  place(ui.committed, data.boxes.slice(8 * (r * data.w + c), 8 * (r * data.w + c) + 4));
  show(ui, r, c, false);
}
