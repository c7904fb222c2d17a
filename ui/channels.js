// The channel browser: every channel's map arrives once as one greyscale sprite (PNG) with
// per-channel numbers; the browser colours, stretches and blends the shown channel over the picture
// as explorer.heatmap.overlay does (same 256-colour table, same bilinear/nearest sampling), so
// scrolling channels needs no rerun. The channel a person settles on goes back to Python as the
// state value "channel" once they pause.

const COMMIT_MS = 400;

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function loadPixels(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const g = c.getContext("2d", { willReadFrequently: true });
      g.drawImage(img, 0, 0);
      resolve(g.getImageData(0, 0, c.width, c.height));
    };
    img.onerror = () => reject(new Error("image did not load"));
    img.src = src;
  });
}

// F.interpolate's source index and weight per output pixel, along one axis.
function axis(n, out, mode) {
  const i0 = new Int32Array(out), i1 = new Int32Array(out), t = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    if (mode === "nearest") {
      i0[o] = i1[o] = Math.min(n - 1, Math.floor((o * n) / out));
    } else {
      const s = Math.max(0, ((o + 0.5) * n) / out - 0.5);
      const a = Math.min(n - 1, Math.floor(s));
      i0[o] = a;
      i1[o] = Math.min(n - 1, a + 1);
      t[o] = s - a;
    }
  }
  return { i0, i1, t };
}

function build(root) {
  const wrap = el("div", "hm-channels", null);
  root.appendChild(wrap);
  const left = el("div", "left", wrap);
  const canvas = el("canvas", "picture", left);
  const caption = el("div", "caption", left);
  const right = el("div", "right", wrap);
  const title = el("div", "title", right);
  const stats = el("div", "stats", right);
  const slider = el("input", "slider", right);
  slider.type = "range";
  slider.min = 0;
  slider.step = 1;
  slider.setAttribute("aria-label", "channel");
  const hint = el("div", "hint", right);
  hint.textContent = "Scroll over the picture, drag the slider, use the arrow keys, or hover a tile.";
  const map = el("div", "minimap", right);
  const mini = el("canvas", "mini", map);
  const mark = el("div", "mark", map);
  const note = el("div", "hint", right);
  note.textContent = "Each channel is scaled to its own minimum and maximum before colouring.";
  return { wrap, canvas, caption, title, stats, slider, mini, mark, data: null, shown: -1 };
}

function fmt(v, digits) {
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(digits);
}

function draw(ui, ch) {
  const d = ui.data, px = ui.px;
  if (!px || ch < 0 || ch >= d.n) return;
  const { W, H, h, w, cols, alpha } = d;
  const tr = Math.floor(ch / cols) * h, tc = (ch % cols) * w, sw = px.spriteW;
  const sprite = px.sprite, base = px.base, lut = d.lut, out = ui.out.data;
  const { ax, ay } = px;
  for (let y = 0; y < H; y++) {
    const r0 = (tr + ay.i0[y]) * sw, r1 = (tr + ay.i1[y]) * sw, ty = ay.t[y];
    for (let x = 0; x < W; x++) {
      const c0 = tc + ax.i0[x], c1 = tc + ax.i1[x], tx = ax.t[x];
      const top = sprite[4 * (r0 + c0)] * (1 - tx) + sprite[4 * (r0 + c1)] * tx;
      const bot = sprite[4 * (r1 + c0)] * (1 - tx) + sprite[4 * (r1 + c1)] * tx;
      const k = 3 * Math.round(top * (1 - ty) + bot * ty);
      const o = 4 * (y * W + x);
      out[o] = Math.round((1 - alpha) * base[o] + alpha * lut[k]);
      out[o + 1] = Math.round((1 - alpha) * base[o + 1] + alpha * lut[k + 1]);
      out[o + 2] = Math.round((1 - alpha) * base[o + 2] + alpha * lut[k + 2]);
      out[o + 3] = 255;
    }
  }
  ui.ctx.putImageData(ui.out, 0, 0);
  ui.shown = ch;
  ui.slider.value = ch;
  ui.title.textContent = `Channel ${ch}`;
  ui.caption.textContent = `acts[${ch}]`;
  ui.stats.textContent =
    `of ${d.n} · map (${h}, ${w}) · mean activation ${fmt(d.mean[ch], 4)}, ` +
    `min ${fmt(d.min[ch], 4)}, max ${fmt(d.max[ch], 4)} · ` +
    `Grad-CAM weight (mean gradient) ${d.weight[ch].toExponential(3)}`;
  ui.wrap.dataset.channel = ch;
  // The shown channel's tile, outlined on the map of all channels (in % of the sprite).
  const sw100 = 100 / px.spriteW, sh100 = 100 / px.spriteH;
  Object.assign(ui.mark.style, {
    left: `${tc * sw100}%`, top: `${tr * sh100}%`, width: `${w * sw100}%`, height: `${h * sh100}%`,
  });
  // Tests and the benchmark read this: the picture now shows `ch`.
  ui.wrap.dataset.drawn = String(++ui.draws);
}

function drawMini(ui) {
  const d = ui.data, px = ui.px;
  ui.mini.width = px.spriteW;
  ui.mini.height = px.spriteH;
  const g = ui.mini.getContext("2d");
  const img = g.createImageData(px.spriteW, px.spriteH);
  for (let i = 0; i < px.spriteW * px.spriteH; i++) {
    const k = 3 * px.sprite[4 * i];
    img.data.set([d.lut[k], d.lut[k + 1], d.lut[k + 2], 255], 4 * i);
  }
  g.putImageData(img, 0, 0);
}

function pick(ui, ch) {
  const n = ui.data.n;
  ch = Math.max(0, Math.min(n - 1, ch));
  if (ch !== ui.shown) draw(ui, ch);
  clearTimeout(ui.timer);
  ui.timer = setTimeout(() => {
    if (ui.shown !== ui.committed) {
      ui.committed = ui.shown;
      ui.send(ui.shown);
    }
  }, COMMIT_MS);
}

function wire(ui) {
  ui.slider.addEventListener("input", () => pick(ui, Number(ui.slider.value)));
  ui.canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    pick(ui, ui.shown + (ev.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  ui.mini.addEventListener("pointermove", (ev) => {
    const d = ui.data, b = ui.mini.getBoundingClientRect();
    const x = ((ev.clientX - b.left) / b.width) * ui.px.spriteW;
    const y = ((ev.clientY - b.top) / b.height) * ui.px.spriteH;
    const ch = Math.floor(y / d.h) * d.cols + Math.floor(x / d.w);
    if (ch >= 0 && ch < d.n) pick(ui, ch);
  });
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let ui = parentElement.__hmChannels;
  if (!ui) {
    ui = parentElement.__hmChannels = build(parentElement);
    ui.ctx = ui.canvas.getContext("2d");
    ui.draws = 0;
    wire(ui);
  }
  ui.send = (ch) => setStateValue("channel", ch);
  if (!data) return;
  const same = ui.data && ui.data.id === data.id;
  const moved = !ui.data || ui.data.channel !== data.channel;
  if (same && !moved) return;
  const prev = ui.data;
  ui.data = data;
  ui.committed = data.channel;
  if (same && prev) {
    // Python moved the channel (e.g. clamped it): follow, keep the pixels.
    draw(ui, data.channel);
    return;
  }
  ui.slider.max = data.n - 1;
  ui.canvas.width = data.W;
  ui.canvas.height = data.H;
  ui.canvas.style.maxWidth = `${data.display}px`;
  ui.out = ui.ctx.createImageData(data.W, data.H);
  ui.px = null;
  const id = data.id;
  Promise.all([loadPixels(data.sprite), loadPixels(data.image)]).then(([s, b]) => {
    if (ui.data.id !== id) return;
    ui.px = {
      sprite: s.data, spriteW: s.width, spriteH: s.height, base: b.data,
      ax: axis(data.w, data.W, data.interpolation), ay: axis(data.h, data.H, data.interpolation),
    };
    drawMini(ui);
    draw(ui, ui.data.channel);
  });
}
