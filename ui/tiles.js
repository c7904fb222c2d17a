// Tile grid: images with a one-line caption; hovering or focusing a tile shows all its values
// (drawn in the browser, no rerun); a click or Enter sends the tile's index back to Python.

function valuesPanel(tile) {
  const panel = document.createElement("div");
  panel.className = "values";
  panel.setAttribute("role", "tooltip");
  const title = document.createElement("div");
  title.className = "title";
  title.textContent = tile.title;
  const table = document.createElement("table");
  for (const [name, value, changed] of tile.rows) {
    const tr = document.createElement("tr");
    if (!changed) tr.className = "off";
    const th = document.createElement("th");
    th.textContent = name;
    const td = document.createElement("td");
    td.textContent = value;
    tr.append(th, td);
    table.append(tr);
  }
  panel.append(title, table);
  return panel;
}

function tileElement(tile, i, columns, count, pick) {
  const fig = document.createElement("figure");
  fig.className = "tile";
  fig.tabIndex = 0;
  fig.dataset.index = String(i);
  fig.setAttribute("role", "listitem");
  if (tile.flag) fig.classList.add("flag"); // e.g. the model's label flipped on this tile
  fig.setAttribute("aria-label", `${tile.title}: ${tile.caption}`);
  // the panel opens over a neighbour, so it never leaves the grid's box
  if (i % columns === columns - 1 && columns > 1) fig.classList.add("open-left");
  if (i >= count - columns && count > columns) fig.classList.add("open-up");
  const img = document.createElement("img");
  img.src = tile.src;
  img.alt = tile.caption;
  img.draggable = false;
  const cap = document.createElement("figcaption");
  cap.textContent = tile.caption;
  fig.append(img, cap, valuesPanel(tile));
  fig.addEventListener("click", () => pick(i));
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns };
  fig.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      pick(i);
    } else if (e.key in step) {
      // move between tiles in the browser: the values follow the focus, no rerun
      const next = fig.parentElement.children[i + step[e.key]];
      if (next) {
        e.preventDefault();
        next.focus();
      }
    }
  });
  return fig;
}

export default function ({ data, parentElement, setTriggerValue }) {
  const root = parentElement.querySelector(".tiles");
  const { tiles, columns, selected, version } = data;
  // Rebuild only when the tiles changed: a rerun that only moves the selection keeps the DOM,
  // so the focused tile (and its open values) stays where the hand is.
  const signature = `${version}:${columns}:${tiles.map((t) => t.caption).join("|")}`;
  if (root.dataset.signature !== signature) {
    root.dataset.signature = signature;
    root.style.setProperty("--columns", String(columns));
    const pick = (i) => setTriggerValue("picked", i);
    root.replaceChildren(...tiles.map((t, i) => tileElement(t, i, columns, tiles.length, pick)));
  }
  root.querySelectorAll(".tile").forEach((fig, i) => {
    fig.classList.toggle("selected", i === selected);
  });
}
