// The page: uploads, the library and player, the trim / edit / encode / concat forms and
// the requester's queue. It talks to the same API as any client, plus two page endpoints.
"use strict";

const CODE_KEY = "videoproc.requestCode";
const POLL_BUSY_MS = 700; // while jobs run: progress bars should move
const POLL_IDLE_MS = 5000; // otherwise: notice jobs queued from elsewhere
const UNFINISHED = ["pending", "queued", "running"]; // a job that may still change
const LIBRARY_PAGE = 24; // cards per library page
const SEARCH_DELAY_MS = 250; // typing pauses this long before the library is searched

const state = {
  code: localStorage.getItem(CODE_KEY) || "",
  videos: [], // the library page shown
  known: new Map(), // every video seen, by id: names for the concat, edit and queue lists
  library: { q: "", sort: "newest", skip: 0, total: 0, asked: 0 },
  current: null, // the video in the player
  concat: [], // video ids, in play order
  candidates: {}, // id -> why it cannot follow the first concat video (null: it can)
  edit: { in: null, out: null, segments: [] }, // marks in seconds; {video_id, start, end}
  jobs: [],
  executing: false,
};

const $ = (selector) => document.querySelector(selector);

// Sent on every state-changing call: with accounts on, the session's calls need it
// (a form posted from another site has none and is refused).
const CSRF_TOKEN = document.querySelector('meta[name="csrf-token"]')?.content || "";

// Builds an element; children are nodes or strings (always set as text, never as HTML).
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

async function api(method, url, body) {
  const headers = body ? { "Content-Type": "application/json" } : {};
  if (method !== "GET") headers["X-CSRFToken"] = CSRF_TOKEN;
  const response = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (response.status === 401) {
    // The session ended (signed out elsewhere, or expired): sign in again, then come back.
    window.location.assign(`/accounts/login/?next=${encodeURIComponent(window.location.pathname)}`);
  }
  const data = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

function showStatus(node, text, ok) {
  node.textContent = text;
  node.classList.toggle("error", !ok);
  node.classList.toggle("ok", ok);
}

// ---- formatting ----

function clock(seconds) {
  const ms = Math.round(seconds * 1000);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

function shortDuration(seconds) {
  const m = Math.floor(seconds / 60);
  const s = (seconds % 60).toFixed(1);
  return m ? `${m} min ${s} s` : `${s} s`;
}

function bytes(size) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function videoName(id) {
  const video = state.known.get(id);
  return video ? `#${id} ${video.name}` : `#${id}`;
}

function origin(video) {
  if (video.kind === "upload") return "Upload";
  const job = video.produced_by ? ` · job ${video.produced_by.job_id}` : "";
  if (video.trim_info) {
    const { trim_start, trim_end, video_id } = video.trim_info;
    return `Trim of #${video_id}, ${clock(trim_start / 1000)}–${clock(trim_end / 1000)}${trimMethod(video.trim_info)}${job}`;
  }
  if (video.concat_info && video.concat_info.segments) {
    const parts = video.concat_info.segments.map((s) => `#${s.video_id} ${clock(s.start / 1000)}–${clock(s.end / 1000)}`);
    return `Edit of ${parts.join(" + ")}${job}`;
  }
  if (video.concat_info) return `Concat of ${video.concat_info.video_ids.map((id) => `#${id}`).join(" + ")}${job}`;
  if (video.encode_info) {
    const info = video.encode_info;
    return `Encode of #${info.video_id} to ${info.video_codec}/${info.audio_codec}, ${info.resolution}, ${info.frame_rate} fps${job}`;
  }
  return `Result${job}`;
}

// A job's input: a video id, or {"job_id": N} for the output of a job not run yet.
function inputName(input) {
  return typeof input === "object" ? `output of job ${input.job_id}` : `#${input}`;
}

// How a trim was cut: smart, re-encoded (and why, when smart was asked), or copied from
// a keyframe (and where it really starts).
function trimMethod(info) {
  if (!info.trim_method) return "";
  if (info.trim_method === "keyframe") return ` · keyframe copy from ${clock(info.real_start / 1000)}`;
  if (info.fallback_reason) return ` · re-encoded: ${info.fallback_reason}`;
  return info.trim_method === "smart" ? " · smart cut" : " · re-encoded";
}

function jobSummary(job) {
  const p = job.params;
  if (job.kind === "trim") {
    const method = p.trim_method ? trimMethod(p) : ` · ${p.mode || "smart"}`;
    return `${videoName(p.video_id)}, ${clock(p.trim_start_ms / 1000)} → ${clock(p.trim_end_ms / 1000)}${method}`;
  }
  if (job.kind === "concat") return p.video_ids.map(inputName).join(" + ");
  if (job.kind === "edit") {
    return p.segments.map((s) => `${inputName(s.video_id)} ${clock(s.start_ms / 1000)} → ${clock(s.end_ms / 1000)}`).join(" + ");
  }
  return `${videoName(p.video_id)} → ${p.video_codec}/${p.audio_codec}, ${p.resolution}, ${p.frame_rate} fps, ${p.container}`;
}

// ---- requester code ----

function askCode() {
  $("#code-input").value = state.code;
  $("#code-dialog").showModal();
}

function setCode(code) {
  state.code = code;
  localStorage.setItem(CODE_KEY, code);
  $("#code-label").textContent = code;
  refreshJobs();
}

// ---- uploads ----

function uploadFiles(files) {
  for (const file of files) uploadOne(file);
}

function uploadOne(file) {
  const bar = el("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
  const message = el("span", { class: "upload-message" }, "Uploading…");
  const item = el("li", { class: "upload" }, el("span", { class: "upload-name" }, file.name), bar, message);
  $("#upload-list").prepend(item);

  const body = new FormData();
  body.append("files", file);
  const request = new XMLHttpRequest();
  request.open("POST", "/video/upload");
  request.setRequestHeader("X-CSRFToken", CSRF_TOKEN);
  request.responseType = "json";
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
  });
  request.addEventListener("load", () => {
    if (request.status >= 200 && request.status < 300) {
      bar.value = 100;
      item.classList.add("done");
      message.textContent = `Uploaded as video #${request.response[0].id}`;
      refreshLibrary();
    } else {
      item.classList.add("refused");
      message.textContent = `Refused: ${(request.response && request.response.detail) || `HTTP ${request.status}`}`;
    }
  });
  request.addEventListener("error", () => {
    item.classList.add("refused");
    message.textContent = "Failed: the connection was lost";
  });
  request.send(body);
}

function setUpUploads() {
  const input = $("#file-input");
  const zone = $("#dropzone");
  input.addEventListener("change", () => {
    uploadFiles(input.files);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadFiles(event.dataTransfer.files);
  });
}

// ---- library and player ----

// One page of the library, as searched and sorted; an answer overtaken by a newer
// question (typing in the search box) is dropped.
async function refreshLibrary() {
  const library = state.library;
  const asked = ++library.asked;
  const query = new URLSearchParams({ sort: library.sort, skip: library.skip, limit: LIBRARY_PAGE });
  if (library.q) query.set("q", library.q);
  let response;
  try {
    response = await fetch(`/page/library?${query}`);
  } catch (error) {
    showStatus($("#library-status"), "Could not load the library: the connection was lost", false);
    return;
  }
  if (asked !== library.asked) return;
  if (response.status === 401) {
    window.location.assign(`/accounts/login/?next=${encodeURIComponent(window.location.pathname)}`);
    return;
  }
  const data = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
  if (!response.ok) {
    showStatus($("#library-status"), `Could not load the library: ${data.detail}`, false);
    return;
  }
  library.total = Number(response.headers.get("X-Total-Count") || data.length);
  if (data.length === 0 && library.skip > 0 && library.total > 0) {
    // the last page emptied (its videos deleted): show the one before
    library.skip = Math.max(0, Math.floor((library.total - 1) / LIBRARY_PAGE) * LIBRARY_PAGE);
    refreshLibrary();
    return;
  }
  state.videos = data;
  for (const video of data) state.known.set(video.id, video);
  renderLibrary();
  renderConcat();
}

function renderPager() {
  const { skip, total, q } = state.library;
  const shown = state.videos.length;
  $("#library-pager").hidden = total <= LIBRARY_PAGE && skip === 0;
  $("#library-range").textContent = shown ? `${skip + 1}–${skip + shown} of ${total}` : `0 of ${total}`;
  $("#library-prev").disabled = skip === 0;
  $("#library-next").disabled = skip + shown >= total;
  $("#library-empty").textContent = q ? `No video's name holds “${q}”.` : "No videos yet: upload some.";
}

function setUpLibrary() {
  let timer = null;
  $("#library-tools").addEventListener("submit", (event) => event.preventDefault());
  $("#library-search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.library.q = $("#library-search").value.trim();
      state.library.skip = 0;
      refreshLibrary();
    }, SEARCH_DELAY_MS);
  });
  $("#library-sort").addEventListener("change", () => {
    state.library.sort = $("#library-sort").value;
    state.library.skip = 0;
    refreshLibrary();
  });
  $("#library-prev").addEventListener("click", () => {
    state.library.skip = Math.max(0, state.library.skip - LIBRARY_PAGE);
    refreshLibrary();
  });
  $("#library-next").addEventListener("click", () => {
    state.library.skip += LIBRARY_PAGE;
    refreshLibrary();
  });
  $("#rename-cancel").addEventListener("click", () => $("#rename-dialog").close());
  $("#delete-cancel").addEventListener("click", () => $("#delete-dialog").close());
  $("#rename-form").addEventListener("submit", rename);
  $("#delete-form").addEventListener("submit", remove);
}

// ---- rename and delete ----

let renaming = null; // the video in the rename dialog
let deleting = null; // the video in the delete dialog

function askRename(video) {
  renaming = video;
  $("#rename-input").value = video.name;
  $("#rename-status").textContent = "";
  $("#rename-dialog").showModal();
  $("#rename-input").select();
}

async function rename(event) {
  event.preventDefault();
  const video = renaming;
  try {
    const renamed = await api("PATCH", `/video/view/info?video_id=${video.id}`, { name: $("#rename-input").value });
    $("#rename-dialog").close();
    state.known.set(renamed.id, renamed);
    if (state.current && state.current.id === renamed.id) {
      state.current = renamed;
      $("#player-caption").textContent = `#${renamed.id} ${renamed.name} — ${origin(renamed)}`;
    }
    showStatus($("#library-status"), `Video #${video.id} renamed to “${renamed.name}”.`, true);
    refreshLibrary();
    renderJobs();
    renderEdit();
  } catch (error) {
    showStatus($("#rename-status"), error.message, false);
  }
}

function askDelete(video) {
  deleting = video;
  $("#delete-what").textContent = `#${video.id} ${video.name} (${bytes(video.size)})`;
  $("#delete-dialog").showModal();
}

async function remove(event) {
  event.preventDefault();
  const video = deleting;
  $("#delete-dialog").close();
  try {
    await api("DELETE", `/video/view/info?video_id=${video.id}`);
  } catch (error) {
    showStatus($("#library-status"), error.message, false);
    return;
  }
  state.known.delete(video.id);
  if (state.current && state.current.id === video.id) {
    state.current = null;
    const player = $("#player");
    player.removeAttribute("src");
    player.load();
    $("#player-box").hidden = true;
    $("#tools").hidden = true;
    $("#player-empty").hidden = false;
  }
  if (state.concat.includes(video.id)) {
    state.concat = state.concat.filter((id) => id !== video.id);
    await loadCandidates();
  }
  state.edit.segments = state.edit.segments.filter((segment) => segment.video_id !== video.id);
  renderEdit();
  showStatus($("#library-status"), `Video #${video.id} “${video.name}” deleted.`, true);
  refreshLibrary();
}

function renderLibrary() {
  $("#library-empty").hidden = state.videos.length > 0;
  renderPager();
  const first = state.concat[0];
  $("#library").replaceChildren(
    ...state.videos.map((video) => {
      const reason = first !== undefined && video.id !== first ? state.candidates[video.id] : null;
      const blocked = Boolean(reason) && !normalizingConcat();
      const poster = video.thumbnail_url
        ? el("img", { src: video.thumbnail_url, alt: "", loading: "lazy" })
        : el("span", { class: "no-poster" }, "no preview");
      return el(
        "li",
        { class: `card${state.current && state.current.id === video.id ? " playing" : ""}`, "data-video-id": video.id },
        el("button", { type: "button", class: "poster", "aria-label": `Play ${video.name}`, onclick: () => play(video) }, poster,
          el("span", { class: "duration" }, shortDuration(video.duration))),
        el("div", { class: "card-body" },
          el("h3", {}, el("span", { class: "video-id" }, `#${video.id}`), " ", video.name),
          el("p", { class: `kind kind-${video.kind}` }, origin(video)),
          el("dl", { class: "meta" },
            el("dt", {}, "Codecs"), el("dd", {}, `${video.video_codec} / ${video.audio_codec || "no audio"}`),
            el("dt", {}, "Size"), el("dd", {}, `${video.resolution.replace(":", "×")} · ${video.fps} fps`),
            el("dt", {}, "File"), el("dd", {}, `${video.extension} · ${bytes(video.size)}`)),
          reason ? el("p", { class: "incompatible" }, `${blocked ? "Cannot join" : "Will be re-encoded"}: ${reason}`) : null,
          el("div", { class: "card-actions" },
            el("button", { type: "button", class: "secondary", onclick: () => play(video) }, "Play"),
            el("button", {
              type: "button",
              class: "secondary",
              disabled: blocked || state.concat.includes(video.id),
              onclick: () => addToConcat(video.id),
            }, "Add to concat"),
            video.kind === "result"
              ? el("a", { class: "button secondary", href: video.url, download: video.name }, "Download")
              : null,
            el("button", { type: "button", class: "secondary", "aria-label": `Rename ${video.name}`, onclick: () => askRename(video) }, "Rename"),
            el("button", { type: "button", class: "danger", "aria-label": `Delete ${video.name}`, onclick: () => askDelete(video) }, "Delete"))),
      );
    }),
  );
}

function play(video) {
  state.current = video;
  const player = $("#player");
  player.src = video.url;
  player.poster = video.thumbnail_url || "";
  $("#player-caption").textContent = `#${video.id} ${video.name} — ${origin(video)}`;
  $("#player-box").hidden = false;
  $("#tools").hidden = false;
  $("#player-empty").hidden = true;
  $("#trim-start").value = "0";
  $("#trim-end").value = clock(video.duration);
  state.edit.in = state.edit.out = null; // marks belong to the video they were made on
  renderEdit();
  $("#encode-resolution").value = video.resolution;
  $("#encode-fps").value = Math.round(video.fps);
  for (const node of document.querySelectorAll("#tools .form-status")) node.textContent = "";
  renderLibrary();
  player.focus();
}

// ---- forms ----

function setUpForms() {
  $("#trim-start-now").addEventListener("click", () => { $("#trim-start").value = clock($("#player").currentTime); });
  $("#trim-end-now").addEventListener("click", () => { $("#trim-end").value = clock($("#player").currentTime); });

  submitting($("#trim-form"), "/video/process/trim", () => ({
    video_id: state.current.id,
    trim_start: $("#trim-start").value.trim(),
    trim_end: $("#trim-end").value.trim(),
    mode: $("#trim-mode").value,
  }));
  submitting($("#encode-form"), "/video/process/encoding", () => ({
    video_id: state.current.id,
    video_codec: $("#encode-video-codec").value,
    audio_codec: $("#encode-audio-codec").value,
    resolution: $("#encode-resolution").value.trim(),
    frame_rate: Number($("#encode-fps").value),
    container: $("#encode-container").value || null,
  }));
  submitting($("#concat-form"), "/video/process/concat", () => ({
    video_ids: state.concat,
    ...(normalizingConcat() ? { normalize: true } : {}),
  }), () => {
    state.concat = [];
    renderConcat();
    renderLibrary();
  });
}

function normalizingConcat() {
  return $("#concat-normalize").checked;
}

// Posts a form's fields with the requester code; shows the API's message or its reason.
function submitting(form, url, fields, afterQueued) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = form.querySelector(".form-status");
    try {
      const result = await api("POST", url, { request_code: state.code, ...fields() });
      showStatus(status, `${result.message} (job ${result.job_id})`, true);
      if (afterQueued) afterQueued();
      refreshJobs();
    } catch (error) {
      showStatus(status, error.message, false);
    }
  });
}

// ---- concat ----

async function addToConcat(id) {
  state.concat.push(id);
  if (state.concat.length === 1) await loadCandidates();
  renderConcat();
  renderLibrary();
}

function moveInConcat(index, by) {
  const [id] = state.concat.splice(index, 1);
  state.concat.splice(index + by, 0, id);
  afterConcatChange();
}

function removeFromConcat(index) {
  state.concat.splice(index, 1);
  afterConcatChange();
}

async function afterConcatChange() {
  await loadCandidates();
  renderConcat();
  renderLibrary();
}

async function loadCandidates() {
  state.candidates = state.concat.length
    ? await api("GET", `/page/concat-candidates?video_id=${state.concat[0]}`)
    : {};
}

function renderConcat() {
  const list = state.concat;
  $("#concat-empty").hidden = list.length > 0;
  let joinable = list.length >= 2;
  $("#concat-list").replaceChildren(
    ...list.map((id, index) => {
      const reason = index > 0 ? state.candidates[id] : null;
      if (reason && !normalizingConcat()) joinable = false;
      const name = videoName(id);
      return el("li", { class: reason ? "incompatible-item" : "" },
        el("span", { class: "concat-name" }, name),
        reason ? el("span", { class: "incompatible" }, reason) : null,
        el("span", { class: "concat-buttons" },
          el("button", { type: "button", class: "icon", "aria-label": `Move ${name} up`, disabled: index === 0, onclick: () => moveInConcat(index, -1) }, "↑"),
          el("button", { type: "button", class: "icon", "aria-label": `Move ${name} down`, disabled: index === list.length - 1, onclick: () => moveInConcat(index, 1) }, "↓"),
          el("button", { type: "button", class: "icon", "aria-label": `Remove ${name}`, onclick: () => removeFromConcat(index) }, "✕")));
    }),
  );
  $("#concat-submit").disabled = !joinable;
}

// ---- edit: marks from the player, segments in order ----

// The frame the player shows, by index, on the current video's frame grid.
function frameIndex() {
  return Math.floor($("#player").currentTime * state.current.fps + 1e-6);
}

function stepFrame(by) {
  const player = $("#player");
  player.pause();
  const index = Math.max(0, frameIndex() + by);
  // The middle of the frame, so that the player shows that frame and no neighbour.
  player.currentTime = Math.min((index + 0.5) / state.current.fps, state.current.duration);
}

// In: where the shown frame starts. Out: where it ends, so the frame is kept.
function mark(which) {
  const index = frameIndex() + (which === "out" ? 1 : 0);
  state.edit[which] = Math.min(index / state.current.fps, state.current.duration);
  state.edit.video_id = state.current.id;
  renderEdit();
}

function addSegment() {
  const { in: start, out: end } = state.edit;
  const status = $("#edit-form .form-status");
  if (start === null || end === null || state.edit.video_id !== state.current.id) {
    showStatus(status, "Mark in and out on this video first.", false);
    return;
  }
  if (end <= start) {
    showStatus(status, "The out mark must be after the in mark.", false);
    return;
  }
  state.edit.segments.push({ video_id: state.current.id, start, end });
  state.edit.in = state.edit.out = null;
  showStatus(status, `Segment ${state.edit.segments.length} added.`, true);
  renderEdit();
}

function moveSegment(index, by) {
  const [segment] = state.edit.segments.splice(index, 1);
  state.edit.segments.splice(index + by, 0, segment);
  renderEdit();
}

function removeSegment(index) {
  state.edit.segments.splice(index, 1);
  renderEdit();
}

// Times go to the API floored to the millisecond: a frame's start then still names it.
function apiTime(seconds) {
  return clock(Math.floor(seconds * 1000 + 1e-6) / 1000);
}

function renderEdit() {
  const { segments } = state.edit;
  $("#edit-in").textContent = state.edit.in === null ? "—" : clock(state.edit.in);
  $("#edit-out").textContent = state.edit.out === null ? "—" : clock(state.edit.out);
  $("#edit-list").replaceChildren(
    ...segments.map((segment, index) => {
      const name = `segment ${index + 1}: ${videoName(segment.video_id)} ${clock(segment.start)} to ${clock(segment.end)}`;
      return el("li", {},
        el("span", { class: "concat-name" }, `${videoName(segment.video_id)}, ${clock(segment.start)} → ${clock(segment.end)}`),
        el("span", { class: "concat-buttons" },
          el("button", { type: "button", class: "icon", "aria-label": `Move ${name} up`, disabled: index === 0, onclick: () => moveSegment(index, -1) }, "↑"),
          el("button", { type: "button", class: "icon", "aria-label": `Move ${name} down`, disabled: index === segments.length - 1, onclick: () => moveSegment(index, 1) }, "↓"),
          el("button", { type: "button", class: "icon", "aria-label": `Remove ${name}`, onclick: () => removeSegment(index) }, "✕")));
    }),
  );
  const total = segments.reduce((sum, segment) => sum + segment.end - segment.start, 0);
  $("#edit-total").textContent = shortDuration(total);
  $("#edit-submit").disabled = segments.length === 0;
}

const EDIT_KEYS = {
  i: () => mark("in"),
  o: () => mark("out"),
  ",": () => stepFrame(-1),
  ".": () => stepFrame(1),
  a: addSegment,
};

function setUpEdit() {
  $("#edit-mark-in").addEventListener("click", () => mark("in"));
  $("#edit-mark-out").addEventListener("click", () => mark("out"));
  $("#edit-frame-back").addEventListener("click", () => stepFrame(-1));
  $("#edit-frame-forward").addEventListener("click", () => stepFrame(1));
  $("#edit-add").addEventListener("click", addSegment);
  $("#edit-clear").addEventListener("click", () => {
    state.edit.segments = [];
    renderEdit();
  });
  submitting($("#edit-form"), "/video/process/edit", () => ({
    segments: state.edit.segments.map((s) => ({ video_id: s.video_id, start: apiTime(s.start), end: apiTime(s.end) })),
    ...($("#edit-normalize").checked ? { normalize: true } : {}),
  }), () => {
    state.edit.segments = [];
    renderEdit();
  });
  // The keys work wherever typing is not going on, once a video is in the player.
  document.addEventListener("keydown", (event) => {
    const action = EDIT_KEYS[event.key.toLowerCase()];
    if (!action || !state.current || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea, [contenteditable], dialog[open]")) return;
    event.preventDefault();
    action();
  });
}

// ---- the queue ----

let pollTimer = null;

async function refreshJobs() {
  clearTimeout(pollTimer);
  if (state.code) {
    try {
      const before = new Map(state.jobs.map((job) => [job.id, job.status]));
      state.jobs = await api("GET", `/video/process/jobs?request_code=${encodeURIComponent(state.code)}`);
      renderJobs();
      if (state.jobs.some((job) => job.status === "succeeded" && before.get(job.id) !== "succeeded")) refreshLibrary();
    } catch (error) {
      showStatus($("#execute-status"), `Could not load the queue: ${error.message}`, false);
    }
  }
  const busy = state.executing || state.jobs.some((job) => UNFINISHED.includes(job.status));
  pollTimer = setTimeout(refreshJobs, busy ? POLL_BUSY_MS : POLL_IDLE_MS);
}

function renderJobs() {
  const jobs = [...state.jobs].reverse(); // newest first
  $("#queue-empty").hidden = jobs.length > 0;
  $("#queue").replaceChildren(
    ...jobs.map((job) => el("li", { class: `job status-${job.status}`, "data-job-id": job.id },
      el("div", { class: "job-head" },
        el("strong", {}, `#${job.id} ${job.kind}`),
        el("span", { class: "badge" }, job.status)),
      el("p", { class: "job-what" }, jobSummary(job)),
      el("progress", { max: 100, value: job.progress, "aria-label": `Progress of job ${job.id}` }),
      job.error ? el("p", { class: "job-error" }, job.error) : null,
      el("div", { class: "card-actions" },
        job.output_video_id ? el("button", { type: "button", class: "secondary", onclick: () => playById(job.output_video_id) }, `Play result #${job.output_video_id}`) : null,
        UNFINISHED.includes(job.status)
          ? el("button", { type: "button", class: "secondary", onclick: () => jobAction(job, "cancel") }, "Cancel") : null,
        job.status === "failed" || job.status === "cancelled"
          ? el("button", { type: "button", class: "secondary", onclick: () => jobAction(job, "retry") }, "Retry") : null))),
  );
}

function playById(id) {
  const video = state.known.get(id);
  if (video) play(video);
}

async function jobAction(job, action) {
  try {
    await api("POST", `/video/process/jobs/${job.id}/${action}`);
  } catch (error) {
    showStatus($("#execute-status"), error.message, false);
  }
  refreshJobs();
}

async function execute() {
  const button = $("#execute");
  const status = $("#execute-status");
  button.disabled = true;
  state.executing = true;
  showStatus(status, "Executing…", true);
  refreshJobs();
  try {
    const result = await api("POST", "/video/process/execute", { request_code: state.code });
    showStatus(status, result.message, true);
  } catch (error) {
    showStatus(status, error.message, false);
  } finally {
    state.executing = false;
    button.disabled = false;
    refreshJobs();
    refreshLibrary();
  }
}

// ---- API tokens (shown when accounts are on) ----

async function refreshTokens() {
  const tokens = await api("GET", "/page/tokens");
  $("#tokens").replaceChildren(
    ...tokens.map((token) =>
      el(
        "li",
        {},
        el("code", {}, `${token.token_key}…`),
        ` ${token.expiry ? `expires ${new Date(token.expiry).toLocaleString()}` : "until revoked"} `,
        el(
          "button",
          { type: "button", class: "link-button", onclick: () => revokeToken(token.token_key) },
          `Revoke ${token.token_key}`,
        ),
      ),
    ),
  );
  $("#tokens-empty").hidden = tokens.length > 0;
}

async function createToken(event) {
  event.preventDefault();
  const days = $("#token-days").value;
  try {
    const token = await api("POST", "/page/tokens", days ? { days: Number(days) } : {});
    $("#token-key").textContent = token.key;
    $("#token-new").hidden = false;
    showStatus($("#tokens-status"), `Token ${token.token_key} created.`, true);
    await refreshTokens();
  } catch (error) {
    showStatus($("#tokens-status"), error.message, false);
  }
}

async function revokeToken(tokenKey) {
  try {
    await api("DELETE", `/page/tokens/${tokenKey}`);
    $("#token-new").hidden = true;
    showStatus($("#tokens-status"), `Token ${tokenKey} revoked.`, true);
    await refreshTokens();
  } catch (error) {
    showStatus($("#tokens-status"), error.message, false);
  }
}

// ---- start ----

document.addEventListener("DOMContentLoaded", () => {
  $("#code-form").addEventListener("submit", () => setCode($("#code-input").value.trim()));
  $("#code-change").addEventListener("click", askCode);
  // Escape may close the dialog only once there is a code to fall back on.
  $("#code-dialog").addEventListener("cancel", (event) => {
    if (!state.code) event.preventDefault();
  });
  $("#execute").addEventListener("click", execute);
  $("#concat-clear").addEventListener("click", () => {
    state.concat = [];
    afterConcatChange();
  });
  setUpUploads();
  setUpLibrary();
  setUpForms();
  setUpEdit();
  $("#concat-normalize").addEventListener("change", () => {
    renderConcat();
    renderLibrary();
  });
  if ($("#token-form")) {
    $("#token-form").addEventListener("submit", createToken);
    refreshTokens();
  }
  refreshLibrary();
  if (state.code) setCode(state.code);
  else askCode();
});
