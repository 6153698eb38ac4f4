// edgetts in the browser: stream POST /v1/tts (NDJSON with PCM and timestamps), play it with Web
// Audio as it arrives, light the characters up as they are said. No framework, no build step.
// Text from the service is always written with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "edgetts-token";

// What the page is doing, for people (the status line) and for the browser tests.
const state = window.edgettsState = {
  requests: 0, chunks: 0, samples: 0, played: false, done: false, stopped: false,
  error: null, lit: 0, marks: 0,
};

let ctx = null;          // AudioContext, made on the first Play (a user gesture)
let controller = null;   // aborts the running request: the service then cancels the synthesis
let sources = [];
let timers = [];
let pcmParts = [];
let sampleRate = 24000;
let downloadUrl = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function headers() {
  const h = { "Content-Type": "application/json" };
  const t = token();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

function showError(message) {
  state.error = message;
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  state.error = null;
  $("error").textContent = "";
  $("error").hidden = true;
}

function askToken() {
  $("token-box").hidden = false;
  $("token").focus();
}

async function errorMessage(resp) {
  let message = "HTTP " + resp.status;
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (e) { /* not JSON: keep the status */ }
  const retry = resp.headers.get("Retry-After");
  if (resp.status === 503 && retry) message += " (retry after " + retry + " s)";
  return message;
}

async function loadVoices() {
  const resp = await fetch("/v1/voices", { headers: headers() });
  if (resp.status === 401) { askToken(); return; }
  if (!resp.ok) { showError(await errorMessage(resp)); return; }
  const { voices } = await resp.json();
  const select = $("voice");
  select.replaceChildren();
  for (const v of voices) {
    const opt = document.createElement("option");
    opt.value = v.id;
    opt.textContent = v.name + " (" + v.variant + ", " + v.provider.replace("ExecutionProvider", "") + ")";
    select.appendChild(opt);
    const prosody = v.prosody;  // voices with prosody controls: presets and a pitch shift
    if (prosody && Object.keys(prosody.presets).length) {
      const styles = $("style");
      styles.replaceChildren();
      for (const [name, p] of [["", null], ...Object.entries(prosody.presets)]) {
        const o = document.createElement("option");
        o.value = name;
        o.textContent = name ? name + (p.aliases.length ? " " + p.aliases[0] : "") : "default";
        styles.appendChild(o);
      }
      $("styles-box").hidden = false;
    }
    if (prosody && prosody.controls.pitch) {
      $("pitch").min = prosody.controls.pitch.min;
      $("pitch").max = prosody.controls.pitch.max;
      $("pitch-box").hidden = false;
    }
  }
}

function resetPlayback() {
  for (const s of sources) { try { s.stop(); } catch (e) { /* not started */ } }
  for (const t of timers) clearTimeout(t);
  sources = []; timers = []; pcmParts = [];
  $("karaoke").replaceChildren();
  Object.assign(state, { chunks: 0, samples: 0, played: false, done: false, stopped: false, lit: 0, marks: 0 });
  if (downloadUrl) { URL.revokeObjectURL(downloadUrl); downloadUrl = null; }
  $("download").classList.add("disabled");
  $("download").removeAttribute("href");
}

function b64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// One chunk of PCM: scheduled right after the previous one, so playback has no gaps.
let nextTime = 0;
let startTime = null;
function play(bytes) {
  const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  pcmParts.push(new Int16Array(pcm));
  const buf = ctx.createBuffer(1, pcm.length, sampleRate);
  const ch = buf.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
  const src = ctx.createBufferSource();
  src.buffer = buf;
  src.connect(ctx.destination);
  if (startTime === null) { startTime = ctx.currentTime + 0.05; nextTime = startTime; }
  src.start(Math.max(nextTime, ctx.currentTime));
  src.onended = () => { state.played = true; };
  nextTime = Math.max(nextTime, ctx.currentTime) + buf.duration;
  sources.push(src);
  state.chunks += 1;
  state.samples += pcm.length;
}

// The characters of a chunk, lit when the audio reaches them.
function light(marks) {
  const box = $("karaoke");
  for (const m of marks) {
    const span = document.createElement("span");
    span.textContent = m.text;
    box.appendChild(span);
    state.marks += 1;
    const at = (startTime + m.start - ctx.currentTime) * 1000;
    const until = (startTime + m.end - ctx.currentTime) * 1000;
    timers.push(setTimeout(() => { span.className = "now"; state.lit += 1; }, Math.max(0, at)));
    timers.push(setTimeout(() => { span.className = "said"; }, Math.max(0, until)));
  }
}

function wavBlob() {
  const n = pcmParts.reduce((a, p) => a + p.length, 0);
  const buf = new ArrayBuffer(44 + 2 * n);
  const v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVE"); str(12, "fmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true); v.setUint32(28, 2 * sampleRate, true);
  v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, "data"); v.setUint32(40, 2 * n, true);
  let o = 44;
  for (const p of pcmParts) for (let i = 0; i < p.length; i++, o += 2) v.setInt16(o, p[i], true);
  return new Blob([buf], { type: "audio/wav" });
}

function offerDownload() {
  if (!pcmParts.length) return;
  const blob = wavBlob();
  state.wavBytes = blob.size;
  downloadUrl = URL.createObjectURL(blob);
  $("download").href = downloadUrl;
  $("download").classList.remove("disabled");
}

async function speak(event) {
  event.preventDefault();
  clearError();
  resetPlayback();
  const text = $("text").value;
  if (!ctx) ctx = new AudioContext();
  await ctx.resume();
  startTime = null;
  controller = new AbortController();
  const body = { text, stream: true, marks: true, format: "pcm", speed: parseFloat($("speed").value) };
  if ($("voice").value) body.voice = $("voice").value;
  if (!$("styles-box").hidden && $("style").value) body.emotion = $("style").value;
  if (!$("pitch-box").hidden && parseFloat($("pitch").value) !== 0) body.pitch = parseFloat($("pitch").value);
  body.ssml = $("ssml").checked;
  $("play").disabled = true; $("stop").disabled = false;
  $("status").textContent = "synthesizing…";
  state.requests += 1;
  try {
    const resp = await fetch("/v1/tts", { method: "POST", headers: headers(), body: JSON.stringify(body),
                                          signal: controller.signal });
    if (resp.status === 401) { askToken(); throw new Error("this service needs a token"); }
    if (!resp.ok) throw new Error(await errorMessage(resp));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.trim()) continue;
        const msg = JSON.parse(line);
        if (msg.sample_rate) sampleRate = msg.sample_rate;
        if (msg.audio) { play(b64ToBytes(msg.audio)); $("status").textContent = "playing…"; }
        if (msg.marks && msg.marks.length) light(msg.marks);
        if (msg.error) throw new Error(msg.error.message);
        if (msg.done) { state.done = true; $("status").textContent = "all " + msg.duration.toFixed(2) + " s of audio received"; }
      }
    }
  } catch (e) {
    if (e.name === "AbortError") {
      state.stopped = true;
      $("status").textContent = "stopped";
    } else {
      showError(e.message);
      $("status").textContent = "";
    }
  } finally {
    controller = null;
    $("play").disabled = false; $("stop").disabled = true;
    offerDownload();
  }
}

function stop() {
  if (controller) controller.abort();
  for (const s of sources) { try { s.stop(); } catch (e) { /* not started */ } }
  for (const t of timers) clearTimeout(t);
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", speak);
  $("stop").addEventListener("click", stop);
  $("speed").addEventListener("input", () => { $("speed-value").textContent = parseFloat($("speed").value).toFixed(2); });
  $("pitch").addEventListener("input", () => { $("pitch-value").textContent = "%s st".replace("%s", (parseFloat($("pitch").value) > 0 ? "+" : "") + $("pitch").value); });
  $("text").addEventListener("input", () => {
    if ($("text").value.trimStart().startsWith("<speak")) $("ssml").checked = true;
  });
  $("token-save").addEventListener("click", () => {
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token-box").hidden = true;
    clearError();
    loadVoices();
  });
  loadVoices();
});
