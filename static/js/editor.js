// The editor under the player: a timeline (filmstrip, waveform, keyframes) with In and
// Out handles, the segment track, preview and one-step render. It uses page.js's
// window.videoproc (api, el, clock, state, render, playById) and its "videoproc:play"
// event; wavesurfer.js draws the waveform and ruler and its regions plugin the marked
// range; SortableJS lets segments be dragged into order. The segment list is a draft kept
// on the server (/page/draft), so a reload or another browser finds it.
"use strict";

(() => {
  const vp = window.videoproc;
  const $ = (selector) => document.querySelector(selector);
  const { api, el, clock, state } = vp;

  const SAVE_DELAY_MS = 400; // edits settle this long before the draft is saved
  const PLAN_DELAY_MS = 150; // a dragged handle rests this long before the cut is planned
  const ZOOM_STEP = 2;
  const MAX_PX_PER_SECOND = 2000;
  const RANGE_COLOR = "rgba(36, 86, 214, 0.18)";

  const editor = {
    video: null, // the library video in the player
    timeline: null, // its /video/view/timeline answer, once made
    sprites: [], // storyboard cues: {start, end, image, x, y, w, h}
    range: null, // {in, out} in seconds on the video in the player
    ranges: {}, // video id -> [in, out]: each video's marked range, kept in the draft
    segments: [], // {video_id, start, end} in seconds, in play order
    selected: -1, // index of the chosen segment
    history: [], // snapshots of the segments, for undo and redo
    future: [],
    draftFor: null, // the requester whose draft is loaded
    preview: null, // {mode: "range" | "segments", index}
    plan: null, // the smart-cut plan of the marked range
  };
  let wave = null; // the wavesurfer instance of the video in the player
  let region = null; // the marked range on it
  let saveTimer = null;
  let planTimer = null;

  const player = () => $("#player");
  const fps = () => editor.video?.fps || 25;
  const frame = () => 1 / fps();

  // Times go to the API floored to the millisecond: a frame's start then still names it.
  const apiTime = (seconds) => clock(Math.floor(seconds * 1000 + 1e-6) / 1000);
  const onFrame = (seconds) => Math.round(seconds * fps()) / fps();
  const short = (seconds) => `${seconds.toFixed(1)} s`;

  function videoLabel(id) {
    const video = state.known.get(id);
    return video ? `#${id} ${video.name}` : `#${id}`;
  }

  // ---- the timeline of the video in the player ----

  function open(video) {
    stopPreviewUnlessPlaying(video);
    editor.video = video;
    editor.timeline = null;
    editor.sprites = [];
    editor.plan = null;
    $("#timeline").setAttribute("aria-busy", "true"); // until its filmstrip and waveform come
    const [start, end] = editor.ranges[video.id] || [0, video.duration];
    editor.range = { in: Math.min(start, video.duration), out: Math.min(end, video.duration) };
    $("#editor-duration").textContent = clock(video.duration);
    buildWave(null);
    render();
    schedulePlan();
    loadTimeline(video);
  }

  // The timeline data is made in the background after an upload: 202 means ask again.
  async function loadTimeline(video) {
    const note = $("#timeline-note");
    for (;;) {
      const response = await fetch(`/video/view/timeline?video_id=${video.id}`);
      if (editor.video !== video) return;
      if (response.status === 202) {
        note.textContent = "Making the filmstrip and waveform…";
        const wait = Number(response.headers.get("Retry-After")) || 2;
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        continue;
      }
      const data = await response.json().catch(() => ({}));
      if (editor.video !== video) return;
      if (!response.ok) {
        note.textContent = data.detail || "The filmstrip and waveform could not be made.";
        $("#timeline").setAttribute("aria-busy", "false");
        return;
      }
      editor.timeline = data;
      note.textContent = data.waveform ? "" : "This video has no sound.";
      break;
    }
    const [peaks, cues] = await Promise.all([loadPeaks(editor.timeline.waveform), loadStoryboard(editor.timeline.storyboard)]);
    if (editor.video !== video) return;
    editor.sprites = cues;
    buildWave(peaks);
    drawFilmstrip();
    $("#timeline").setAttribute("aria-busy", "false");
  }

  // audiowaveform JSON (version 2): min/max pairs per point, as signed integers.
  async function loadPeaks(url) {
    if (!url) return null;
    const data = await fetch(url).then((r) => r.json()).catch(() => null);
    if (!data || !Array.isArray(data.data)) return null;
    const scale = 2 ** ((data.bits || 8) - 1);
    return { peaks: Float32Array.from(data.data, (value) => value / scale) };
  }

  // The storyboard: a WebVTT file whose cues name a region of a sprite sheet (#xywh=).
  async function loadStoryboard(url) {
    const text = await fetch(url).then((r) => (r.ok ? r.text() : "")).catch(() => "");
    const images = new Map();
    const cues = [];
    const seconds = (stamp) => stamp.split(":").reduce((total, part) => total * 60 + Number(part), 0);
    for (const block of text.split(/\r?\n\r?\n/)) {
      const lines = block.trim().split(/\r?\n/);
      const timing = lines.findIndex((line) => line.includes("-->"));
      if (timing < 0 || !lines[timing + 1]) continue;
      const [from, to] = lines[timing].split("-->").map((part) => seconds(part.trim().split(" ")[0]));
      const [src, fragment] = lines[timing + 1].trim().split("#xywh=");
      if (!fragment) continue;
      const [x, y, w, h] = fragment.split(",").map(Number);
      if (!images.has(src)) {
        const image = new Image();
        image.addEventListener("load", drawFilmstrip);
        image.src = src;
        images.set(src, image);
      }
      cues.push({ start: from, end: to, image: images.get(src), x, y, w, h });
    }
    return cues;
  }

  function buildWave(loaded) {
    wave?.destroy();
    region = null;
    const video = editor.video;
    // Without sound (or before the peaks come) the track is a flat line of the right length.
    const peaks = loaded ? [loaded.peaks] : [new Float32Array(2)];
    wave = window.WaveSurfer.create({
      container: "#waveform",
      media: player(),
      peaks,
      duration: video.duration,
      height: 56,
      normalize: false,
      waveColor: "#8ea4d8",
      progressColor: "#2456d6",
      cursorColor: "#b42318",
      cursorWidth: 2,
      dragToSeek: true,
      autoScroll: true,
      autoCenter: false,
      plugins: [
        window.WaveSurfer.Timeline.create({ height: 16, formatTimeCallback: ruler, style: { fontSize: "11px", color: "#5d6678" } }),
      ],
    });
    const regions = wave.registerPlugin(window.WaveSurfer.Regions.create());
    wave.on("ready", () => {
      region = regions.addRegion({ start: editor.range.in, end: editor.range.out, color: RANGE_COLOR, drag: true, resize: true, minLength: frame() });
      region.on("update", () => {
        editor.range = { in: region.start, out: region.end };
        renderMarks();
      });
      region.on("update-end", () => setRange(snap(region.start), snap(region.end)));
      dressHandles();
      drawFilmstrip();
    });
    wave.on("scroll", drawFilmstrip);
    wave.on("zoom", drawFilmstrip);
    wave.on("redraw", drawFilmstrip);
    wave.on("timeupdate", (time) => {
      $("#editor-time").textContent = clock(time);
    });
  }

  function ruler(seconds) {
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return `${m}:${s < 10 ? "0" : ""}${Number.isInteger(s) ? s : s.toFixed(1)}`;
  }

  // The region's handles become the In and Out sliders: named, valued, keyboard-driven.
  function dressHandles() {
    const element = region?.element;
    if (!element) return;
    for (const [side, name] of [["left", "In"], ["right", "Out"]]) {
      const handle = element.querySelector(`[part*="region-handle-${side}"]`);
      if (!handle || handle.getAttribute("role") === "slider") continue;
      Object.assign(handle.style, { width: "12px", background: "rgba(36, 86, 214, 0.55)", outlineOffset: "1px" });
      handle.setAttribute("role", "slider");
      handle.setAttribute("tabindex", "0");
      handle.setAttribute("aria-label", name);
      handle.setAttribute("aria-valuemin", "0");
      handle.addEventListener("keydown", (event) => sliderKey(event, name === "In" ? "in" : "out"));
      handle.addEventListener("focus", () => { handle.style.outline = "3px solid #2456d6"; });
      handle.addEventListener("blur", () => { handle.style.outline = ""; });
    }
    renderMarks();
  }

  function sliderKey(event, which) {
    const step = event.shiftKey ? 1 : frame();
    const moves = { ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step };
    let value = editor.range[which];
    if (event.key in moves) value += moves[event.key];
    else if (event.key === "Home") value = 0;
    else if (event.key === "End") value = editor.video.duration;
    else return;
    event.preventDefault();
    event.stopPropagation();
    const { in: start, out: end } = editor.range;
    if (which === "in") setRange(Math.min(value, end - frame()), end);
    else setRange(start, Math.max(value, start + frame()));
    player().currentTime = Math.min(editor.range[which] + (which === "in" ? 0 : -frame() / 2), editor.video.duration);
  }

  // Handles land on frame starts, or on keyframes when asked.
  function snap(seconds) {
    const keyframes = editor.timeline?.keyframes_ms;
    if ($("#editor-snap").checked && keyframes?.length) {
      const nearest = keyframes.reduce((best, ms) => (Math.abs(ms / 1000 - seconds) < Math.abs(best - seconds) ? ms / 1000 : best), Infinity);
      return Math.min(nearest, editor.video.duration);
    }
    return Math.min(onFrame(seconds), editor.video.duration);
  }

  function setRange(start, end) {
    const duration = editor.video.duration;
    start = Math.max(0, Math.min(start, duration));
    end = Math.max(0, Math.min(end, duration));
    if (end <= start) end = Math.min(duration, start + frame());
    editor.range = { in: start, out: end };
    editor.ranges[editor.video.id] = [start, end];
    region?.setOptions({ start, end });
    dressHandles();
    renderMarks();
    schedulePlan();
    saveDraft();
  }

  function renderMarks() {
    const { in: start, out: end } = editor.range || {};
    const known = editor.range !== null;
    $("#editor-in").textContent = known ? clock(start) : "—";
    $("#editor-out").textContent = known ? clock(end) : "—";
    $("#editor-length").textContent = known ? short(end - start) : "—";
    for (const [side, value] of [["left", start], ["right", end]]) {
      const handle = region?.element?.querySelector(`[part*="region-handle-${side}"]`);
      if (!handle || !known) continue;
      handle.setAttribute("aria-valuemax", String(editor.video.duration));
      handle.setAttribute("aria-valuenow", value.toFixed(3));
      handle.setAttribute("aria-valuetext", clock(value));
    }
    drawFilmstrip();
  }

  // The filmstrip, keyframe marks and the cut plan, drawn for the visible part of the track.
  function drawFilmstrip() {
    const canvas = $("#filmstrip");
    const width = $("#waveform").clientWidth;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    canvas.style.width = `${width}px`;
    const height = canvas.height / ratio;
    const context = canvas.getContext("2d");
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.scale(ratio, ratio);
    context.fillStyle = "#1d2330";
    context.fillRect(0, 0, width, height);
    if (!wave || !editor.video) return;
    const duration = editor.video.duration;
    const full = wave.getWrapper().clientWidth || width;
    const perSecond = full / duration;
    const scroll = wave.getScroll();
    const x = (seconds) => seconds * perSecond - scroll;

    const first = editor.sprites[0];
    if (first) {
      const tile = Math.max(8, ((height - 8) * first.w) / first.h);
      for (let left = -(scroll % tile); left < width; left += tile) {
        const at = (scroll + left + tile / 2) / perSecond;
        const cue = editor.sprites.find((c) => at >= c.start && at < c.end) || editor.sprites[editor.sprites.length - 1];
        if (cue.image.complete && cue.image.naturalWidth) {
          context.drawImage(cue.image, cue.x, cue.y, cue.w, cue.h, left, 0, tile - 1, height - 8);
        }
      }
    }
    // What a smart cut of the marked range copies (green) and re-encodes (amber).
    const plan = editor.plan;
    if (plan) {
      for (const [spans, color] of [[plan.copy, "#2f9e62"], [plan.reencode, "#e0a100"]]) {
        context.fillStyle = color;
        for (const [a, b] of spans) context.fillRect(x(a / 1000), height - 6, Math.max(1, (b - a) / 1000 * perSecond), 6);
      }
    }
    context.fillStyle = "#ffffff";
    for (const ms of editor.timeline?.keyframes_ms || []) {
      const at = x(ms / 1000);
      if (at < -2 || at > width + 2) continue;
      context.beginPath();
      context.moveTo(at - 3, 0);
      context.lineTo(at + 3, 0);
      context.lineTo(at, 5);
      context.fill();
    }
  }

  function zoom(by) {
    if (!wave || !editor.video) return;
    const fit = $("#waveform").clientWidth / editor.video.duration;
    const current = Math.max(fit, wave.options.minPxPerSec || 0);
    wave.zoom(Math.min(MAX_PX_PER_SECOND, Math.max(fit, current * by)));
    drawFilmstrip();
  }

  // ---- the cut plan of the marked range ----

  function schedulePlan() {
    clearTimeout(planTimer);
    planTimer = setTimeout(loadPlan, PLAN_DELAY_MS);
  }

  async function loadPlan() {
    const video = editor.video;
    if (!video || !editor.range) return;
    const { in: start, out: end } = editor.range;
    const method = $("#editor-method").value;
    const query = `video_id=${video.id}&start_ms=${Math.floor(start * 1000 + 1e-6)}&end_ms=${Math.floor(end * 1000 + 1e-6)}&mode=${method}`;
    try {
      const plan = await api("GET", `/page/trim-plan?${query}`);
      if (editor.video !== video || editor.range.in !== start || editor.range.out !== end) return;
      editor.plan = plan;
    } catch (error) {
      editor.plan = null;
      $("#editor-plan").textContent = error.message;
      drawFilmstrip();
      return;
    }
    describePlan();
    drawFilmstrip();
  }

  function describePlan() {
    const plan = editor.plan;
    if (!plan) return;
    const total = (spans) => spans.reduce((sum, [a, b]) => sum + (b - a) / 1000, 0);
    const ways = {
      smart: `Smart cut: copies ${short(total(plan.copy))}, re-encodes ${short(total(plan.reencode))} at the cuts`,
      reencode: `Re-encodes all ${short(total(plan.reencode))}`,
      keyframe: `Copies ${short(total(plan.copy))} from the keyframe before In`,
    };
    const time = plan.predicted_seconds < 1 ? "under a second" : `about ${Math.ceil(plan.predicted_seconds)} s`;
    $("#editor-plan").textContent = `${ways[plan.method] || ""} · renders in ${time}${plan.note ? ` · ${plan.note}` : ""}`;
  }

  // ---- marking from the player ----

  // The frame the player shows, by index, on the current video's frame grid.
  const frameIndex = () => Math.floor(player().currentTime * fps() + 1e-6);

  function stepFrame(by) {
    player().pause();
    const index = Math.max(0, frameIndex() + by);
    // The middle of the frame, so that the player shows that frame and no neighbour.
    player().currentTime = Math.min((index + 0.5) / fps(), editor.video.duration);
  }

  // In: where the shown frame starts. Out: where it ends, so the frame is kept.
  function mark(which) {
    const at = Math.min((frameIndex() + (which === "out" ? 1 : 0)) / fps(), editor.video.duration);
    const { in: start, out: end } = editor.range;
    if (which === "in") setRange(at, at < end ? end : editor.video.duration);
    else setRange(at > start ? start : 0, at);
  }

  // ---- segments: changes are snapshots, so they can be undone ----

  function change(segments, selected, said) {
    editor.history.push({ segments: editor.segments, selected: editor.selected });
    editor.future = [];
    editor.segments = segments;
    editor.selected = selected;
    status(said, true);
    renderSegments();
    saveDraft();
  }

  function addSegment() {
    const { in: start, out: end } = editor.range;
    const segment = { video_id: editor.video.id, start, end };
    change([...editor.segments, segment], editor.segments.length, `Segment ${editor.segments.length + 1} added: ${videoLabel(segment.video_id)}, ${clock(start)} to ${clock(end)}.`);
  }

  // Split the chosen segment (else the one under the playhead) where the playhead is.
  function split() {
    const at = frameIndex() / fps(); // the shown frame starts the second part
    const inside = (s) => s && s.video_id === editor.video?.id && at > s.start + frame() / 2 && at < s.end - frame() / 2;
    let index = inside(editor.segments[editor.selected]) ? editor.selected : editor.segments.findIndex(inside);
    if (index < 0) {
      status("Put the playhead inside a segment of this video to split it.", false);
      return;
    }
    const segment = editor.segments[index];
    const parts = [{ ...segment, end: at }, { ...segment, start: at }];
    change([...editor.segments.slice(0, index), ...parts, ...editor.segments.slice(index + 1)], index + 1, `Segment ${index + 1} split at ${clock(at)}.`);
  }

  function removeSelected() {
    const index = editor.selected;
    if (!editor.segments[index]) {
      status("Choose a segment to delete.", false);
      return;
    }
    const segments = editor.segments.filter((_, i) => i !== index);
    change(segments, Math.min(index, segments.length - 1), `Segment ${index + 1} deleted.`);
  }

  function move(from, to) {
    if (from === to || !editor.segments[from] || to < 0 || to >= editor.segments.length) return;
    const segments = [...editor.segments];
    const [segment] = segments.splice(from, 1);
    segments.splice(to, 0, segment);
    change(segments, to, `Segment moved to place ${to + 1}.`);
    $(`#segments li:nth-child(${to + 1}) button`)?.focus();
  }

  function undo(back = true) {
    const [from, to] = back ? [editor.history, editor.future] : [editor.future, editor.history];
    const snapshot = from.pop();
    if (!snapshot) return;
    to.push({ segments: editor.segments, selected: editor.selected });
    editor.segments = snapshot.segments;
    editor.selected = snapshot.selected;
    status(back ? "Undone." : "Redone.", true);
    renderSegments();
    saveDraft();
  }

  function select(index) {
    editor.selected = index;
    renderSegments();
    const segment = editor.segments[index];
    if (!segment) return;
    // Choosing a segment puts the playhead on its first frame.
    if (segment.video_id === editor.video?.id) player().currentTime = segment.start + frame() / 2;
    else vp.playById(segment.video_id);
  }

  function renderSegments() {
    const segments = editor.segments;
    const total = segments.reduce((sum, s) => sum + s.end - s.start, 0);
    $("#segments-empty").hidden = segments.length > 0;
    $("#segments-total").textContent = segments.length ? `(${segments.length}, ${short(total)})` : "";
    $("#segments").replaceChildren(
      ...segments.map((segment, index) => {
        const label = `Segment ${index + 1}: ${videoLabel(segment.video_id)}, ${clock(segment.start)} to ${clock(segment.end)}`;
        return el("li", { class: "segment", style: `flex-grow: ${segment.end - segment.start}`, "data-index": index },
          el("button", { type: "button", class: "segment-button", "aria-pressed": String(index === editor.selected), "aria-label": label, onclick: () => select(index) },
            el("span", { class: "segment-name" }, `${index + 1}. ${videoLabel(segment.video_id)}`),
            el("span", { class: "segment-times" }, `${clock(segment.start)} – ${clock(segment.end)}`)));
      }),
    );
    for (const [id, disabled] of [
      ["#editor-delete", !segments[editor.selected]],
      ["#editor-move-left", editor.selected <= 0],
      ["#editor-move-right", editor.selected < 0 || editor.selected >= segments.length - 1],
      ["#editor-undo", !editor.history.length],
      ["#editor-redo", !editor.future.length],
    ]) $(id).disabled = disabled;
    const what = segments.length
      ? `Preview plays the ${segments.length} segments in order; Render joins them into one video (${short(total)}).`
      : "Preview loops the marked range; Render cuts it into a new video.";
    $("#editor-what").textContent = what;
    $("#editor-method").closest(".field").hidden = segments.length > 0;
    $("#editor-normalize").closest("label").hidden = segments.length === 0;
  }

  // ---- preview: the marked range looped, or the segments in order ----

  function togglePreview() {
    if (editor.preview) {
      stopPreview();
      return;
    }
    if (editor.segments.length) {
      editor.preview = { mode: "segments", index: 0 };
      playSegment(0);
    } else {
      editor.preview = { mode: "range" };
      player().currentTime = editor.range.in;
      player().play();
      watchPreview();
    }
    $("#editor-preview").setAttribute("aria-pressed", "true");
    status(editor.segments.length ? "Previewing the segments." : "Previewing the marked range, looped.", true);
  }

  function playSegment(index) {
    const segment = editor.segments[index];
    editor.preview.index = index;
    const start = () => {
      player().currentTime = segment.start;
      player().play();
      watchPreview();
    };
    if (segment.video_id === editor.video?.id) start();
    else {
      editor.preview.waiting = { video_id: segment.video_id, start };
      vp.playById(segment.video_id);
    }
  }

  // Checked at every shown frame where the browser says (else at every time update).
  function watchPreview() {
    const video = player();
    const check = () => {
      const preview = editor.preview;
      if (!preview || preview.waiting) return;
      const now = video.currentTime;
      if (preview.mode === "range") {
        if (now >= editor.range.out - frame() / 2 || video.ended) {
          video.currentTime = editor.range.in;
          video.play();
        }
      } else {
        const segment = editor.segments[preview.index];
        if (!segment || now >= segment.end - frame() / 2 || video.ended) {
          if (preview.index + 1 < editor.segments.length) playSegment(preview.index + 1);
          else stopPreview();
          return;
        }
      }
      schedule();
    };
    const schedule = () => {
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(check);
      else video.addEventListener("timeupdate", check, { once: true });
    };
    schedule();
  }

  function stopPreview() {
    if (!editor.preview) return;
    editor.preview = null;
    player().pause();
    $("#editor-preview").setAttribute("aria-pressed", "false");
    status("Preview stopped.", true);
  }

  // A preview moving on to another video keeps going; anything else opening a video ends it.
  function stopPreviewUnlessPlaying(video) {
    const waiting = editor.preview?.waiting;
    if (waiting && waiting.video_id === video.id) {
      editor.preview.waiting = null;
      player().addEventListener("loadedmetadata", waiting.start, { once: true });
      if (player().readyState >= 1) waiting.start();
    } else stopPreview();
  }

  // ---- render: the segments as an edit, else the marked range as a trim ----

  async function renderNow() {
    stopPreview();
    const node = $("#editor-status");
    if (editor.segments.length) {
      const body = {
        segments: editor.segments.map((s) => ({ video_id: s.video_id, start: apiTime(s.start), end: apiTime(s.end) })),
        ...($("#editor-normalize").checked ? { normalize: true } : {}),
      };
      await vp.render("/video/process/edit", body, node);
    } else if (editor.video) {
      await vp.render("/video/process/trim", {
        video_id: editor.video.id,
        trim_start: apiTime(editor.range.in),
        trim_end: apiTime(editor.range.out),
        mode: $("#editor-method").value,
      }, node);
    }
  }

  // ---- the draft on the server ----

  function draftUrl() {
    return `/page/draft?request_code=${encodeURIComponent(state.code)}`;
  }

  async function loadDraft() {
    if (!state.code || editor.draftFor === state.code) return;
    editor.draftFor = state.code;
    try {
      const { draft } = await api("GET", draftUrl());
      editor.segments = Array.isArray(draft.segments) ? draft.segments : [];
      editor.ranges = draft.ranges && typeof draft.ranges === "object" ? draft.ranges : {};
      $("#editor-normalize").checked = Boolean(draft.normalize);
      editor.history = [];
      editor.future = [];
      editor.selected = -1;
      renderSegments();
      if (editor.video && editor.ranges[editor.video.id]) {
        const [start, end] = editor.ranges[editor.video.id];
        setRange(start, end);
      }
    } catch (error) {
      status(`Your saved edit could not be loaded: ${error.message}`, false);
    }
  }

  function saveDraft() {
    clearTimeout(saveTimer);
    if (!state.code || editor.draftFor !== state.code) return;
    saveTimer = setTimeout(async () => {
      const draft = { segments: editor.segments, ranges: editor.ranges, normalize: $("#editor-normalize").checked };
      try {
        await api("PUT", draftUrl(), { draft });
      } catch (error) {
        status(`Your edit could not be saved: ${error.message}`, false);
      }
    }, SAVE_DELAY_MS);
  }

  function status(text, ok) {
    vp.showStatus($("#editor-status"), text, ok);
  }

  // ---- keys and buttons ----

  const KEYS = {
    i: () => mark("in"),
    o: () => mark("out"),
    ",": () => stepFrame(-1),
    ".": () => stepFrame(1),
    a: addSegment,
    s: split,
    p: togglePreview,
    delete: removeSelected,
    backspace: removeSelected,
  };

  function onKey(event) {
    if (!editor.video || event.metaKey) return;
    // A handle's arrows stop at the handle (sliderKey); its other keys work as anywhere.
    if (event.target.closest("input, select, textarea, [contenteditable], dialog[open]")) return;
    const key = event.key.toLowerCase();
    if (event.ctrlKey && key === "z") undo(!event.shiftKey);
    else if (event.ctrlKey && key === "y") undo(false);
    else if (event.altKey && (key === "arrowleft" || key === "arrowright")) move(editor.selected, editor.selected + (key === "arrowleft" ? -1 : 1));
    else if (key === "escape" && editor.preview) stopPreview();
    else if (KEYS[key] && !event.ctrlKey && !event.altKey) KEYS[key]();
    else return;
    event.preventDefault();
  }

  function setUp() {
    const on = (id, action) => $(id).addEventListener("click", action);
    on("#editor-frame-back", () => stepFrame(-1));
    on("#editor-frame-forward", () => stepFrame(1));
    on("#editor-mark-in", () => mark("in"));
    on("#editor-mark-out", () => mark("out"));
    on("#editor-add", addSegment);
    on("#editor-split", split);
    on("#editor-delete", removeSelected);
    on("#editor-move-left", () => move(editor.selected, editor.selected - 1));
    on("#editor-move-right", () => move(editor.selected, editor.selected + 1));
    on("#editor-undo", () => undo(true));
    on("#editor-redo", () => undo(false));
    on("#editor-preview", togglePreview);
    on("#editor-render", renderNow);
    on("#editor-zoom-in", () => zoom(ZOOM_STEP));
    on("#editor-zoom-out", () => zoom(1 / ZOOM_STEP));
    $("#editor-method").addEventListener("change", schedulePlan);
    $("#editor-normalize").addEventListener("change", saveDraft);
    $("#editor-snap").addEventListener("change", () => editor.video && setRange(snap(editor.range.in), snap(editor.range.out)));
    document.addEventListener("keydown", onKey);
    document.addEventListener("videoproc:play", (event) => {
      loadDraft();
      open(event.detail.video);
    });
    document.addEventListener("videoproc:code", loadDraft);
    document.addEventListener("videoproc:library", () => {
      loadDraft();
      renderSegments();
    });
    window.addEventListener("resize", drawFilmstrip);
    window.Sortable.create($("#segments"), {
      animation: 150,
      delayOnTouchOnly: true,
      delay: 150,
      onEnd: (event) => move(event.oldIndex, event.newIndex),
    });
    renderSegments();
    loadDraft();
  }

  setUp();
})();
