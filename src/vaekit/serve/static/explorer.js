// vaekit serve: the latent explorer. Plain JS, no build step, nothing loaded from elsewhere.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];
const state = { info: null, z: null, point: null, bounds: null, busy: false, pending: null,
                uploads: 0 };
const $ = (id) => document.getElementById(id);

async function call(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

function postJSON(url, value) {
  return call(url, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(value) });
}

function color(label) {
  // ten distinct colors, then hues spaced by the golden angle: no two of the first classes
  // (or of any few) share one
  if (label === null) return "#4c72b0";
  if (label >= 0 && label < PALETTE.length) return PALETTE[label];
  return `hsl(${Math.round((label * 137.508) % 360)}, 65%, 42%)`;
}

// Map coordinates <-> canvas pixels, with a margin around the points.
function mapBounds(points) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [u, v] of points) {
    x0 = Math.min(x0, u); x1 = Math.max(x1, u); y0 = Math.min(y0, v); y1 = Math.max(y1, v);
  }
  const padX = (x1 - x0 || 1) * 0.08, padY = (y1 - y0 || 1) * 0.08;
  return { x0: x0 - padX, x1: x1 + padX, y0: y0 - padY, y1: y1 + padY };
}

function toCanvas(canvas, u, v) {
  const b = state.bounds;
  return [(u - b.x0) / (b.x1 - b.x0) * canvas.width,
          (1 - (v - b.y0) / (b.y1 - b.y0)) * canvas.height];
}

function fromEvent(canvas, event) {
  const rect = canvas.getBoundingClientRect(), b = state.bounds;
  const fx = (event.clientX - rect.left) / rect.width, fy = (event.clientY - rect.top) / rect.height;
  return [b.x0 + fx * (b.x1 - b.x0), b.y0 + (1 - fy) * (b.y1 - b.y0)];
}

function drawMap() {
  const canvas = $("map"), ctx = canvas.getContext("2d"), map = state.info.map;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  map.points.forEach(([u, v], i) => {
    const [x, y] = toCanvas(canvas, u, v);
    ctx.fillStyle = color(map.labels ? map.labels[i] : null);
    ctx.globalAlpha = 0.6;
    ctx.beginPath(); ctx.arc(x, y, 2.5, 0, 2 * Math.PI); ctx.fill();
  });
  ctx.globalAlpha = 1;
  if (state.point) {
    const [x, y] = toCanvas(canvas, state.point[0], state.point[1]);
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(x - 11, y); ctx.lineTo(x + 11, y);
    ctx.moveTo(x, y - 11); ctx.lineTo(x, y + 11); ctx.stroke();
  }
}

// A picture as large as the panel (a series' plot) is drawn smooth at the panel's width; a
// small one (an image's pixels) enlarged with its pixels kept sharp. Both keep their aspect.
function fitPicture(img) {
  img.onload = () => { img.classList.toggle("plot", img.naturalWidth > 224); };
}

function showDecoded(image, where) {
  $("decoded").src = image;
  $("decoded").dataset.updates = String(Number($("decoded").dataset.updates || 0) + 1);
  $("decoded-caption").textContent = where;
  drawMap();
}

// One decode request at a time; while one is out, only the latest wish is kept.
async function decode(request) {
  if (state.busy) { state.pending = request; return; }
  state.busy = true;
  try {
    const answer = await postJSON("/api/decode", request);
    if (answer.z) { state.z = answer.z; state.point = request.point; syncSliders(); }
    else { state.point = answer.point; }
    const [u, v] = state.point, axes = state.info.map.axes;
    showDecoded(answer.image, `${axes[0]} = ${u.toFixed(2)}, ${axes[1]} = ${v.toFixed(2)}`);
    $("page-error").textContent = "";
  } catch (err) {
    $("page-error").textContent = err.message;
  } finally {
    state.busy = false;
    if (state.pending) { const next = state.pending; state.pending = null; decode(next); }
  }
}

function syncSliders() {
  for (const input of document.querySelectorAll("#sliders input")) {
    const d = Number(input.dataset.dim);
    input.value = state.z[d];
    input.nextElementSibling.textContent = Number(state.z[d]).toFixed(2);
  }
}

function buildSliders() {
  const box = $("sliders"), info = state.info;
  $("sliders-title").textContent = `Latent dimensions, by ${info.ranked_by}, highest first`;
  for (const s of info.sliders) {
    const row = document.createElement("div");
    row.className = "slider";
    const name = document.createElement("label");
    name.textContent = `z${s.dim} (${s.score.toFixed(2)})`;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: s.low, max: s.high, step: (s.high - s.low) / 200 });
    input.dataset.dim = String(s.dim);
    input.id = `slider-${s.dim}`;
    name.htmlFor = input.id;
    const value = document.createElement("span");
    row.append(name, input, value);
    box.append(row);
    input.addEventListener("input", () => {
      state.z[s.dim] = Number(input.value);
      value.textContent = Number(input.value).toFixed(2);
      decode({ z: state.z.slice() });
    });
  }
  syncSliders();
}

function buildMap() {
  const info = state.info, map = info.map, canvas = $("map");
  state.bounds = mapBounds(map.points);
  const plane = info.latent_dim === 2 ? "the latents themselves" :
    `the posterior means' first two principal components (${
      Math.round(100 * (map.explained[0] + map.explained[1]))}% of their variance); ` +
    "a point decodes at the test set's mean in the other directions";
  $("map-caption").textContent = `${map.points.length} test ${info.examples}: ${plane}.`;
  if (map.labels) {
    const labels = [...new Set(map.labels)].sort((a, b) => a - b);
    $("legend").innerHTML = "";
    for (const label of labels.slice(0, 20)) {
      const span = document.createElement("span");
      span.style.setProperty("--c", color(label));
      const names = map.class_names;
      span.textContent = names && label < names.length ? names[label] : String(label);
      $("legend").append(span);
    }
  }
  let dragging = false;
  canvas.addEventListener("pointerdown", (event) => {
    dragging = true;
    canvas.setPointerCapture(event.pointerId);
    decode({ point: fromEvent(canvas, event) });
  });
  canvas.addEventListener("pointermove", (event) => {
    if (dragging) decode({ point: fromEvent(canvas, event) });
  });
  const stop = () => { dragging = false; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  drawMap();
}

async function upload(file) {
  // only the latest choice's answer is shown: an earlier, slower one arriving after it (or
  // after its refusal) is dropped
  const mine = ++state.uploads;
  $("upload-error").textContent = "";
  $("upload-result").hidden = true;
  if (file.size > state.info.max_upload_bytes) {
    $("upload-error").textContent =
      `${file.name}: ${file.size.toLocaleString()} bytes; at most ${
        state.info.max_upload_bytes.toLocaleString()}`;
    return;
  }
  try {
    const answer = await call(`/api/upload?name=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    if (mine !== state.uploads) return;
    $("upload-input").src = answer.input;
    $("upload-reconstruction").src = answer.reconstruction;
    $("upload-uncertainty").src = answer.uncertainty;
    const verdict = answer.anomalous ? "anomalous" : "normal";
    const score = answer.score === null ? "not finite" : answer.score.toFixed(2);
    $("upload-score").innerHTML = "";
    const text = document.createElement("span");
    text.textContent = `${file.name}: ${answer.score_name} score ${score}, threshold ${
      answer.threshold.toFixed(2)} (${state.info.anomaly.units}): `;
    const tag = document.createElement("span");
    tag.className = verdict;
    tag.id = "upload-verdict";
    tag.textContent = verdict;
    $("upload-score").append(text, tag);
    $("upload-result").hidden = false;
  } catch (err) {
    if (mine === state.uploads) $("upload-error").textContent = err.message;
  }
}

async function drawSamples() {
  try {
    const answer = await postJSON("/api/sample", {});
    $("samples").src = answer.image;
    $("samples-caption").textContent = `prior samples, seed ${answer.seed}`;
  } catch (err) {
    $("page-error").textContent = err.message;
  }
}

async function start() {
  try {
    state.info = await call("/api/info");
  } catch (err) {
    $("page-error").textContent = `cannot load the run: ${err.message}`;
    return;
  }
  const info = state.info;
  $("run-name").textContent = info.run;
  const note = info.anomaly.note ? ` (${info.anomaly.note})` : "";
  $("run-model").textContent = `${info.model}; anomaly score ${info.anomaly.score}, threshold ${
    info.anomaly.threshold.toFixed(2)} at the ${info.anomaly.quantile} quantile${note}`;
  state.z = info.start.slice();
  buildMap();
  buildSliders();
  $("upload-panel").hidden = !info.uploads;  // a kind whose files the page does not take
  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";  // choosing the same file again is a new upload
    if (file) upload(file);
  });
  $("sample-button").addEventListener("click", drawSamples);
  for (const id of ["decoded", "samples"]) fitPicture($(id));
  await Promise.all([decode({ z: state.z.slice() }), drawSamples()]);
  document.body.dataset.state = "ready";
}

start();
