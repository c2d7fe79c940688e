// The drawing page: strokes on a canvas (mouse, pen, touch through pointer events),
// read by POST /api/predict while drawing; inside.js shows what the network saw. No build
// step, no dependencies.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const pen = document.getElementById("pen");
const numberEl = document.getElementById("number");
const statusEl = document.getElementById("status");
const digitsEl = document.getElementById("digits");
const boxes = document.getElementById("boxes");    // over the drawing: how the number was split
const boxCtx = boxes.getContext("2d");

let strokes = [];      // each stroke: {width, points: [[x, y], ...]}
let current = null;
let timer = null;
let sequence = 0;      // answers to older requests are dropped
let fromCanvas = true; // boxes are drawn only for a reading of the canvas (an upload has its own size)
let lastImage = null;  // the request body of the last reading: a correction sends the same image
let storeOn = false;   // the server keeps corrections (not started with --no-store)

function drawBoxes(digits) {
  boxCtx.clearRect(0, 0, boxes.width, boxes.height);
  boxes.dataset.count = String(digits.length);
  boxCtx.lineWidth = 2;
  boxCtx.font = "bold 16px system-ui, sans-serif";
  digits.forEach((d, i) => {
    const [x, y, w, h] = d.box;
    const colour = i % 2 ? "#d0692a" : "#2a7bd0";
    boxCtx.strokeStyle = boxCtx.fillStyle = colour;
    boxCtx.strokeRect(x + 0.5, y + 0.5, w, h);
    boxCtx.fillText(String(d.digit), x + 2, Math.max(14, y - 3));
  });
}

function redraw() {
  drawBoxes([]);  // the strokes changed: the last reading's boxes no longer fit
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    ctx.lineWidth = s.width;
    if (s.points.length === 1) {
      const [x, y] = s.points[0];
      ctx.beginPath();
      ctx.arc(x, y, s.width / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(...s.points[0]);
    for (const p of s.points.slice(1)) ctx.lineTo(...p);
    ctx.stroke();
  }
}

function position(event) {
  // the drawing area is the canvas's content box: its border is not drawn on
  const r = canvas.getBoundingClientRect();
  const x = event.clientX - r.left - canvas.clientLeft, y = event.clientY - r.top - canvas.clientTop;
  return [x * canvas.width / canvas.clientWidth, y * canvas.height / canvas.clientHeight];
}

canvas.addEventListener("pointerdown", (e) => {
  canvas.setPointerCapture(e.pointerId);
  current = {width: Number(pen.value), points: [position(e)]};
  strokes.push(current);
  redraw();
});
canvas.addEventListener("pointermove", (e) => {
  if (!current) return;
  current.points.push(position(e));
  redraw();
  schedule(400);
});
const finish = () => { if (current) { current = null; schedule(120); } };
canvas.addEventListener("pointerup", finish);
canvas.addEventListener("pointercancel", finish);

document.getElementById("undo").addEventListener("click", () => { strokes.pop(); redraw(); schedule(0); });
document.getElementById("clear").addEventListener("click", () => { strokes = []; redraw(); schedule(0); });
document.getElementById("file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (!file) return;
  const form = new FormData();
  form.append("image", file);
  fromCanvas = false;
  send({method: "POST", body: form});
  e.target.value = "";
});

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(() => {
    // a reading still in flight is for strokes that are gone: its answer must not show
    if (!strokes.length) { sequence++; show(null); insideFollows(null, null); return; }
    fromCanvas = true;
    send({method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({image: canvas.toDataURL("image/png")})});
  }, delay);
}

async function send(init) {
  const mine = ++sequence;
  lastImage = init;
  try {
    const response = await fetch("/api/predict?detail=true" + modelQuery(), init);
    // an error from a proxy in front of the server may not be JSON
    const body = await response.json().catch(() => ({}));
    if (mine !== sequence) return;
    if (!response.ok) {
      show(null, body.detail || `the server answered ${response.status} ${response.statusText}`.trim());
      insideFollows(null, init);
      return;
    }
    show(body);
    insideFollows(body, init);
  } catch (err) {
    if (mine === sequence) show(null, "the server did not answer: " + err);
  }
}

// ten bars, one per digit, the chosen one highlighted; `height` pixels for probability 1
function probabilityBars(probabilities, chosen, height) {
  return probabilities.map((p, k) => {
    const bar = document.createElement("div");
    bar.className = "bar" + (k === chosen ? " top" : "");
    bar.title = `${k}: ${(100 * p).toFixed(1)}%`;
    const fill = document.createElement("span");
    fill.style.height = Math.max(1, Math.round(height * p)) + "px";
    bar.append(fill, document.createTextNode(String(k)));
    return bar;
  });
}

function show(result, error) {
  correctEl.hidden = !(storeOn && result && result.number !== null);
  savedEl.textContent = "";
  digitsEl.replaceChildren();
  drawBoxes(result && fromCanvas ? result.digits : []);
  statusEl.textContent = error || "";
  numberEl.className = "number";
  numberEl.title = "";
  if (!result || result.number === null) {
    numberEl.classList.add("empty");
    numberEl.textContent = result ? "no ink" : "draw something";
    return;
  }
  if (result.rejected) {
    numberEl.classList.add("rejected");
    numberEl.textContent = "not a digit";
    numberEl.title = "best guess: " + result.number;
    statusEl.textContent = result.reason;
  } else {
    numberEl.textContent = result.number;
  }
  for (const d of result.digits) {
    const row = document.createElement("div");
    row.className = "digit";
    const img = document.createElement("img");
    img.src = d.image;
    img.alt = "what the model saw: 28x28";
    row.append(img);
    const bars = document.createElement("div");
    bars.className = "bars";
    bars.append(...probabilityBars(d.probabilities, d.digit, 40));
    row.append(bars);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open-inside";
    open.textContent = "inside the network";
    const index = digitsEl.children.length;
    open.addEventListener("click", () => openInside(index));
    row.append(open);
    digitsEl.append(row);
  }
}

// Corrections: "Wrong? It is a ..." stores the drawing with the label given (POST /api/samples).
const correctEl = document.getElementById("correct");
const savedEl = document.getElementById("saved");
const samplesEl = document.getElementById("samples");

function showCount(total) {
  samplesEl.dataset.count = String(total);
  samplesEl.textContent = `${total} sample${total === 1 ? "" : "s"} collected \u00b7`;
}

for (const label of ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "not a digit"]) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.dataset.label = label;
  button.addEventListener("click", () => correct(label));
  document.getElementById("labels").append(button);
}

async function correct(label) {
  if (!lastImage) return;
  savedEl.textContent = "saving...";
  try {
    const response = await fetch("/api/samples?label=" + encodeURIComponent(label) + modelQuery(), lastImage);
    const body = await response.json();
    if (!response.ok) { savedEl.textContent = body.detail || response.statusText; return; }
    savedEl.textContent = `thank you: kept as "${body.label}"`;
    showCount(body.total);
  } catch (err) {
    savedEl.textContent = "the server did not answer: " + err;
  }
}

fetch("/api/samples/stats").then((r) => r.json()).then((s) => {
  storeOn = s.enabled;
  samplesEl.hidden = !s.enabled;
  if (s.enabled) showCount(s.total);
}).catch(() => {});

// Several models (serve --model A --model B): a picker; every reading and correction names the one picked.
const select = document.getElementById("model-select");

function modelQuery() {
  return select.value ? "&model=" + encodeURIComponent(select.value) : "";
}

// While a stand-in serves or the run trains, the footer says so and looks again every few
// seconds: the server swaps in the better model by itself, and its name shows here.
let modelTimer = null;

function trainingText(t) {
  if (!t || t.state === "done") return "";
  if (t.state === "failed") return `training failed: ${t.detail}`;
  const busy = Object.entries(t.stages || {}).filter(([, s]) => s.state === "training").map(([name, s]) =>
    `the ${name}` + (s.total ? ` ${s.done}/${s.total} ${s.unit}` : "") + (s.detail ? ` (${s.detail})` : ""));
  return busy.length ? "training " + busy.join(", ") : "";
}

function describeModel() {
  clearTimeout(modelTimer);
  fetch("/api/model?" + modelQuery().slice(1)).then((r) => r.json()).then((m) => {
    document.getElementById("model").textContent =
      `${m.name}, ${m.parameters.toLocaleString()} parameters` +
      (m.standin_for ? ` (a quick stand-in until ${m.standin_for} is trained)` : "");
    const training = trainingText(m.training);
    document.getElementById("training").textContent = training;
    document.getElementById("training").hidden = !training;
    if (m.standin_for || (m.training && m.training.state === "training")) modelTimer = setTimeout(describeModel, 3000);
  }).catch(() => { modelTimer = setTimeout(describeModel, 5000); });
}

fetch("/api/models").then((r) => r.json()).then((models) => {
  for (const m of models) {
    const option = document.createElement("option");
    option.value = option.textContent = m.name;
    option.selected = m.default;
    select.append(option);
  }
  document.getElementById("picker").hidden = models.length < 2;
}).catch(() => {});
select.addEventListener("change", () => { describeModel(); schedule(0); });
describeModel();
redraw();
