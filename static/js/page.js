// The page: uploads, the library and player, the encode and concat tools and the
// requester's queue. It talks to the same API as any client, plus the page endpoints
// (/page/*). The timeline editor (editor.js, loaded after this file) marks ranges, trims
// and edits; it uses what this file shares as window.videoproc (see the end of the file).
"use strict";

const CODE_KEY = "videoproc.requestCode";
const POLL_BUSY_MS = 1000; // while a job may still change: cards follow it each second
const POLL_IDLE_MS = 5000; // otherwise: notice jobs queued from elsewhere
const TICK_MS = 1000; // running cards count their elapsed time between polls
const UNFINISHED = ["pending", "queued", "running"]; // a job that may still change
const LIBRARY_PAGE = 24; // cards per library page
const SEARCH_DELAY_MS = 250; // typing pauses this long before the library is searched
const NOTICES_KEPT = 3; // the newest notices shown at once

const state = {
  code: localStorage.getItem(CODE_KEY) || "",
  videos: [], // the library page shown
  known: new Map(), // every video seen, by id: names for the concat and queue lists
  library: { q: "", sort: "newest", skip: 0, total: 0, asked: 0 },
  current: null, // the video in the player
  concat: [], // video ids, in play order
  candidates: {}, // id -> why it cannot follow the first concat video (null: it can)
  jobs: [], // the requester's jobs, oldest first, each with `seenAt` (performance.now())
  jobsTag: null, // the ETag of the jobs answer shown, for If-None-Match
  jobsFallback: false, // /page/jobs is missing: read the API's job list instead
  presets: [], // the encode presets offered for the current video
  encodeTouched: false, // the encode fields were changed by hand since the video was played
  rendering: new Map(), // job id -> the status line of the form that rendered it
  executing: 0, // executes started by this page and not answered yet
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

function signInAgain() {
  // The session ended (signed out elsewhere, or expired): sign in again, then come back.
  window.location.assign(`/accounts/login/?next=${encodeURIComponent(window.location.pathname)}`);
}

async function api(method, url, body) {
  const headers = body ? { "Content-Type": "application/json" } : {};
  if (method !== "GET") headers["X-CSRFToken"] = CSRF_TOKEN;
  const response = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (response.status === 401) signInAgain();
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

// A span of time as a person reads it on a job card: 0:07, 1:05, 1:02:09, in whole
// seconds as a clock counts them (rounded up for a time left, or a run's whole length).
function minutes(seconds, wholeSeconds = Math.floor) {
  const whole = Math.max(0, wholeSeconds(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
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

// An estimate, rounded as far as it deserves: "about 12 MB", "about 3.4 MB".
function aboutBytes(size) {
  const [value, unit] = bytes(size).split(" ");
  return `about ${Number(value) >= 10 ? Math.round(value) : value} ${unit}`;
}

function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${suffix}`;
}

// A job's input: a video id, or {"job_id": N} for the output of a job not run yet.
function videoName(input) {
  if (input !== null && typeof input === "object") return `output of job ${input.job_id}`;
  const video = state.known.get(input);
  return video ? `#${input} ${video.name}` : `#${input}`;
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
  if (job.kind === "concat") return p.video_ids.map(videoName).join(" + ");
  if (job.kind === "edit") {
    return p.segments.map((s) => `${videoName(s.video_id)} ${clock(s.start_ms / 1000)} → ${clock(s.end_ms / 1000)}`).join(" + ");
  }
  const container = p.container ? `, ${p.container}` : "";
  return `${videoName(p.video_id)} → ${p.video_codec}/${p.audio_codec}, ${p.resolution}, ${p.frame_rate} fps${container}`;
}

// ---- requester code ----

// Until a code is given the dialog stays open: every action is queued under one. Once
// there is one, Escape or a blank answer keeps it.
function askCode() {
  $("#code-input").value = state.code;
  $("#code-status").textContent = "";
  if (!$("#code-dialog").open) $("#code-dialog").showModal();
}

function saveCode(event) {
  const code = $("#code-input").value.trim();
  if (!code) {
    event.preventDefault();
    showStatus($("#code-status"), "Give a code: your jobs are queued under it.", false);
    return;
  }
  setCode(code);
}

function setCode(code) {
  state.code = code;
  localStorage.setItem(CODE_KEY, code);
  $("#code-label").textContent = code;
  state.jobs = [];
  state.jobsTag = null;
  renderJobs();
  refreshJobs();
  document.dispatchEvent(new CustomEvent("videoproc:code"));
}

function setUpCode() {
  $("#code-form").addEventListener("submit", saveCode);
  $("#code-change").addEventListener("click", askCode);
  const dialog = $("#code-dialog");
  dialog.addEventListener("cancel", (event) => {
    if (!state.code) event.preventDefault();
  });
  // Chromium lets a second Escape close a dialog whatever its cancel handler says.
  dialog.addEventListener("close", () => {
    if (!state.code) askCode();
  });
}
// ---- uploads ----

function uploadFiles(files) {
  for (const file of files) uploadOne(file);
}

// Uploads go by tus (/video/uploads/, the vendored tus-js-client): the file is sent in
// chunks, a dropped connection is retried from where the server is (RETRY_DELAYS), an
// upload can be paused and resumed, and one cut short by a reload resumes when the same
// file is chosen again. Without tus (its script missing, an old browser): one plain PUT.
const UPLOAD_CHUNK_BYTES = 32 * 1024 * 1024;
const UPLOAD_RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

function uploadOne(file) {
  const bar = el("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
  const message = el("span", { class: "upload-message" }, "Uploading…");
  const item = el("li", { class: "upload" }, el("span", { class: "upload-name" }, file.name), bar, message);
  $("#upload-list").prepend(item);
  const view = { item, bar, message };
  if (window.tus && window.tus.isSupported) uploadResumable(file, view);
  else uploadPlain(file, view);
}

function uploadDone(view, video) {
  view.bar.value = 100;
  view.item.classList.add("done");
  view.message.textContent = `Uploaded as video #${video.id}`;
  refreshLibrary();
}

function uploadRefused(view, text) {
  view.item.classList.add("refused");
  view.message.textContent = text;
}

function uploadResumable(file, view) {
  const pause = el("button", { type: "button", class: "upload-pause" }, "Pause");
  view.item.append(pause);
  const upload = new window.tus.Upload(file, {
    endpoint: "/video/uploads/",
    chunkSize: UPLOAD_CHUNK_BYTES,
    retryDelays: UPLOAD_RETRY_DELAYS_MS,
    metadata: { filename: file.name, filetype: file.type },
    headers: { "X-CSRFToken": CSRF_TOKEN },
    removeFingerprintOnSuccess: true,
    onProgress(sent, total) {
      view.bar.value = Math.round((sent / total) * 100);
    },
    async onSuccess() {
      pause.remove();
      view.message.textContent = "Checking the video…";
      try {
        const [video] = await api("GET", upload.url);
        uploadDone(view, video);
      } catch (error) {
        uploadRefused(view, `Refused: ${error.message}`);
      }
    },
    onError(error) {
      pause.remove();
      const response = error.originalResponse;
      if (!response) {
        uploadRefused(view, "Failed: the connection was lost (choose the file again to resume)");
        return;
      }
      if (response.getStatus() === 401) signInAgain();
      let detail = `HTTP ${response.getStatus()}`;
      try {
        detail = JSON.parse(response.getBody()).detail || detail;
      } catch {
        // not our JSON (a proxy's page): the status says enough
      }
      uploadRefused(view, `Refused: ${detail}`);
    },
  });
  pause.addEventListener("click", () => {
    const paused = pause.textContent === "Resume";
    if (paused) {
      upload.start();
      view.message.textContent = "Uploading…";
    } else {
      upload.abort();
      view.message.textContent = "Paused";
    }
    pause.textContent = paused ? "Pause" : "Resume";
  });
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

function uploadPlain(file, view) {
  const body = new FormData();
  body.append("files", file);
  const request = new XMLHttpRequest();
  request.open("POST", "/video/upload");
  request.setRequestHeader("X-CSRFToken", CSRF_TOKEN);
  request.responseType = "json";
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) view.bar.value = Math.round((event.loaded / event.total) * 100);
  });
  request.addEventListener("load", () => {
    if (request.status >= 200 && request.status < 300) {
      uploadDone(view, request.response[0]);
    } else {
      uploadRefused(view, `Refused: ${(request.response && request.response.detail) || `HTTP ${request.status}`}`);
    }
  });
  request.addEventListener("error", () => uploadRefused(view, "Failed: the connection was lost"));
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
// question (typing in the search box) is dropped. Each refresh shown is announced to
// the editor as a "videoproc:library" event.
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
    signInAgain();
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
  document.dispatchEvent(new CustomEvent("videoproc:library"));
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
        : el("span", { class: "no-poster" }, video.video_codec ? "no preview" : "sound only");
      return el(
        "li",
        { class: `card${state.current && state.current.id === video.id ? " playing" : ""}`, "data-video-id": video.id },
        el("button", { type: "button", class: "poster", "aria-label": `Play ${video.name}`, onclick: () => play(video) }, poster,
          el("span", { class: "duration" }, shortDuration(video.duration))),
        el("div", { class: "card-body" },
          el("h3", {}, el("span", { class: "video-id" }, `#${video.id}`), " ", video.name),
          el("p", { class: `kind kind-${video.kind}` }, origin(video)),
          el("dl", { class: "meta" },
            el("dt", {}, "Codecs"), el("dd", {}, `${video.video_codec || "no picture"} / ${video.audio_codec || "no audio"}`),
            el("dt", {}, "Size"), el("dd", {}, video.video_codec ? `${video.resolution.replace(":", "×")} · ${video.fps} fps` : "sound only"),
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

// Puts a video in the player, shows the tools for it, and tells the editor
// ("videoproc:play").
function play(video) {
  state.current = video;
  const player = $("#player");
  player.src = video.url;
  player.poster = video.thumbnail_url || "";
  $("#player-caption").textContent = `#${video.id} ${video.name} — ${origin(video)}`;
  $("#player-box").hidden = false;
  $("#tools").hidden = false;
  $("#player-empty").hidden = true;
  $("#encode-resolution").value = video.resolution;
  $("#encode-fps").value = Math.round(video.fps);
  state.encodeTouched = false;
  for (const node of document.querySelectorAll("#tools .form-status")) node.textContent = "";
  loadPresets(video);
  renderLibrary();
  player.focus();
  document.dispatchEvent(new CustomEvent("videoproc:play", { detail: { video } }));
}

// Plays a video by id: one not seen yet (a new result) is looked for in the library
// page shown, refreshed.
async function playById(id) {
  if (!state.known.has(id)) await refreshLibrary();
  const video = state.known.get(id);
  if (video) play(video);
  else showStatus($("#execute-status"), `Video #${id} is not in the library page shown: search for it there.`, false);
}

// ---- rendering: queue a job and start it at once ----

// Queues a job at a /video/process/* endpoint under the requester code and starts it:
// the promise holds the API's answer (with its job_id), or null when it was refused
// (the reason is in statusNode). The job's card in the queue follows its progress.
async function render(url, body, statusNode) {
  if (!state.code) {
    askCode();
    showStatus(statusNode, "Give a requester code first.", false);
    return null;
  }
  showStatus(statusNode, "Rendering…", true);
  let queued;
  try {
    queued = await api("POST", url, { ...body, request_code: state.code });
  } catch (error) {
    showStatus(statusNode, error.message, false);
    return null;
  }
  showStatus(statusNode, `Rendering… (job ${queued.job_id}; its card in your queue shows how far it is)`, true);
  state.rendering.set(queued.job_id, statusNode);
  startWaitingJobs(statusNode);
  return queued;
}

// Starts the requester's jobs not started yet, one execute at a time: a render asked
// while one runs is started by the next, which is sent when the first answers (if a
// job is still not started by then).
let executeAgain = null;

async function startWaitingJobs(statusNode) {
  if (state.executing) {
    executeAgain = statusNode;
    return;
  }
  state.executing += 1;
  refreshJobs();
  try {
    await api("POST", "/video/process/execute", { request_code: state.code, wait: false });
  } catch (error) {
    // A job's own failure then replaces this, once its card shows it.
    showStatus(statusNode, error.message, false);
  } finally {
    state.executing -= 1;
  }
  await refreshJobs();
  const next = executeAgain;
  executeAgain = null;
  if (next && state.jobs.some((job) => job.status === "pending")) startWaitingJobs(next);
}

// What a render's form says once its job has finished.
function renderFinished(job) {
  const statusNode = state.rendering.get(job.id);
  if (!statusNode) return;
  state.rendering.delete(job.id);
  if (job.status === "succeeded") {
    // The result opens in the player, unless the player is busy showing something.
    const idle = $("#player").paused && state.known.has(job.output_video_id);
    if (idle) playById(job.output_video_id);
    showStatus(statusNode, `Done: job ${job.id} made ${videoName(job.output_video_id)}${idle ? ", now in the player" : ""}.`, true);
  }
  else if (job.status === "failed") showStatus(statusNode, `Job ${job.id} failed: ${job.error}`, false);
  else showStatus(statusNode, `Job ${job.id} was cancelled.`, true);
}

// ---- encode: presets, or the codecs and sizes themselves ----

const ENCODE_FIELDS = {
  video_codec: "#encode-video-codec",
  audio_codec: "#encode-audio-codec",
  resolution: "#encode-resolution",
  frame_rate: "#encode-fps",
  container: "#encode-container",
};

// The presets offered for this video (/page/presets); without them (an older server
// answers 404) the form offers the advanced fields alone. The first is chosen, unless
// the fields were changed by hand while the presets were on their way.
async function loadPresets(video) {
  state.presets = [];
  renderPresets();
  let response;
  try {
    response = await fetch(`/page/presets?video_id=${video.id}`);
  } catch (error) {
    return;
  }
  if (!state.current || state.current.id !== video.id) return; // another video since
  if (!response.ok) return;
  state.presets = await response.json();
  renderPresets();
  if (state.presets.length && !state.encodeTouched) choosePreset(state.presets[0]);
}

function renderPresets() {
  const offered = state.presets.length > 0;
  $("#encode-presets").hidden = !offered;
  $("#encode-advanced").open = !offered || state.encodeTouched;
  $("#encode-preset-list").replaceChildren(
    ...state.presets.map((preset, index) => {
      const id = `encode-preset-${index}`;
      return el("div", { class: "preset" },
        el("input", {
          type: "radio", name: "preset", id, value: preset.id,
          "aria-labelledby": `${id}-name`, "aria-describedby": `${id}-about`, onchange: () => choosePreset(preset),
        }),
        el("label", { for: id },
          el("span", { class: "preset-label", id: `${id}-name` }, preset.label),
          el("span", { class: "preset-about", id: `${id}-about` },
            el("span", { class: "preset-size" }, aboutBytes(preset.estimated_bytes)),
            preset.note ? el("span", { class: "preset-note" }, preset.note) : null)));
    }),
  );
}

function choosePreset(preset) {
  const index = state.presets.indexOf(preset);
  $(`#encode-preset-${index}`).checked = true;
  for (const [name, selector] of Object.entries(ENCODE_FIELDS)) {
    const field = $(selector);
    const value = preset.params[name];
    if (field.tagName === "SELECT" && value && ![...field.options].some((option) => option.value === String(value))) {
      field.append(el("option", {}, String(value))); // an encoder the lists leave out
    }
    field.value = value ?? "";
  }
}

function encodeParams() {
  return {
    video_id: state.current.id,
    video_codec: $("#encode-video-codec").value,
    audio_codec: $("#encode-audio-codec").value,
    resolution: $("#encode-resolution").value.trim(),
    frame_rate: Number($("#encode-fps").value),
    container: $("#encode-container").value || null,
  };
}

function setUpEncode() {
  // Fields changed by hand are no preset's any more.
  $("#encode-advanced").addEventListener("input", () => {
    state.encodeTouched = true;
    for (const radio of document.querySelectorAll("#encode-preset-list input")) radio.checked = false;
  });
  $("#encode-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("#encode-submit");
    button.disabled = true;
    try {
      await render("/video/process/encoding", encodeParams(), $("#encode-form .form-status"));
    } finally {
      button.disabled = false;
    }
  });
}

// ---- concat ----

function normalizingConcat() {
  return $("#concat-normalize").checked;
}

function setUpConcat() {
  $("#concat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { video_ids: state.concat, ...(normalizingConcat() ? { normalize: true } : {}) };
    $("#concat-submit").disabled = true;
    const queued = await render("/video/process/concat", body, $("#concat-form .form-status"));
    if (queued) {
      state.concat = [];
      await loadCandidates();
      renderLibrary();
    }
    renderConcat();
  });
  $("#concat-clear").addEventListener("click", () => {
    state.concat = [];
    afterConcatChange();
  });
  $("#concat-normalize").addEventListener("change", () => {
    renderConcat();
    renderLibrary();
  });
}

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

// ---- the queue ----

// Jobs come from /page/jobs, which adds how long each has run and is likely to run,
// and answers 304 while nothing changed; a server without it answers 404, and the
// API's job list is read instead (times are then reckoned here from the timestamps).
let pollTimer = null;
let jobsAsked = 0;
const jobCards = new Map(); // job id -> {key, node}: a card is rebuilt only when it changed
const watched = new Set(); // jobs seen unfinished, or rendered here: their ending is news

async function refreshJobs() {
  clearTimeout(pollTimer);
  if (state.code) await loadJobs();
  const busy = state.executing > 0 || state.jobs.some((job) => UNFINISHED.includes(job.status));
  clearTimeout(pollTimer);
  pollTimer = setTimeout(refreshJobs, busy ? POLL_BUSY_MS : POLL_IDLE_MS);
}

async function loadJobs() {
  const code = state.code;
  const asked = ++jobsAsked;
  const query = `request_code=${encodeURIComponent(code)}`;
  const url = state.jobsFallback ? `/video/process/jobs?${query}` : `/page/jobs?${query}`;
  const headers = state.jobsTag && !state.jobsFallback ? { "If-None-Match": state.jobsTag } : {};
  let response;
  try {
    response = await fetch(url, { headers, cache: "no-store" });
  } catch (error) {
    showStatus($("#queue-status"), "Could not load the queue: the connection was lost", false);
    return;
  }
  if (asked !== jobsAsked || code !== state.code) return; // a newer question was asked
  if (response.status === 401) {
    signInAgain();
    return;
  }
  if (response.status === 404 && !state.jobsFallback) {
    state.jobsFallback = true;
    await loadJobs();
    return;
  }
  if (response.status === 304) return; // nothing changed; the cards tick on
  const data = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
  if (!response.ok) {
    showStatus($("#queue-status"), `Could not load the queue: ${data.detail}`, false);
    return;
  }
  $("#queue-status").textContent = "";
  state.jobsTag = response.headers.get("ETag");
  const seenAt = performance.now();
  const jobs = state.jobsFallback ? data.map(withTimes) : data.jobs;
  for (const job of jobs) job.seenAt = seenAt;
  await showJobs(jobs);
}

// The times /page/jobs gives, reckoned from a job of the API's list: the time left is
// guessed from the progress so far.
function withTimes(job) {
  const started = job.started_at ? Date.parse(job.started_at) : null;
  const until = job.finished_at ? Date.parse(job.finished_at) : Date.now();
  const elapsed = started === null ? null : Math.max(0, (until - started) / 1000);
  const guess = job.status === "running" && elapsed !== null && job.progress >= 5;
  return { ...job, elapsed_seconds: elapsed, eta_seconds: guess ? (elapsed * (100 - job.progress)) / job.progress : null };
}

async function showJobs(jobs) {
  state.jobs = jobs;
  const ended = [];
  for (const job of jobs) {
    if (UNFINISHED.includes(job.status)) watched.add(job.id);
    else if (watched.delete(job.id) || state.rendering.has(job.id)) ended.push(job);
  }
  renderJobs();
  if (ended.some((job) => job.status === "succeeded")) await refreshLibrary(); // their results
  for (const job of ended) {
    renderFinished(job);
    if (job.status !== "cancelled" && elsewhere(job)) notify(job);
  }
}

function renderJobs() {
  const jobs = [...state.jobs].reverse(); // newest first
  $("#queue-empty").hidden = jobs.length > 0;
  // Shown for jobs no execute of this page is starting (a script's, or a render's whose
  // start was refused), and while it runs them.
  const notStarted = state.executing === 0 && jobs.some((job) => job.status === "pending");
  $("#execute").hidden = !notStarted && !$("#execute").disabled;
  const nodes = jobs.map((job) => {
    const key = JSON.stringify([job.status, job.progress, job.place_in_line, job.error, job.output_video_id, jobSummary(job)]);
    const shown = jobCards.get(job.id);
    if (shown && shown.key === key) return shown.node;
    const node = jobCard(job);
    jobCards.set(job.id, { key, node });
    return node;
  });
  for (const id of jobCards.keys()) if (!jobs.some((job) => job.id === id)) jobCards.delete(id);
  // Cards that did not change stay in place, and so does the focus on their buttons.
  const list = $("#queue");
  const sameOrder = nodes.length === list.children.length
    && jobs.every((job, index) => list.children[index].dataset.jobId === String(job.id));
  if (!sameOrder) list.replaceChildren(...nodes);
  else nodes.forEach((node, index) => { if (list.children[index] !== node) list.children[index].replaceWith(node); });
  tickJobs();
}

const KIND_LABELS = { trim: "Trim", concat: "Concat", edit: "Edit", encode: "Encode" };

function jobCard(job) {
  const name = `job ${job.id}`;
  const running = job.status === "running";
  return el("li", { class: `job status-${job.status}`, "data-job-id": job.id, "data-status": job.status },
    el("div", { class: "job-head" },
      el("strong", {}, `${KIND_LABELS[job.kind] || job.kind} · job ${job.id}`),
      el("span", { class: "job-state" }, jobState(job))),
    el("p", { class: "job-what" }, jobSummary(job)),
    running ? el("progress", { max: 100, value: job.progress, "aria-label": `Progress of ${name}` }) : null,
    job.status === "failed" && job.error ? el("p", { class: "job-error" }, job.error) : null,
    el("div", { class: "card-actions" },
      job.status === "succeeded" && job.output_video_id
        ? el("button", { type: "button", class: "primary", "aria-label": `Play result #${job.output_video_id}`, onclick: () => playById(job.output_video_id) }, "Play result")
        : null,
      UNFINISHED.includes(job.status)
        ? el("button", { type: "button", class: "secondary", "aria-label": `Cancel ${name}`, onclick: () => jobAction(job, "cancel") }, "Cancel")
        : null,
      job.status === "failed" || job.status === "cancelled"
        ? el("button", { type: "button", class: "secondary", "aria-label": `Retry ${name}`, onclick: () => jobAction(job, "retry") }, "Retry")
        : null));
}

// How far a job is, in words: "Waiting — 2nd in line", "1:05 elapsed · about 0:40 left".
function jobState(job) {
  const since = (performance.now() - job.seenAt) / 1000; // the answer's age
  if (job.status === "pending") return "Not started";
  if (job.status === "queued") {
    const place = job.place_in_line;
    if (!place) return "Waiting";
    return `Waiting — ${place === 1 ? "next" : ordinal(place)} in line`;
  }
  if (job.status === "running") {
    if (job.elapsed_seconds === null || job.elapsed_seconds === undefined) return `Running · ${job.progress}%`;
    const elapsed = `${minutes(job.elapsed_seconds + since)} elapsed`;
    if (job.eta_seconds === null || job.eta_seconds === undefined) return elapsed;
    const left = job.eta_seconds - since;
    return left >= 1 ? `${elapsed} · about ${minutes(left, Math.ceil)} left` : `${elapsed} · finishing`;
  }
  if (job.status === "succeeded") {
    return job.elapsed_seconds === null || job.elapsed_seconds === undefined ? "Done" : `Done in ${minutes(job.elapsed_seconds, Math.ceil)}`;
  }
  return job.status === "failed" ? "Failed" : "Cancelled";
}

// Between polls the running cards count on by themselves.
function tickJobs() {
  for (const job of state.jobs) {
    if (job.status !== "running") continue;
    const shown = jobCards.get(job.id);
    if (shown) shown.node.querySelector(".job-state").textContent = jobState(job);
  }
}

async function jobAction(job, action) {
  try {
    await api("POST", `/video/process/jobs/${job.id}/${action}`);
  } catch (error) {
    showStatus($("#queue-status"), error.message, false);
  }
  refreshJobs();
}

// Starts the jobs queued under this code by the API's clients (scripts), which the
// page's own renders do not need.
async function runWaitingJobs() {
  const button = $("#execute");
  const status = $("#execute-status");
  button.disabled = true;
  state.executing += 1;
  showStatus(status, "Starting the jobs not started yet…", true);
  refreshJobs();
  try {
    const result = await api("POST", "/video/process/execute", { request_code: state.code, wait: false });
    showStatus(status, result.message, true);
  } catch (error) {
    showStatus(status, error.message, false);
  } finally {
    state.executing -= 1;
    button.disabled = false;
    refreshJobs();
  }
}

// ---- notices: a render that ends out of sight ----

// Out of sight: the tab is hidden, or the job's card is scrolled out of the window.
function elsewhere(job) {
  if (document.hidden) return true;
  const shown = jobCards.get(job.id);
  if (!shown || !shown.node.isConnected) return true;
  const box = shown.node.getBoundingClientRect();
  return box.bottom <= 0 || box.top >= window.innerHeight;
}

function notify(job) {
  const succeeded = job.status === "succeeded";
  const video = succeeded ? state.known.get(job.output_video_id) : null;
  const what = video ? video.name : `${KIND_LABELS[job.kind] || job.kind} job ${job.id}`;
  const title = succeeded ? "Render finished" : "Render failed";
  const open = succeeded ? () => playById(job.output_video_id) : () => showCard(job);
  const notice = el("div", { class: `notice${succeeded ? "" : " notice-failed"}` },
    el("span", { class: "notice-text" }, `${title}: ${what} — `),
    el("button", { type: "button", class: "link-button", onclick: () => { notice.remove(); open(); } }, succeeded ? "Play" : "Show"),
    el("button", { type: "button", class: "icon notice-close", "aria-label": "Dismiss", onclick: () => notice.remove() }, "✕"));
  const notices = $("#notices");
  notices.append(notice);
  while (notices.children.length > NOTICES_KEPT) notices.firstElementChild.remove();
  // The system's notification too, only if the person allowed them (never asked here).
  if ("Notification" in window && Notification.permission === "granted") {
    const shown = new Notification(title, { body: what, tag: `videoproc-job-${job.id}` });
    shown.addEventListener("click", () => {
      window.focus();
      notice.remove();
      open();
      shown.close();
    });
  }
}

function showCard(job) {
  const shown = jobCards.get(job.id);
  if (!shown) return;
  shown.node.scrollIntoView({ block: "center" });
  shown.node.querySelector("button")?.focus();
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

// What the timeline editor (editor.js) uses; keep these names and meanings:
// - api(method, url, body) → Promise of the JSON answer; throws Error(detail) on refusal.
// - el(tag, attributes, ...children) builds an element (children set as text).
// - clock(seconds) → "00:01:05.250"; showStatus(node, text, ok) writes a status line.
// - state: state.code (the requester code), state.current (the library video in the
//   player, or null), state.known (Map: id → library video seen).
// - render(url, body, statusNode) → Promise of the queued job's answer ({message,
//   job_id}) or null when refused: POSTs body + request_code to url (a /video/process/*
//   endpoint), says "Rendering…" or the refusal in statusNode, then starts the job at
//   once (POST /video/process/execute, not awaited: the job's card shows its progress).
// - playById(id) puts a library video in the player.
// Events on document: "videoproc:play" (detail.video) once play() has set a video in
// the player; "videoproc:library" after each library refresh shown; "videoproc:code"
// when the requester code is given or changed.
window.videoproc = { api, el, clock, showStatus, state, render, playById };

document.addEventListener("DOMContentLoaded", () => {
  setUpCode();
  $("#execute").addEventListener("click", runWaitingJobs);
  setUpUploads();
  setUpLibrary();
  setUpEncode();
  setUpConcat();
  setInterval(tickJobs, TICK_MS);
  if ($("#token-form")) {
    $("#token-form").addEventListener("submit", createToken);
    refreshTokens();
  }
  refreshLibrary();
  if (state.code) setCode(state.code);
  else askCode();
});
