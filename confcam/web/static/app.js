"use strict";
// confcam demo page: sends a camera or a shared tab over WebRTC, shows the labelled video that comes back
// and one card per tracked person from the "predictions" data channel. Plain JS, no build step.

// The per-run token comes in the URL fragment (#token=...), which the browser never sends to a server.
const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token") || "";

const HISTORY_MS = 30000;
const GONE_AFTER_MS = 1500;
const REMOVE_AFTER_MS = 30000;

class StatusLine {
  constructor(element) { this.element = element; }
  show(text, isError = false) {
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

class PeopleList {
  constructor(list, nobody, template, colors) {
    this.list = list;
    this.nobody = nobody;
    this.template = template;
    this.colors = colors;
    this.people = new Map();
  }
  color(label) { return this.colors[label] || "#a0a0a0"; }
  update(message, now) {
    for (const track of message.tracks) {
      let person = this.people.get(track.id);
      if (!person) person = this.add(track.id);
      person.lastSeen = now;
      person.history.push({ t: now, label: track.label });
      this.fill(person, track);
    }
    this.prune(now);
  }
  add(id) {
    const card = this.template.content.firstElementChild.cloneNode(true);
    card.dataset.trackId = String(id);
    card.querySelector(".name").textContent = `Person ${id}`;
    this.list.appendChild(card);
    const person = { id, card, history: [], lastSeen: 0 };
    this.people.set(id, person);
    return person;
  }
  fill(person, track) {
    const card = person.card;
    const img = card.querySelector(".emoji");
    const src = `/overlays/${track.label}.png`;
    if (img.getAttribute("src") !== src) img.setAttribute("src", src);
    img.alt = track.label;
    card.querySelector(".label").textContent = `${track.label} ${(track.confidence * 100).toFixed(0)}%`;
    const fill = card.querySelector(".fill");
    fill.style.width = `${Math.round(track.confidence * 100)}%`;
    fill.style.background = this.color(track.label);
  }
  prune(now) {
    for (const [id, person] of this.people) {
      person.history = person.history.filter((h) => now - h.t <= HISTORY_MS);
      person.card.classList.toggle("gone", now - person.lastSeen > GONE_AFTER_MS);
      if (now - person.lastSeen > REMOVE_AFTER_MS) {
        person.card.remove();
        this.people.delete(id);
      }
    }
    this.nobody.hidden = this.people.size > 0;
  }
  draw(now) {
    for (const person of this.people.values()) {
      const canvas = person.card.querySelector(".strip");
      const ctx = canvas.getContext("2d");
      const w = canvas.width, h = canvas.height, start = now - HISTORY_MS;
      ctx.clearRect(0, 0, w, h);
      const hist = person.history;
      for (let i = 0; i < hist.length; i++) {
        const end = i + 1 < hist.length ? hist[i + 1].t : Math.min(now, person.lastSeen + 200);
        const x0 = ((hist[i].t - start) / HISTORY_MS) * w;
        const x1 = ((end - start) / HISTORY_MS) * w;
        ctx.fillStyle = this.color(hist[i].label);
        ctx.fillRect(x0, 0, Math.max(1, x1 - x0), h);
      }
    }
  }
  clear() {
    for (const person of this.people.values()) person.card.remove();
    this.people.clear();
    this.nobody.hidden = false;
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
    const channel = pc.createDataChannel("predictions");
    channel.onmessage = (event) => this.onMessage(JSON.parse(event.data));
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
  onMessage(message) {
    this.messages += 1;
    if (typeof message.latency_ms === "number") {
      this.latencies.push(message.latency_ms);
      if (this.latencies.length > 60) this.latencies.shift();
    }
    this.ui.people.update(message, performance.now());
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
    this.stream = null;
  }
}

class Page {
  constructor(config) {
    this.config = config;
    this.video = document.getElementById("result");
    this.status = new StatusLine(document.getElementById("status"));
    this.people = new PeopleList(
      document.getElementById("cards"), document.getElementById("nobody"),
      document.getElementById("card-template"), config.colors || {},
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
      document.getElementById("intro").textContent =
        "confcam is waiting for video: start your camera or share a tab; the labelled picture goes to confcam's outputs (e.g. the virtual camera).";
    }
    window.confcamStats = { fps: 0, framesShown: 0, messages: 0, latencyMs: null, mode: config.mode };
    setInterval(() => this.tick(), 250);
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
    this.setRunning(false);
    this.status.show("Stopped.");
  }
  tick() {
    const now = performance.now();
    this.people.prune(now);
    this.people.draw(now);
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
    const parts = [`${fps.toFixed(1)} FPS`];
    if (latency !== null) parts.push(`${latency.toFixed(0)} ms server latency`);
    parts.push(`${this.people.people.size} ${this.people.people.size === 1 ? "person" : "people"}`);
    this.status.show(`Live · ${parts.join(" · ")}`);
  }
}

fetch("/config")
  .then((r) => r.json())
  .then((config) => { window.confcamPage = new Page(config); })
  .catch((error) => {
    document.getElementById("status").textContent = `confcam server unreachable: ${error}`;
  });
