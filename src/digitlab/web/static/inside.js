// "Inside the network": for one digit of the reading, every layer's output in the model's
// order, the probabilities and the attribution, from POST /api/explain. It follows the
// drawing: after each reading the open panel asks again (debounced; older answers are
// dropped), so the canvas never waits for it.
"use strict";

const MAP_SIZE = 44;  // pixels a feature map is shown at

const inside = {
  panel: document.getElementById("inside"),
  layers: document.getElementById("layers"),
  index: null,      // the digit shown (from 0), or null when closed
  body: null,       // the request init of the last reading
  timer: null,
  sequence: 0,
};

// the colour scale of the server's pictures: white 0, red +, blue -, full at +-scale
function scaleColour(v, scale) {
  const t = Math.max(-1, Math.min(1, v / scale));
  const end = t >= 0 ? [178, 24, 43] : [33, 102, 172];
  const a = Math.abs(t);
  return end.map((c) => Math.round(255 + a * (c - 255)));
}

// units as cells on the same colour scale; ten units (scores, probabilities) are labelled 0-9
function unitsCanvas(values, scale) {
  const perRow = 64, cell = Math.max(6, Math.min(24, Math.floor(384 / values.length)));
  const rows = Math.ceil(values.length / perRow);
  const c = document.createElement("canvas");
  c.className = "units";
  c.width = Math.min(values.length, perRow) * cell;
  c.height = rows * cell;
  const g = c.getContext("2d");
  values.forEach((v, i) => {
    const [r, gr, b] = scaleColour(v, scale);
    g.fillStyle = `rgb(${r},${gr},${b})`;
    g.fillRect((i % perRow) * cell, Math.floor(i / perRow) * cell, cell, cell);
    if (values.length === 10) {
      g.fillStyle = Math.abs(v / scale) > 0.6 ? "#fff" : "#222";
      g.font = "12px system-ui, sans-serif";
      g.fillText(String(i), i * cell + cell / 2 - 3, cell / 2 + 4);
    }
  });
  return c;
}

function renderLayer(layer) {
  const box = document.createElement("section");
  box.className = "layer";
  box.dataset.token = layer.token;
  const title = document.createElement("h3");
  const detail = document.createElement("span");
  detail.className = "shape";
  detail.textContent = ` [${layer.token}] ${layer.shape.join(" \u00d7 ")} \u00b7 scale ${layer.scale.toPrecision(3)}`;
  title.append(`${layer.index + 1}. ${layer.name}`, detail);
  const caption = document.createElement("p");
  caption.textContent = layer.caption;
  box.append(title, caption);
  if (layer.maps) {
    // one grid picture per layer; each map is a window onto it, enlarged to MAP_SIZE pixels
    const maps = document.createElement("div");
    maps.className = "maps";
    box.dataset.maps = String(layer.channels.length);
    const [h, w] = layer.shape.slice(1), zoom = MAP_SIZE / w;
    const gridWidth = layer.columns * (w + 1) - 1;
    layer.channels.forEach((channel, k) => {
      const map = document.createElement("div");
      map.className = "map";
      map.title = `map ${channel}`;
      map.style.width = `${MAP_SIZE}px`;
      map.style.height = `${Math.round(h * zoom)}px`;
      map.style.backgroundImage = `url(${layer.maps})`;
      map.style.backgroundSize = `${gridWidth * zoom}px auto`;
      const col = k % layer.columns, row = Math.floor(k / layer.columns);
      map.style.backgroundPosition = `${-col * (w + 1) * zoom}px ${-row * (h + 1) * zoom}px`;
      maps.append(map);
    });
    if (layer.channels.length < layer.shape[0]) {
      caption.textContent += ` The ${layer.channels.length} most active of ${layer.shape[0]} maps are shown.`;
    }
    box.append(maps);
  } else {
    box.dataset.units = String(layer.values.length);
    box.append(unitsCanvas(layer.values, layer.scale));
  }
  return box;
}

function renderInside(digit) {
  const e = digit.explanation;
  document.getElementById("inside-title").textContent =
    `Inside the network: digit ${inside.index + 1}, read as ${e.digit}`;
  document.getElementById("inside-input").src = digit.image;
  document.getElementById("inside-attribution").src = e.attribution.image;
  document.getElementById("attribution-caption").textContent =
    `Which strokes pushed the network toward ${e.digit} (red) and against it (blue): ${e.attribution.method} ` +
    `from a blank page; they add up to ${(e.attribution.log_prob - e.attribution.blank_log_prob).toFixed(2)} ` +
    `in log-probability.`;
  document.getElementById("inside-probs").replaceChildren(...probabilityBars(e.probabilities, e.digit, 72));
  inside.layers.replaceChildren(...e.layers.map(renderLayer));
  inside.panel.dataset.layers = String(e.layers.length);
}

async function askInside() {
  if (inside.index === null || !inside.body) return;
  const mine = ++inside.sequence;
  try {
    const response = await fetch(`/api/explain?digit=${inside.index}` + modelQuery(), inside.body);
    const body = await response.json();
    if (mine !== inside.sequence || inside.index === null) return;
    if (!response.ok) { closeInside(); return; }
    renderInside(body.digits[inside.index]);
  } catch (err) {
    if (mine === inside.sequence) closeInside();
  }
}

function openInside(index) {
  inside.index = index;
  inside.panel.hidden = false;
  clearTimeout(inside.timer);
  askInside();
}

function closeInside() {
  inside.index = null;
  inside.sequence++;
  inside.panel.hidden = true;
  inside.layers.replaceChildren();
  delete inside.panel.dataset.layers;
}

// called by app.js after every reading (result null: nothing to read)
function insideFollows(result, body) {
  inside.body = body;
  if (inside.index === null) return;
  if (!result || inside.index >= result.digits.length) { closeInside(); return; }
  clearTimeout(inside.timer);
  inside.timer = setTimeout(askInside, 250);
}

document.getElementById("inside-close").addEventListener("click", closeInside);
