// dreamvid studio: one page, no build step. The server does the work; this file keeps what the user
// chose, sends it, and shows the progress events and frames that come back.
"use strict";

const $ = (selector) => document.querySelector(selector);
const $$ = (selector) => Array.from(document.querySelectorAll(selector));
// one id per tab, new at every load: the server queues tabs fairly, and a tab's new Dream replaces its previous
// one. Not kept in sessionStorage, which a tab opened from this one (or duplicated) would copy.
const client = Array.from(crypto.getRandomValues(new Uint8Array(12)), (byte) => byte.toString(16).padStart(2, "0")).join("");

const MAX_FLIPBOOK = 600;  // frames kept to loop a preview: about 20 MB of JPEGs at most
const state = { jobMode: "image", input: null, files: {}, model: "", layer: "", job: null, events: null, frames: [],
                flipbook: null, baseline: {}, options: null };

function mode() { return $("input[name=mode]:checked").value; }
function say(text) { $("#message").textContent = text || ""; }
function status(text) { $("#status").textContent = text || ""; }

async function api(path, options = {}) {
  // the server takes JSON bodies only (uploads: raw bytes), so a POST without a body sends {}
  if (options.method === "POST" && !options.body) options = { ...options, body: "{}" };
  if (options.method === "POST" && !options.headers) options.headers = { "Content-Type": "application/json" };
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

// ---------------------------------------------------------------- input

function chooseInput(input, label, src) {
  state.input = input;
  $("#input-name").textContent = label;
  $$("#samples img").forEach((img) => img.classList.toggle("chosen", input.source === "sample" && img.dataset.name === input.name));
  if (src) showPicture(src);
  if (input.source === "noise") setMode("zoom");
  if (input.kind === "clip") setMode("video");
  if (input.kind === "picture" && mode() === "video") setMode("image");
}

async function upload(file, purpose) {
  say("");
  status(`uploading ${file.name}...`);
  try {
    const query = new URLSearchParams({ purpose, name: file.name, tab: client });
    return await api(`/api/uploads?${query}`, { method: "POST", body: file,
                                                 headers: { "Content-Type": "application/octet-stream" } });
  } catch (error) {
    say(`${file.name}: ${error.message}`);
    return null;
  } finally { status(""); }
}

async function uploadInput(file) {
  const uploaded = await upload(file, "input");
  if (!uploaded) return;
  const size = uploaded.width ? ` (${uploaded.width}x${uploaded.height})` : "";
  chooseInput({ source: "upload", id: uploaded.id, kind: uploaded.kind }, `${uploaded.name}: ${uploaded.kind}${size}`,
              uploaded.kind === "picture" ? URL.createObjectURL(file) : null);
}

function setUpInput() {
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) uploadInput(event.dataTransfer.files[0]);
  });
  $("#file").addEventListener("change", (event) => { if (event.target.files.length) uploadInput(event.target.files[0]); });
  $("#noise").addEventListener("click", () => chooseInput({ source: "noise" }, "noise (zoom only)", null));
  $$("input[data-file]").forEach((input) => input.addEventListener("change", async () => {
    const purpose = input.dataset.file === "audio" ? "sound" : "input";
    const uploaded = input.files.length ? await upload(input.files[0], purpose) : null;
    state.files[input.dataset.file] = uploaded ? { source: "upload", id: uploaded.id } : null;
    $(`#${input.dataset.file}-name`).textContent = uploaded ? uploaded.name : "";
    if (!uploaded) input.value = "";
  }));
  for (const name of state.options.samples) {
    const img = document.createElement("img");
    img.src = `/api/samples/${encodeURIComponent(name)}`;
    img.alt = img.title = name;
    img.dataset.name = name;
    img.addEventListener("click", () => chooseInput({ source: "sample", name, kind: "picture" }, `samples/${name}`, img.src));
    $("#samples").append(img);
  }
}

// ---------------------------------------------------------------- mode, preset, knobs

function setMode(value) {
  $(`input[name=mode][value=${value}]`).checked = true;
  modeChanged();
}

async function modeChanged() {
  const current = mode();
  $$("[data-modes]").forEach((element) => { element.hidden = !element.dataset.modes.split(" ").includes(current); });
  const defaults = { zoom: "tunnel", video: "video-subtle" };
  const select = $("#preset");
  const chosen = select.value;
  select.innerHTML = "";
  select.append(new Option(defaults[current] ? `default (${defaults[current]})` : "none", ""));
  for (const preset of state.options.presets) {  // only the presets that suit this mode
    if (preset.modes.includes(current)) select.append(new Option(preset.name, preset.name, false, preset.name === chosen));
  }
  await presetChanged();
}

async function presetChanged() {
  const preset = $("#preset").value;
  const about = state.options.presets.find((entry) => entry.name === preset);
  $("#preset-about").textContent = about ? about.description : "";
  try {
    state.baseline = await api(`/api/settings?${new URLSearchParams({ mode: mode(), preset })}`);
  } catch (error) { say(error.message); return; }
  for (const input of $$("#knobs input[name]")) {
    if (input.classList.contains("changed")) continue;
    if (input.type === "checkbox") input.checked = Boolean(state.baseline[input.name]);
    else input.value = state.baseline[input.name];
  }
}

function knobValue(input) {
  return input.type === "checkbox" ? input.checked : input.value;  // a switch (loop, boomerang) is true or false
}

function changedSettings() {
  const settings = {};
  for (const input of $$("#knobs input[name]")) {
    if (input.closest("[data-modes]").hidden || !input.classList.contains("changed")) continue;
    if (input.type === "checkbox") { settings[input.name] = input.checked; continue; }
    const number = Number(input.value);
    settings[input.name] = input.value.trim() !== "" && !Number.isNaN(number) ? number : input.value;
  }
  if (state.layer) settings.layers = { [state.layer]: 1 };
  if (state.model !== state.options.model) settings.model = state.model;
  return settings;
}

function setUpKnobs() {
  for (const input of $$("#knobs input[name]")) {
    input.title = state.options.help[input.name] || "";
    input.addEventListener("input", () => {
      input.classList.toggle("changed", String(state.baseline[input.name]) !== String(knobValue(input)));
    });
  }
  $$("input[name=mode]").forEach((radio) => radio.addEventListener("change", modeChanged));
  $("#preset").addEventListener("change", presetChanged);
}

// ---------------------------------------------------------------- layer atlas

function layerButton(entry) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "layer";
  button.dataset.layer = entry.layer;
  button.title = entry.role ? `${entry.layer} (${entry.role})` : entry.layer;
  button.innerHTML = `<img alt=""><span>${entry.layer}${entry.role ? " · " + entry.role : ""}</span>`;
  button.addEventListener("click", () => chooseLayer(entry.layer));
  return button;
}

function chooseLayer(layer) {
  state.layer = layer;
  $$("#atlas .layer").forEach((button) => button.classList.toggle("chosen", button.dataset.layer === layer));
}

// ---------------------------------------------------------------- model

function setUpModels() {
  const select = $("#model");
  for (const model of state.options.models) {
    select.append(new Option(model.missing ? `${model.name} (no weights here)` : model.name, model.name));
  }
  state.model = select.value = state.options.model;
  select.addEventListener("change", () => {
    state.model = select.value;
    const chosen = state.options.models.find((model) => model.name === state.model);
    $("#model-note").textContent = chosen.missing || chosen.description;  // the studio never downloads weights
    chooseLayer("");
    $$("#atlas .layer[data-layer]:not([data-layer=''])").forEach((button) => button.remove());
    if (!chosen.missing) refreshAtlas(true);
  });
}

async function refreshAtlas(start = false) {
  // a POST asks for the missing thumbnails (background work); the GETs that follow only look
  const model = state.model;
  let atlas;
  try {
    atlas = start ? await api("/api/atlas", { method: "POST", body: JSON.stringify({ model }) })
                  : await api(`/api/atlas?${new URLSearchParams({ model })}`);
  } catch (error) { $("#model-note").textContent = error.message; return; }
  if (model !== state.model) return;
  let waiting = false;
  for (const entry of atlas.layers) {
    let button = $(`#atlas .layer[data-layer="${entry.layer}"]`);
    if (!button) { button = layerButton(entry); $("#atlas").append(button); }
    const img = button.querySelector("img");
    if (entry.url && !img.getAttribute("src")) img.src = entry.url;
    if (entry.error) button.title = entry.error;
    waiting = waiting || (!entry.url && !entry.error);
  }
  if (waiting) setTimeout(() => refreshAtlas(false), 1500);
}

// ---------------------------------------------------------------- jobs

function showPicture(src) {
  stopFlipbook();
  $("#result-video").hidden = true;
  $("#result-video").pause();
  $("#preview").hidden = false;
  $("#preview").src = src;
}

function stopFlipbook() { clearInterval(state.flipbook); state.flipbook = null; }

function playFlipbook(fps) {
  // a zoom's or clip's preview frames, looped in the page (they were never written to a file)
  if (state.frames.length < 2) return;
  let index = 0;
  state.flipbook = setInterval(() => { $("#preview").src = state.frames[index++ % state.frames.length]; }, 1000 / fps);
}

function seconds(value) {
  if (value == null) return "";
  return value >= 60 ? `${Math.floor(value / 60)} min ${Math.round(value % 60)} s` : `${value.toFixed(1)} s`;
}

function showProgress(job) {
  const fraction = job.total ? job.done / job.total : 0;
  $("#bar").style.width = `${Math.round(fraction * 100)}%`;
  const unit = state.jobMode === "image" ? "steps" : "frames";
  let text = {
    queued: job.position ? `waiting: ${job.position} ahead` : "starting...",
    running: job.total ? `${job.done} / ${job.total} ${unit}` + (job.eta != null ? `, about ${seconds(job.eta)} left` : "") : "loading the model...",
    done: "done", failed: "failed", cancelled: "cancelled",
  }[job.status];
  if (job.message && job.status === "running") text += ` (${job.message})`;
  $("#progress-text").textContent = text;
  if (job.status === "failed") say(job.message);
}

function showResult(result) {
  if (!result.url) return;
  const link = $("#download");
  link.href = `${result.url}?download`;
  link.download = result.filename;
  link.textContent = `Download ${result.filename}`;
  link.hidden = false;
  if (result.type === "video") {
    stopFlipbook();
    const video = $("#result-video");
    video.src = result.url;
    video.hidden = false;
    $("#preview").hidden = true;
    video.play().catch(() => {});
  } else {
    showPicture(`${result.url}?t=${Date.now()}`);
  }
}

function follow(job) {
  state.events = new EventSource(`/api/jobs/${job.id}/events`);
  state.events.addEventListener("progress", (event) => showProgress(JSON.parse(event.data)));
  state.events.addEventListener("frame", (event) => {
    const frame = JSON.parse(event.data);
    stopFlipbook();
    $("#result-video").hidden = true;
    $("#preview").hidden = false;
    $("#preview").src = frame.src;
    $("#preview").dataset.frame = frame.index;
    if (state.frames.length < MAX_FLIPBOOK) state.frames.push(frame.src);
  });
  state.events.addEventListener("end", (event) => {
    const ended = JSON.parse(event.data);
    state.events.close();
    state.job = null;
    $("#cancel").disabled = true;
    showProgress(ended);
    if (ended.status === "done") {
      showResult(ended.result);
      if (!ended.result.url && mode() !== "image") playFlipbook(Number(state.baseline.fps) || 12);
    }
  });
}

async function start(action) {
  say("");
  if (!state.input) { say("Choose an input first: drop a file, pick a sample, or noise for a zoom."); return; }
  if (state.events) state.events.close();
  stopFlipbook();
  state.frames = [];
  $("#download").hidden = true;
  const files = Object.fromEntries(Object.entries(state.files).filter(([name, file]) => file &&
    !$(`input[data-file=${name}]`).closest("[data-modes]").hidden));
  const body = { client, action, mode: mode(), preset: $("#preset").value, settings: changedSettings(),
                 input: state.input, files };
  let job;
  try {
    job = await api("/api/jobs", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  } catch (error) { say(error.message); return; }
  state.job = job;
  state.jobMode = body.mode;
  $("#command").textContent = job.command;
  $("#toml").textContent = job.toml;
  $("#cancel").disabled = false;
  showProgress({ status: "queued", position: job.position, done: 0, total: 0 });
  follow(job);
}

async function cancel() {
  if (!state.job) return;
  $("#cancel").disabled = true;
  try { await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" }); } catch (error) { say(error.message); }
}

async function main() {
  state.options = await api("/api/options");
  setUpInput();
  setUpKnobs();
  setUpModels();
  await modeChanged();
  refreshAtlas(true);
  $("#dream").addEventListener("click", () => start("dream"));
  $("#render").addEventListener("click", () => start("render"));
  $("#cancel").addEventListener("click", cancel);
  $$("[data-copy]").forEach((button) => button.addEventListener("click", () => {
    navigator.clipboard.writeText($(`#${button.dataset.copy}`).textContent).then(() => status("copied"));
  }));
  document.body.dataset.ready = "true";
}

main().catch((error) => say(error.message));
