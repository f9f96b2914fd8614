"use strict";
// confcam demo page: sends a camera or a shared tab over WebRTC, shows the labelled video that comes back
// and one card per tracked person from the "predictions" data channel. Plain JS, no build step.

// The per-run token comes in the URL fragment (#token=...), which the browser never sends to a server.
const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token") || "";

const HISTORY_MS = 30000;
const GONE_AFTER_MS = 1500;
const FADE_MS = 1000; // the .card.gone transition in style.css
// A card's label, emoji and colour change at most twice a second: nothing flashes more than three times a
// second (WCAG 2.3.1), whatever the server sends.
const MIN_CHANGE_MS = 500;
// A card's position words and its place in the list follow a face only once it has stayed put this long,
// so a face on the line between two thirds does not make its card jump or chatter.
const SETTLE_MS = 1000;
const THUMB_EVERY_MS = 100;
const THUMB_EVERY_REDUCED_MS = 2000;
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

class StatusLine {
  constructor(element) { this.element = element; }
  // A live region: the same text is not written again, so it is announced once per change.
  show(text, isError = false) {
    if (this.element.textContent === text && this.element.classList.contains("error") === isError) return;
    this.element.textContent = text;
    this.element.classList.toggle("error", isError);
  }
}

// Frames per second of the returned video, counted as the browser presents them.
class FrameCounter {
  constructor(video) {
    this.video = video;
    this.times = [];
    this.total = 0;
    this.running = false;
  }
  start() {
    this.running = true;
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const tick = (now) => {
      if (!this.running) return;
      this.total += 1;
      this.times.push(now);
      while (this.times.length && now - this.times[0] > 2000) this.times.shift();
      this.video.requestVideoFrameCallback(tick);
    };
    this.video.requestVideoFrameCallback(tick);
  }
  stop() { this.running = false; this.times = []; }
  fps() {
    const t = this.times;
    return t.length < 2 ? 0 : (t.length - 1) * 1000 / (t[t.length - 1] - t[0]);
  }
}

// Where a face is, in the words a person uses: "top left", "centre", "bottom", ... (thirds of the frame).
// Same rule as confcam/render/panel.py's position_words; box is [x, y, w, h] in frame pixels.
function positionWords(box, width, height) {
  if (!width || !height) return "";
  const cx = (box[0] + box[2] / 2) / width, cy = (box[1] + box[3] / 2) / height;
  const row = ["top", "", "bottom"][Math.min(Math.max(Math.floor(cy * 3), 0), 2)];
  const column = ["left", "", "right"][Math.min(Math.max(Math.floor(cx * 3), 0), 2)];
  return [row, column].filter(Boolean).join(" ") || "centre";
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// Indices of boxes as a person reads a gallery: row by row from the top, left to right within a row; faces
// whose centres are within half a face height share a row (confcam/render/panel.py's reading_order).
function readingOrder(boxes) {
  if (!boxes.length) return [];
  const centres = boxes.map((b) => [b[0] + b[2] / 2, b[1] + b[3] / 2]);
  const band = 0.5 * median(boxes.map((b) => b[3]));
  const byTop = boxes.map((_, i) => i).sort((a, b) => centres[a][1] - centres[b][1]);
  const rows = [];
  for (const i of byTop) {
    const row = rows[rows.length - 1];
    if (row && centres[i][1] - centres[row[0]][1] <= band) row.push(i);
    else rows.push([i]);
  }
  return rows.flatMap((row) => row.sort((a, b) => centres[a][0] - centres[b][0]));
}

// Black or white text, whichever reads better on a label colour (as confcam/render/colors.py).
function textColorOn(hex) {
  const n = parseInt(hex.slice(1), 16);
  const luminance = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
  return luminance > 140 ? "#000" : "#fff";
}

// A value shown on a card that follows its source only after the new value has held for `settleMs`.
class Settled {
  constructor(settleMs) { this.settleMs = settleMs; this.value = undefined; this.pending = undefined; this.since = 0; }
  offer(value, now) {
    if (value === this.value || this.value === undefined || this.value === "") {
      this.value = value;
      this.pending = undefined;
      return;
    }
    if (value !== this.pending) { this.pending = value; this.since = now; }
    if (now - this.since >= this.settleMs) { this.value = value; this.pending = undefined; }
  }
}

// One card: the face's live thumbnail, who and where, the label in words with its emoji and colour, the
// confidence, and the last 30 s of labels. Screen readers get one sentence (.summary) per card, rewritten
// only when the label or the place changes; the per-frame numbers are hidden from them.
class PersonCard {
  constructor(id, template, colors) {
    this.id = id;
    this.colors = colors;
    this.card = template.content.firstElementChild.cloneNode(true);
    this.card.dataset.trackId = String(id);
    this.parts = {};
    for (const name of ["summary", "thumb", "where", "reading", "emoji", "label", "percent", "fill", "strip"]) {
      this.parts[name] = this.card.querySelector(`.${name}`);
    }
    this.card.querySelector(".name").textContent = `Person ${id}`;
    this.track = null;
    this.lastSeen = 0;
    this.runs = []; // [{t, label}]: when each shown label started
    this.label = undefined;
    this.labelSince = -Infinity;
    this.where = new Settled(SETTLE_MS);
    this.gone = false;
  }
  color(label) { return this.colors[label] || "#a0a0a0"; }
  see(track, now) {
    this.track = track;
    this.lastSeen = now;
  }
  // Applies the newest reading to the card, at the pace the rules above allow.
  render(now, width, height) {
    const track = this.track;
    const gone = now - this.lastSeen > GONE_AFTER_MS;
    const back = this.gone && !gone;
    if (gone !== this.gone) {
      this.gone = gone;
      this.card.classList.toggle("gone", gone);
      if (gone) this.parts.summary.textContent = `Person ${this.id} left.`;
    }
    if (gone) return;
    const label = track.label || "uncertain";
    const before = { label: this.label, where: this.where.value };
    if (label !== this.label && now - this.labelSince >= MIN_CHANGE_MS) this.showLabel(label, now);
    this.where.offer(positionWords(track.box, width, height), now);
    this.parts.where.textContent = this.where.value || "";
    const certain = this.label !== "uncertain" && typeof track.confidence === "number";
    this.parts.percent.textContent = certain ? `${Math.round(track.confidence * 100)} %` : "";
    this.parts.fill.style.width = certain ? `${Math.round(track.confidence * 100)}%` : "0";
    if (back || before.label !== this.label || before.where !== this.where.value || !this.parts.summary.textContent) {
      this.parts.summary.textContent = this.sentence();
    }
  }
  showLabel(label, now) {
    this.label = label;
    this.labelSince = now;
    this.runs.push({ t: now, label });
    const { emoji, label: text, reading } = this.parts;
    emoji.setAttribute("src", `/overlays/${label}.png`);
    text.textContent = label;
    this.card.style.setProperty("--label-color", this.color(label));
    // Restart the 150 ms fade-in: hide at once, let the browser apply it, then let it transition back.
    reading.classList.add("entering");
    void reading.offsetWidth;
    reading.classList.remove("entering");
  }
  // "Person 2, top left: happy, 80 %"
  sentence() {
    const where = this.where.value ? `, ${this.where.value}` : "";
    const certain = this.label !== "uncertain" && typeof this.track.confidence === "number";
    const confidence = certain ? `, ${Math.round(this.track.confidence * 100)} %` : "";
    return `Person ${this.id}${where}: ${this.label}${confidence}`;
  }
  // The face, square and a little wider than its box, from the video element: in memory only, never sent.
  paintThumbnail(video) {
    if (this.gone || !this.track || video.readyState < 2 || !video.videoWidth) return;
    const canvas = this.parts.thumb, ctx = canvas.getContext("2d");
    const [x, y, w, h] = this.track.box;
    const side = 1.2 * Math.max(w, h), left = x + w / 2 - side / 2, top = y + h / 2 - side / 2;
    const sx = Math.max(left, 0), sy = Math.max(top, 0);
    const sw = Math.min(left + side, video.videoWidth) - sx, sh = Math.min(top + side, video.videoHeight) - sy;
    if (sw < 2 || sh < 2) return;
    const scale = canvas.width / side;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(video, sx, sy, sw, sh, (sx - left) * scale, (sy - top) * scale, sw * scale, sh * scale);
  }
  // The last 30 s as coloured runs, each named in words where it is wide enough: colour is never the only cue.
  drawStrip(now) {
    const canvas = this.parts.strip, dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr), h = Math.round(canvas.clientHeight * dpr);
    if (!w || !h) return;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d"), start = now - HISTORY_MS, gap = 2 * dpr;
    while (this.runs.length > 1 && this.runs[1].t < start) this.runs.shift();
    ctx.clearRect(0, 0, w, h);
    ctx.font = `${14 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    const end = Math.min(now, this.lastSeen + 200);
    this.runs.forEach((run, i) => {
      const x0 = (Math.max(run.t, start) - start) / HISTORY_MS * w;
      const x1 = ((i + 1 < this.runs.length ? this.runs[i + 1].t : end) - start) / HISTORY_MS * w - gap;
      if (x1 <= x0) return;
      const color = this.color(run.label);
      ctx.fillStyle = color;
      ctx.fillRect(x0, 0, x1 - x0, h);
      if (ctx.measureText(run.label).width + 6 * dpr <= x1 - x0) {
        ctx.fillStyle = textColorOn(color);
        ctx.fillText(run.label, (x0 + x1) / 2, h / 2 + dpr);
      }
    });
  }
}

// The side panel: a polite live region of cards in the faces' reading order.
class PeopleList {
  constructor(list, nobody, template, colors) {
    this.list = list;
    this.nobody = nobody;
    this.template = template;
    this.colors = colors;
    this.people = new Map();
    this.order = new Settled(SETTLE_MS);
    this.thumbsAt = -Infinity;
  }
  update(message, now) {
    let added = false;
    for (const track of message.tracks) {
      let person = this.people.get(track.id);
      if (!person) {
        person = new PersonCard(track.id, this.template, this.colors);
        this.people.set(track.id, person);
        added = true;
      }
      person.see(track, now);
    }
    if (added) this.render(now, this.frameWidth || 0, this.frameHeight || 0, true);
  }
  // Runs on the page's tick: cards, their order, fading and removal.
  render(now, width, height, placeNow = false) {
    this.frameWidth = width;
    this.frameHeight = height;
    for (const [id, person] of this.people) {
      if (now - person.lastSeen > GONE_AFTER_MS + FADE_MS) {
        person.card.remove();
        this.people.delete(id);
      } else {
        person.render(now, width, height);
        person.drawStrip(now);
      }
    }
    this.arrange(now, placeNow);
    this.nobody.hidden = this.people.size > 0;
  }
  // Cards follow reading order; a departed face keeps its last box, so its card fades where it was.
  arrange(now, placeNow) {
    const people = [...this.people.values()];
    const wanted = readingOrder(people.map((p) => p.track.box)).map((i) => people[i]);
    const key = wanted.map((p) => p.id).join(",");
    if (placeNow) this.order.value = key;
    else this.order.offer(key, now);
    if (this.order.value !== key) return;
    wanted.forEach((person, i) => {
      if (this.list.children[i] !== person.card) this.list.insertBefore(person.card, this.list.children[i] || null);
    });
  }
  paintThumbnails(video, now) {
    if (now - this.thumbsAt < (reducedMotion.matches ? THUMB_EVERY_REDUCED_MS : THUMB_EVERY_MS)) return;
    this.thumbsAt = now;
    for (const person of this.people.values()) person.paintThumbnail(video);
  }
  clear() {
    for (const person of this.people.values()) person.card.remove();
    this.people.clear();
    this.order = new Settled(SETTLE_MS);
    this.nobody.hidden = false;
  }
}

// Calm / balanced / quick: native radio buttons, so Tab reaches the group and the arrow keys choose.
// The choice changes this session's smoother on the server; the server's answer says what is in use.
class SteadinessControl {
  constructor(fieldset, steadiness, onChange) {
    this.fieldset = fieldset;
    this.hint = fieldset.querySelector("#steadiness-hint");
    this.help = this.hint.textContent;
    const box = fieldset.querySelector("#steadiness-choices");
    for (const name of steadiness.choices || []) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      Object.assign(input, { type: "radio", name: "steadiness", value: name, checked: name === steadiness.current });
      input.addEventListener("change", () => { if (input.checked) onChange(name); });
      label.append(input, ` ${name}`);
      box.append(label);
    }
    fieldset.hidden = !(steadiness.choices || []).length;
  }
  get value() {
    const checked = this.fieldset.querySelector("input:checked");
    return checked ? checked.value : null;
  }
  confirm(name) { this.hint.textContent = `In use: ${name}. ${this.help}`; }
  refused(reason) { this.hint.textContent = `Not changed: ${reason}`; }
}

// Practice mode. The quiz itself runs in this browser's session on the server (confcam/web/practice.py): it
// pauses the returned video on the face it asks about and sends its state with every `predictions` message.
// This panel shows that state (the question, eight answers, confcam's reading with its cue, the session's
// score) and sends the learner's answer, by button or key 1-8, and "next" back on the data channel.
class PracticePanel {
  constructor(labels, send) {
    this.send = send;
    this.on = false;
    this.section = document.getElementById("practice");
    this.toggle = document.getElementById("practice-toggle");
    this.switch = document.getElementById("practice-switch");
    this.prompt = document.getElementById("practice-prompt");
    this.reveal = document.getElementById("practice-reveal");
    this.emoji = document.getElementById("practice-emoji");
    this.cue = document.getElementById("practice-cue");
    this.answers = document.getElementById("practice-answers");
    this.next = document.getElementById("practice-next");
    this.table = document.getElementById("practice-score");
    this.total = document.getElementById("practice-total");
    this.idleText = this.prompt.textContent;
    this.choices = labels.filter((label) => label !== "uncertain");
    this.choices.forEach((label, i) => {
      const button = document.createElement("button");
      Object.assign(button, { type: "button", textContent: `${i + 1} ${label}` });
      button.dataset.label = label;
      button.addEventListener("click", () => this.answer(label));
      this.answers.append(button);
    });
    this.toggle.hidden = !this.choices.length;
    this.state = null;
    this.scoreKey = "";
    this.switch.addEventListener("change", () => this.setOn(this.switch.checked));
    this.next.addEventListener("click", () => this.carryOn());
    document.addEventListener("keydown", (event) => this.onKey(event));
  }
  setOn(on) {
    this.on = on;
    this.section.hidden = !on && !this.scoreKey;
    document.getElementById("people").hidden = on;
    if (!on) this.show({ state: "off" });
    this.send({ practice: on });
  }
  answer(label) {
    if (this.state === "asking") this.send({ answer: label });
  }
  carryOn() {
    if (this.state !== "revealed") return;
    this.send({ next: true });
    this.prompt.focus();
  }
  onKey(event) {
    if (!this.on || this.state !== "asking" || event.altKey || event.ctrlKey || event.metaKey) return;
    const index = Number(event.key) - 1;
    if (Number.isInteger(index) && index >= 0 && index < this.choices.length) {
      event.preventDefault();
      this.answer(this.choices[index]);
    }
  }
  // One message's practice state; the page changes only what changed, so the status region speaks once.
  show(practice) {
    const state = practice.state;
    const key = state === "asking" || state === "revealed" ? `${state} ${practice.question.number}` : state;
    if (practice.score) this.showScore(practice.score);
    if (key === this.shown) return;
    this.shown = key;
    this.state = state;
    this.answers.hidden = state !== "asking";
    this.next.hidden = state !== "revealed";
    this.reveal.hidden = state !== "revealed";
    if (state === "asking") {
      this.prompt.textContent = "What is this person showing? Choose below or press 1 to " + this.choices.length + ".";
    } else if (state === "revealed") {
      const r = practice.reveal;
      this.prompt.textContent = r.correct
        ? `Yes: confcam read ${r.expression} too.`
        : `You said ${r.answer}; confcam read ${r.expression}.`;
      this.emoji.setAttribute("src", `/overlays/${r.expression}.png`);
      this.cue.textContent = `Look for: ${r.cue}`;
      this.next.focus();
    } else if (state === "watching") {
      this.prompt.textContent = "Watch the video: confcam pauses on a face it reads clearly.";
    } else if (state === "ended" && this.scoreKey) {
      this.prompt.textContent = "Stopped. Your score this session:";
    } else {
      this.prompt.textContent = this.scoreKey ? "Practice is off. Your score this session:" : this.idleText;
    }
  }
  showScore(score) {
    const key = JSON.stringify(score);
    if (key === this.scoreKey || !score.asked) return;
    this.scoreKey = key;
    this.total.textContent = `Score this session: ${score.correct} of ${score.asked} matched confcam`;
    const body = this.table.tBodies[0];
    body.replaceChildren(...Object.entries(score.expressions).map(([label, tally]) => {
      const row = document.createElement("tr");
      for (const text of [label, tally.asked, tally.correct]) {
        const cell = document.createElement("td");
        cell.textContent = String(text);
        row.append(cell);
      }
      return row;
    }));
    this.table.hidden = false;
  }
  // The session ended (Stop, or the connection went): the score stays on the page; the next session starts afresh.
  ended() {
    this.show({ state: this.on ? "ended" : "off" });
    this.section.hidden = !this.on && !this.scoreKey;
  }
  started() {
    this.scoreKey = "";
    this.shown = undefined;
    this.table.hidden = true;
    this.show({ state: this.on ? "watching" : "off" });
  }
}

function waitForIceGathering(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(done, timeoutMs);
  });
}

// Faces need pixels more than frames: under load, let the browser drop frames rather than shrink them.
async function keepResolution(sender) {
  try {
    const params = sender.getParameters();
    params.degradationPreference = "maintain-resolution";
    await sender.setParameters(params);
  } catch (error) {
    // Older browsers reject the field; their default adaptation still works.
  }
}

class Session {
  constructor(config, ui) {
    this.config = config;
    this.ui = ui;
    this.pc = null;
    this.channel = null;
    this.stream = null;
    this.latencies = [];
    this.messages = 0;
  }
  async start(kind) {
    const video = kind === "camera"
      ? { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } }
      : { frameRate: { ideal: 30 } };
    this.stream = kind === "camera"
      ? await navigator.mediaDevices.getUserMedia({ video, audio: false })
      : await navigator.mediaDevices.getDisplayMedia({ video, audio: false });
    const track = this.stream.getVideoTracks()[0];
    track.addEventListener("ended", () => this.ui.stop());
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    this.channel = pc.createDataChannel("predictions");
    this.channel.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    // A steadiness (and practice) chosen before starting applies from the session's first frame.
    this.channel.onopen = () => {
      this.setSteadiness(this.ui.steadiness.value);
      if (this.ui.practice.on) this.control({ practice: true });
    };
    const direction = this.config.mode === "source" ? "sendonly" : "sendrecv";
    const transceiver = pc.addTransceiver(track, { direction, streams: [this.stream] });
    await keepResolution(transceiver.sender);
    if (this.config.mode === "source") {
      this.ui.video.srcObject = this.stream;
    } else {
      pc.ontrack = (event) => {
        this.ui.video.srcObject = event.streams[0] || new MediaStream([event.track]);
      };
    }
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") this.ui.fail("The connection to confcam failed.");
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const response = await fetch("/offer", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": `Bearer ${TOKEN}` },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
    });
    const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    await pc.setRemoteDescription(answer);
  }
  setSteadiness(name) {
    if (name) this.control({ steadiness: name });
  }
  control(request) {
    if (this.channel && this.channel.readyState === "open") this.channel.send(JSON.stringify(request));
  }
  onMessage(message) {
    if (!Array.isArray(message.tracks)) {
      // The server's answer to a steadiness request.
      if (typeof message.steadiness === "string") this.ui.steadiness.confirm(message.steadiness);
      else if (typeof message.error === "string") this.ui.steadiness.refused(message.error);
      return;
    }
    this.messages += 1;
    if (typeof message.latency_ms === "number") {
      this.latencies.push(message.latency_ms);
      if (this.latencies.length > 60) this.latencies.shift();
    }
    // Labels are hidden while practising: the people panel is not fed (the server sends no labels then anyway).
    // A message sent before the switch was turned off still carries practice state: it is stale then.
    if (message.practice) {
      if (this.ui.practice.on) this.ui.practice.show(message.practice);
    } else {
      this.ui.people.update(message, performance.now());
    }
  }
  medianLatency() {
    if (!this.latencies.length) return null;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }
  stop() {
    if (this.pc) this.pc.close();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.pc = null;
    this.channel = null;
    this.stream = null;
  }
}

class Page {
  constructor(config) {
    this.config = config;
    this.video = document.getElementById("result");
    this.status = new StatusLine(document.getElementById("status"));
    this.meter = document.getElementById("meter");
    this.people = new PeopleList(
      document.getElementById("cards"), document.getElementById("nobody"),
      document.getElementById("card-template"), config.colors || {},
    );
    this.steadiness = new SteadinessControl(
      document.getElementById("steadiness"), config.steadiness || {},
      (name) => { if (this.session) this.session.setSteadiness(name); },
    );
    this.practice = new PracticePanel(
      config.mode === "analyse" ? config.labels || [] : [],
      (request) => { if (this.session) this.session.control(request); },
    );
    this.counter = new FrameCounter(this.video);
    this.buttons = {
      camera: document.getElementById("start-camera"),
      screen: document.getElementById("start-screen"),
      stop: document.getElementById("stop"),
    };
    this.session = null;
    this.buttons.camera.addEventListener("click", () => this.start("camera"));
    this.buttons.screen.addEventListener("click", () => this.start("screen"));
    this.buttons.stop.addEventListener("click", () => this.stop());
    if (config.mode === "source") {
      document.getElementById("people").hidden = true;
      this.video.setAttribute("aria-label", "Your video, as sent to confcam");
      document.getElementById("intro").textContent =
        "confcam is waiting for video: start your camera or share a tab; the labelled picture goes to confcam's outputs (e.g. the virtual camera).";
    }
    window.confcamStats = { fps: 0, framesShown: 0, messages: 0, latencyMs: null, mode: config.mode };
    setInterval(() => this.tick(), 250);
    setInterval(() => this.people.paintThumbnails(this.video, performance.now()), THUMB_EVERY_MS);
    window.addEventListener("pagehide", () => this.stop());
  }
  setRunning(running) {
    this.buttons.camera.disabled = running;
    this.buttons.screen.disabled = running;
    this.buttons.stop.disabled = !running;
  }
  async start(kind) {
    if (!TOKEN) {
      this.status.show("This address has no #token=...: open the full URL confcam printed in its terminal.", true);
      return;
    }
    this.setRunning(true);
    this.status.show("Connecting…");
    this.session = new Session(this.config, this);
    this.practice.started();
    try {
      await this.session.start(kind);
      this.counter.start();
      this.status.show("Connected; waiting for video…");
    } catch (error) {
      this.fail(`Could not start: ${error.message || error}`);
    }
  }
  fail(text) {
    this.stop();
    this.status.show(text, true);
  }
  stop() {
    if (this.session) this.session.stop();
    this.session = null;
    this.counter.stop();
    this.video.srcObject = null;
    this.people.clear();
    this.practice.ended();
    this.setRunning(false);
    this.status.show("Stopped.");
    this.meter.textContent = "";
  }
  tick() {
    const now = performance.now();
    this.people.render(now, this.video.videoWidth, this.video.videoHeight);
    const session = this.session;
    if (!session || !session.pc || session.pc.connectionState !== "connected") return;
    const fps = this.counter.fps();
    const latency = session.medianLatency();
    Object.assign(window.confcamStats, {
      fps, framesShown: this.counter.total, messages: session.messages, latencyMs: latency,
    });
    if (this.config.mode === "source") {
      this.status.show("Sending to confcam.");
      return;
    }
    this.status.show("Live.");
    const count = this.people.people.size;
    const parts = [`${fps.toFixed(1)} FPS`];
    if (latency !== null) parts.push(`${latency.toFixed(0)} ms server latency`);
    if (this.practice.on) parts.push("practice");
    else parts.push(`${count} ${count === 1 ? "person" : "people"}`);
    this.meter.textContent = parts.join(" · ");
  }
}

fetch("/config")
  .then((r) => r.json())
  .then((config) => { window.confcamPage = new Page(config); })
  .catch((error) => {
    document.getElementById("status").textContent = `confcam server unreachable: ${error}`;
  });
