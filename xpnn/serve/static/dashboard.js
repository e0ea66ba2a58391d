// The training dashboard: GET /api/events (server-sent events: "run", one "epoch" per
// epoch, "end") drawn as loss and accuracy curves, training and validation, with the epoch,
// the time (the epochs' own, and since the start), what is left, and the kept epoch.
"use strict";

const W = 480, H = 300, M = { left: 48, right: 12, top: 10, bottom: 34 };
let run = null, records = [], end = null;

function text(id, value) { document.getElementById(id).textContent = value; }
function seconds(s) {
  return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

function svgElement(name, attributes, parent) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  parent.append(element);
  return element;
}

function niceTicks(low, high, count) {
  const span = high - low || 1;
  const step = Math.pow(10, Math.floor(Math.log10(span / count)));
  const unit = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= count) || step * 10;
  const ticks = [];
  for (let v = Math.ceil(low / unit) * unit; v <= high + 1e-12; v += unit) ticks.push(v);
  return ticks;
}

function chart(id, key, percent) {
  const svg = document.getElementById(id);
  svg.replaceChildren();
  // while training: the planned epochs; once it ended (early, perhaps): the epochs it ran
  const epochs = end ? Math.max(records.length, 1) : run ? Math.max(run.epochs, records.length, 1) : 1;
  const values = records.flatMap((r) => [r[key], r["val_" + key]]).filter((v) => v !== null && v !== undefined);
  let low = values.length ? Math.min(...values) : 0, high = values.length ? Math.max(...values) : 1;
  if (percent) { low = Math.max(0, low - 0.02); high = Math.min(1, high + 0.02); }
  else { low = Math.max(0, low - 0.05 * (high - low)); high += 0.05 * (high - low); }
  if (high - low < 1e-9) { high = low + 1; }
  const x = (e) => M.left + (W - M.left - M.right) * (epochs > 1 ? (e - 1) / (epochs - 1) : 0.5);
  const y = (v) => H - M.bottom - (H - M.top - M.bottom) * (v - low) / (high - low);
  const ticks = niceTicks(low, high, 5);
  for (const v of ticks) {
    svgElement("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: "gridline" }, svg);
    svgElement("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end" }, svg).textContent =
      percent ? (100 * v).toFixed(0) + "%" : v.toFixed(Math.max(0, -Math.floor(Math.log10(ticks[1] - ticks[0] || 1))));
  }
  for (const e of niceTicks(1, epochs, 8).filter((e) => Number.isInteger(e))) {
    svgElement("text", { x: x(e), y: H - M.bottom + 16, "text-anchor": "middle" }, svg).textContent = e;
  }
  svgElement("text", { x: (W + M.left) / 2, y: H - 4, "text-anchor": "middle" }, svg).textContent = "epoch";
  svgElement("line", { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: "axis" }, svg);
  svgElement("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: "axis" }, svg);
  if (end && end.kept_epoch) {
    svgElement("line", { x1: x(end.kept_epoch), x2: x(end.kept_epoch), y1: M.top, y2: H - M.bottom, class: "kept" }, svg);
  }
  for (const [series, field] of [["train", key], ["val", "val_" + key]]) {
    const points = records.filter((r) => r[field] !== null && r[field] !== undefined);
    if (!points.length) continue;
    svgElement("polyline", { class: series, points: points.map((r) => x(r.epoch) + "," + y(r[field])).join(" ") }, svg);
    for (const r of points) {
      svgElement("circle", { class: series, cx: x(r.epoch), cy: y(r[field]), r: points.length > 60 ? 1.5 : 3 }, svg)
        .append(Object.assign(document.createElementNS("http://www.w3.org/2000/svg", "title"),
                              { textContent: "epoch " + r.epoch + ": " + r[field].toFixed(4) }));
    }
  }
}

function facts() {
  const done = records.length ? records[records.length - 1].epoch : 0;
  const training = records.reduce((sum, r) => sum + (r.seconds || 0), 0);
  text("epoch", run ? (done ? "epoch " + done + " of " + run.epochs : "waiting for the first epoch") : "");
  let time = "training " + seconds(training) + " (the epochs alone)";
  if (end && end.wall_seconds) time += ", " + seconds(end.wall_seconds) + " the whole run";
  else if (run && !run.finished) time += ", " + seconds(Date.now() / 1000 - run.started) + " since the start";
  text("time", time);
  if (end) text("eta", done < run.epochs ? "stopped early after " + done + " of " + run.epochs + " epochs" : "finished: " + done + " epochs");
  else if (done) {
    const left = (training / records.length) * (run.epochs - done);
    text("eta", "about " + seconds(left) + " (" + (run.epochs - done) + " epochs" + (run.early_stopping ? ", fewer if it stops early)" : ")"));
  } else text("eta", "");
  text("kept", end ? "epoch " + end.kept_epoch + (records.some((r) => r.val_accuracy !== null && r.val_accuracy !== undefined)
    ? " (best validation accuracy)" : " (the last)") : "decided at the end");
  if (end && end.test_accuracy !== undefined && end.test_accuracy !== null) {
    text("kept", document.getElementById("kept").textContent + ", test accuracy " + (100 * end.test_accuracy).toFixed(2) + "%");
  }
  text("source", run && run.source ? "data: " + run.source : "");
}

function draw() {
  chart("loss-chart", "loss", false);
  chart("accuracy-chart", "accuracy", true);
  facts();
  document.body.dataset.epochs = String(records.length);
  document.body.dataset.finished = String(end !== null);
}

const stream = new EventSource("/api/events");
stream.addEventListener("run", (event) => { run = JSON.parse(event.data); records = []; end = null; draw(); });
stream.addEventListener("epoch", (event) => { records.push(JSON.parse(event.data)); draw(); });
stream.addEventListener("end", (event) => { end = JSON.parse(event.data); draw(); linkPad(); });
setInterval(() => { if (run && !end) facts(); }, 1000);

function linkPad() { // after training, the pad reads drawings with the trained model
  fetch("/api/model").then((r) => r.json()).then((about) => {
    document.getElementById("to-pad").hidden = !about.model;
  });
}
linkPad();
