// The convolution stepper, drawn in the browser from data Python computed once (see
// explorer.convolve.stepper_data): hover, arrow keys, ◀ ▶ and Play move the window without a
// rerun; only a click (or Enter) sends the position back to Python, as the trigger "commit".
//
// Streamlit calls the default export again whenever the data changes, on the same parentElement,
// so everything lives in one state object per parentElement and the DOM is built once.

const STATES = new WeakMap();

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let s = STATES.get(parentElement);
  if (!s) {
    s = build(parentElement);
    STATES.set(parentElement, s);
  }
  s.commit = (row, col) => setTriggerValue("commit", { row, col });
  update(s, data);
  return () => {
    stop(s);
    s.resize.disconnect();
    STATES.delete(parentElement);
  };
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function build(parent) {
  const root = parent.querySelector(".cs") || el("div", "cs", parent);
  root.tabIndex = 0;
  root.setAttribute("role", "application");
  root.setAttribute(
    "aria-label",
    "Convolution stepper: hover or use the arrow keys to move the window, click or Enter to commit",
  );
  const bar = el("div", "cs-bar", root);
  const prev = el("button", "cs-prev", bar, "◀ prev");
  const next = el("button", "cs-next", bar, "next ▶");
  const play = el("button", "cs-play", bar, "▶ Play");
  const pos = el("span", "cs-pos", bar);
  el("span", "cs-hint", bar, "hover to move · click to commit · ← → ↑ ↓ keys");
  const pics = el("div", "cs-pictures", root);
  const inFig = el("figure", "cs-figure", pics);
  const inCanvas = el("canvas", "cs-input", inFig);
  const inCap = el("figcaption", "", inFig, "input (orange = padding)");
  const outFig = el("figure", "cs-figure", pics);
  const outCanvas = el("canvas", "cs-output", outFig);
  el("figcaption", "", outFig, "output");
  const sum = el("div", "cs-sum", root);
  const eq = el("div", "cs-equation", root);
  const s = {
    root, prev, next, play, pos, inCanvas, outCanvas, inCap, sum, eq,
    d: null, version: null, committed: null, row: 0, col: 0,
    playing: false, raf: 0, last: null, speed: 20, frames: 0,
  };
  prev.onclick = () => move(s, -1);
  next.onclick = () => move(s, 1);
  play.onclick = () => (s.playing ? stop(s) : start(s));
  for (const [canvas, onInput] of [[inCanvas, true], [outCanvas, false]]) {
    canvas.addEventListener("pointermove", (e) => {
      const p = cellAt(s, canvas, e, onInput);
      if (p) goTo(s, p[0], p[1]);
    });
    canvas.addEventListener("click", (e) => {
      const p = cellAt(s, canvas, e, onInput);
      if (!p) return;
      goTo(s, p[0], p[1]);
      s.commit(p[0], p[1]);
    });
  }
  root.addEventListener("keydown", (e) => onKey(s, e));
  s.resize = new ResizeObserver(() => draw(s));
  s.resize.observe(root);
  return s;
}

function update(s, d) {
  const fresh = d.version !== s.version;
  s.d = d;
  s.version = d.version;
  s.speed = Math.max(1, d.speed || 20);
  s.root.classList.toggle("cs-presenter", !!d.presenter);
  const committed = `${d.row},${d.col}`;
  // Python's position wins only when it changed (a click, a slider, a link): otherwise the
  // window stays where the hand or Play left it, also under a new kernel or padding.
  if (committed !== s.committed) {
    s.committed = committed;
    s.row = d.row;
    s.col = d.col;
  }
  if (fresh) {
    s.row = Math.min(Math.max(s.row, 0), d.oh - 1);
    s.col = Math.min(Math.max(s.col, 0), d.ow - 1);
  }
  s.inCap.textContent = d.pad ? `input (orange = ${d.mode} padding)` : "input (no padding)";
  draw(s);
}

// --- moving the window -------------------------------------------------------------------------

function goTo(s, row, col) {
  const d = s.d;
  row = Math.min(Math.max(row, 0), d.oh - 1);
  col = Math.min(Math.max(col, 0), d.ow - 1);
  if (row === s.row && col === s.col) return;
  s.row = row;
  s.col = col;
  draw(s);
}

function move(s, delta) {
  // Reading order, wrapping at the ends, like the old prev/next buttons.
  const n = s.d.oh * s.d.ow;
  const i = (((s.row * s.d.ow + s.col + delta) % n) + n) % n;
  goTo(s, Math.floor(i / s.d.ow), i % s.d.ow);
}

function onKey(s, e) {
  // Enter and Space on a focused button are that button's own click.
  if ((e.key === "Enter" || e.key === " ") && e.target.tagName === "BUTTON") return;
  const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  if (e.key in moves) {
    const [dr, dc] = moves[e.key];
    if (dc) move(s, dc);
    else goTo(s, s.row + dr, s.col);
  } else if (e.key === "Enter") {
    s.commit(s.row, s.col);
  } else if (e.key === " ") {
    s.playing ? stop(s) : start(s);
  } else {
    return;
  }
  e.preventDefault();
}

function cellAt(s, canvas, e, onInput) {
  const d = s.d;
  const r = canvas.getBoundingClientRect();
  const cell = canvas.cellSize;
  if (!cell) return null;
  const i = Math.floor((e.clientY - r.top) / cell);
  const j = Math.floor((e.clientX - r.left) / cell);
  if (!onInput) return i >= 0 && j >= 0 && i < d.oh && j < d.ow ? [i, j] : null;
  // The window centred on padded cell (i, j) starts at i − 1 = row · stride.
  const hp = d.h + 2 * d.pad;
  const wp = d.w + 2 * d.pad;
  if (i < 0 || j < 0 || i >= hp || j >= wp) return null;
  const ci = Math.floor(d.kh / 2);
  const cj = Math.floor(d.kw / 2);
  return [Math.round((i - ci) / d.stride), Math.round((j - cj) / d.stride)];
}

// --- Play: one output pixel per frame, paced by requestAnimationFrame --------------------------

function start(s) {
  if (s.row * s.d.ow + s.col >= s.d.oh * s.d.ow - 1) goTo(s, 0, 0); // at the end: from the top
  s.playing = true;
  s.last = null;
  s.play.textContent = "❚❚ Pause";
  s.root.dataset.playing = "1";
  s.raf = requestAnimationFrame((t) => tick(s, t));
}

function stop(s) {
  s.playing = false;
  cancelAnimationFrame(s.raf);
  s.play.textContent = "▶ Play";
  s.root.dataset.playing = "0";
}

function tick(s, t) {
  if (!s.playing) return;
  const interval = 1000 / s.speed;
  if (s.last === null) s.last = t - interval;
  if (t - s.last >= interval) {
    // Never more than one pixel per frame, and no burst to catch up after a stall.
    s.last = t - s.last > 2 * interval ? t : s.last + interval;
    const last = s.row * s.d.ow + s.col >= s.d.oh * s.d.ow - 1;
    if (last) {
      stop(s);
      return;
    }
    move(s, 1);
    s.frames += 1;
    s.root.dataset.frames = String(s.frames);
  }
  s.raf = requestAnimationFrame((t2) => tick(s, t2));
}

// --- drawing ------------------------------------------------------------------------------------

function grey(v) {
  const g = Math.round(Math.min(Math.max(v, 0), 1) * 255);
  return [g, g, g];
}

function sizeCanvas(canvas, rows, cols, maxW, maxH) {
  const cell = Math.max(2, Math.floor(Math.min(maxW / cols, maxH / rows)));
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = `${cell * cols}px`;
  canvas.style.height = `${cell * rows}px`;
  canvas.width = Math.round(cell * cols * dpr);
  canvas.height = Math.round(cell * rows * dpr);
  canvas.cellSize = cell;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [ctx, cell];
}

function label(ctx, text, x, y, cell, rgb, font) {
  const light = rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114 > 140;
  ctx.fillStyle = light ? "#111" : "#fff";
  // As large as the cell allows (digits are ~0.6 em wide), capped by `font`.
  const px = Math.floor((cell * 0.92) / Math.max(1.8, text.length * 0.6));
  if (px < 7) return; // unreadable: the colour alone says it
  ctx.font = `${Math.min(font, px)}px sans-serif`;
  ctx.fillText(text, x + cell / 2, y + cell / 2 + 0.5);
}

function draw(s) {
  const d = s.d;
  if (!d) return;
  const presenter = s.root.classList.contains("cs-presenter");
  // Each picture fills its figure (side by side, or stacked when the page is narrow).
  const maxH = presenter ? 380 : 420;
  drawInput(s, d, Math.max(60, s.inCanvas.parentElement.clientWidth), maxH, presenter);
  drawOutput(s, d, Math.max(60, s.outCanvas.parentElement.clientWidth), maxH, presenter);
  drawEquation(s, d);
  s.root.dataset.row = String(s.row);
  s.root.dataset.col = String(s.col);
}

function drawInput(s, d, maxW, maxH, presenter) {
  const hp = d.h + 2 * d.pad;
  const wp = d.w + 2 * d.pad;
  const [ctx, cell] = sizeCanvas(s.inCanvas, hp, wp, maxW, maxH);
  const plane = hp * wp;
  const text = d.c === 1 && cell >= 14;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let i = 0; i < hp; i++) {
    for (let j = 0; j < wp; j++) {
      const k = i * wp + j;
      const rgb =
        d.c === 3
          ? [0, 1, 2].map((c) => grey(d.values[d.grid[c * plane + k]] / d.scale)[0])
          : grey(d.values[d.grid[k]] / d.scale);
      ctx.fillStyle = `rgb(${rgb.join(",")})`;
      ctx.fillRect(j * cell, i * cell, cell, cell);
      const padding = i < d.pad || j < d.pad || i >= d.pad + d.h || j >= d.pad + d.w;
      if (padding) {
        ctx.fillStyle = "rgba(255,165,0,0.45)";
        ctx.fillRect(j * cell, i * cell, cell, cell);
      }
      if (text) {
        label(ctx, d.value_cells[d.grid[k]], j * cell, i * cell, cell, rgb, presenter ? 26 : 12);
      }
    }
  }
  if (d.pad) {
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = "royalblue";
    ctx.lineWidth = 2;
    ctx.strokeRect(d.pad * cell, d.pad * cell, d.w * cell, d.h * cell);
    ctx.setLineDash([]);
  }
  ctx.strokeStyle = "red";
  ctx.lineWidth = 3;
  ctx.strokeRect(s.col * d.stride * cell + 1.5, s.row * d.stride * cell + 1.5,
    d.kw * cell - 3, d.kh * cell - 3);
}

function drawOutput(s, d, maxW, maxH, presenter) {
  const [ctx, cell] = sizeCanvas(s.outCanvas, d.oh, d.ow, maxW, maxH);
  const upto = s.row * d.ow + s.col;
  const text = cell >= 14;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillStyle = "#f3f3f6";
  ctx.fillRect(0, 0, d.ow * cell, d.oh * cell);
  // Filled in reading order up to the window, like the sweep that computes it.
  for (let k = 0; k <= upto; k++) {
    const i = Math.floor(k / d.ow);
    const j = k % d.ow;
    const rgb = grey((d.out[k] - d.lo) / (d.hi - d.lo));
    ctx.fillStyle = `rgb(${rgb.join(",")})`;
    ctx.fillRect(j * cell, i * cell, cell, cell);
    if (text) label(ctx, d.out_cells[k], j * cell, i * cell, cell, rgb, presenter ? 26 : 12);
  }
  ctx.strokeStyle = "red";
  ctx.lineWidth = 3;
  ctx.strokeRect(s.col * cell + 1.5, s.row * cell + 1.5, cell - 3, cell - 3);
}

function matrix(cells, kw, cls) {
  const m = el("span", `cs-matrix ${cls || ""}`);
  m.style.gridTemplateColumns = `repeat(${kw}, auto)`;
  for (const [text, padding] of cells) el("span", padding ? "cs-pad" : "", m, text);
  return m;
}

function terms(parent, texts, total) {
  texts.forEach((t, n) => {
    const neg = t.startsWith("-");
    const sign = n === 0 ? (neg ? "−" : "") : neg ? "− " : "+ ";
    el("span", "cs-term", parent, sign + (neg ? t.slice(1) : t));
  });
  el("span", "cs-term cs-total", parent, `= ${total}`);
}

function drawEquation(s, d) {
  const nv = d.values.length;
  const wp = d.w + 2 * d.pad;
  const plane = (d.h + 2 * d.pad) * wp;
  const top = s.row * d.stride;
  const left = s.col * d.stride;
  const k = s.row * d.ow + s.col;
  const names = d.c === 3 ? ["R", "G", "B"] : [""];
  s.pos.textContent = `row ${s.row}, column ${s.col}`;
  s.sum.replaceChildren();
  el("span", "cs-sum-label", s.sum, `Output at row ${s.row}, column ${s.col}: `);
  el("span", "cs-value", s.sum, d.out_text[k]);
  s.eq.replaceChildren();
  const sums = [];
  names.forEach((name, c) => {
    const win = [];
    const ker = [];
    const prod = [];
    for (let i = 0; i < d.kh; i++) {
      for (let j = 0; j < d.kw; j++) {
        const pi = top + i;
        const pj = left + j;
        const v = d.grid[c * plane + pi * wp + pj];
        const padding = pi < d.pad || pj < d.pad || pi >= d.pad + d.h || pj >= d.pad + d.w;
        const kc = c * d.kh * d.kw + i * d.kw + j;
        win.push([d.value_text[v], padding]);
        ker.push([d.kernel_text[kc], false]);
        prod.push([d.products[kc * nv + v], padding]);
      }
    }
    const total = d.c > 1 ? d.channel_text[c * d.oh * d.ow + k] : d.out_text[k];
    sums.push(total);
    const row = el("div", "cs-eq-row", s.eq);
    if (name) el("span", "cs-channel", row, `${name}:`);
    row.append(matrix(win, d.kw, "cs-window"));
    el("span", "cs-op", row, "⊙");
    row.append(matrix(ker, d.kw, "cs-kernel"));
    el("span", "cs-op", row, "=");
    row.append(matrix(prod, d.kw, "cs-products"));
    terms(el("div", "cs-terms", s.eq), prod.map((p) => p[0]), total);
  });
  if (d.c > 1) terms(el("div", "cs-terms cs-channels", s.eq), sums, d.out_text[k]);
}
