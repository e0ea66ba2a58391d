// The drawing pad: strokes on a <canvas> (mouse, pen or finger through pointer events),
// its ink (the alpha channel) sent to POST /api/predict while drawing, one call at a time;
// the answer shown as the label, bars per class and the grid the model read.
"use strict";

const pad = document.getElementById("pad");
const ink = pad.getContext("2d", { willReadFrequently: true });
const gridCanvas = document.getElementById("grid");
const prediction = document.getElementById("prediction");
const bars = document.getElementById("bars");
const statusLine = document.getElementById("status");
const PEN_WIDTH = pad.width / 14; // a stroke as thick, for its box, as a pen's in MNIST's forms

let model = null;      // GET /api/model's description
let drawing = false;   // a pointer is down on the pad
let last = null;       // the stroke's previous point
let inFlight = false;  // a call is on its way
let pending = false;   // the pad changed while it was

function point(event) {
  const box = pad.getBoundingClientRect();
  return { x: (event.clientX - box.left) * pad.width / box.width,
           y: (event.clientY - box.top) * pad.height / box.height };
}

function strokeTo(p) {
  ink.lineWidth = PEN_WIDTH;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.strokeStyle = "#000";
  ink.beginPath();
  ink.moveTo(last.x, last.y);
  ink.lineTo(p.x, p.y);
  ink.stroke();
  last = p;
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  last = point(event);
  strokeTo({ x: last.x + 0.01, y: last.y }); // a dot for a tap
  ask();
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  for (const e of event.getCoalescedEvents ? event.getCoalescedEvents() : [event]) strokeTo(point(e));
  ask();
});
for (const name of ["pointerup", "pointercancel"]) {
  pad.addEventListener(name, () => { if (drawing) { drawing = false; ask(); } });
}

document.getElementById("clear").addEventListener("click", () => {
  ink.clearRect(0, 0, pad.width, pad.height);
  pending = false;
  show({ label: null, probabilities: {}, grid: [] });
  statusLine.textContent = "draw a digit in the box";
});

function inkBase64() {
  const rgba = ink.getImageData(0, 0, pad.width, pad.height).data;
  const alpha = new Uint8Array(pad.width * pad.height);
  for (let i = 0; i < alpha.length; i++) alpha[i] = rgba[4 * i + 3];
  let text = "";
  for (let i = 0; i < alpha.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, alpha.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

async function ask() {
  if (!model) return;
  if (inFlight) { pending = true; return; }
  inFlight = true;
  pending = false;
  pad.dataset.state = "asking";
  try {
    const response = await fetch("/api/predict", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ width: pad.width, height: pad.height, ink: inkBase64() }),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    if (!pending) show(answer);
    statusLine.textContent = "";
  } catch (error) {
    statusLine.textContent = "no answer: " + error.message;
  } finally {
    inFlight = false;
    if (pending) ask();
    else pad.dataset.state = "idle";
  }
}

function show(answer) {
  prediction.textContent = answer.label === null ? "" : answer.label;
  bars.replaceChildren();
  const best = answer.label;
  for (const name of model ? model.classes : []) {
    const p = answer.probabilities[name] || 0;
    const label = document.createElement("span");
    label.textContent = name;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.style.width = (100 * p).toFixed(1) + "%";
    bar.append(fill);
    const number = document.createElement("span");
    number.className = "num";
    number.textContent = answer.label === null ? "" : (100 * p).toFixed(1) + "%";
    if (name === best) label.className = "top";
    bars.append(label, bar, number);
  }
  drawGrid(answer.grid);
}

function drawGrid(grid) {
  const g = gridCanvas.getContext("2d");
  const [rows, cols] = model ? model.shape : [1, 1];
  gridCanvas.width = cols;
  gridCanvas.height = rows;
  const image = g.createImageData(cols, rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = grid.length ? Math.round(255 * grid[r][c] / model.value_range) : 0;
      const i = 4 * (r * cols + c);
      image.data[i] = image.data[i + 1] = image.data[i + 2] = v;
      image.data[i + 3] = 255;
    }
  }
  g.putImageData(image, 0, 0);
}

fetch("/api/model").then((r) => r.json()).then((about) => {
  model = about.model;
  document.getElementById("to-dashboard").hidden = !about.run;
  if (!model) {
    statusLine.textContent = "no model is served: start xpnn serve MODEL";
    return;
  }
  document.getElementById("grid-size").textContent = model.shape.join("x");
  document.getElementById("recipe").textContent = "prepared as " + model.recipe;
  show({ label: null, probabilities: {}, grid: [] });
  document.body.dataset.ready = "true";
});
