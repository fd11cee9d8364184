// RAD inpainting page: open an image, paint the hole, run a job, watch its
// progress (Server-Sent Events), show and download the result.
"use strict";
const $ = (id) => document.getElementById(id);
const view = $("view"), maskC = $("mask"), maskCtx = maskC.getContext("2d", { willReadFrequently: true });
let imgBlob = null, imgW = 0, imgH = 0;
let mode = "brush", painting = false, last = null;
let undoStack = [];
let job = null, source = null, resultURL = null;

function status(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", !!isError);
}

function progress(step, total) {
  $("bar").style.width = total > 0 ? (100 * step / total).toFixed(1) + "%" : "0";
}

// fit sizes the input canvases and the result to the frame (small images
// are scaled up, pixelated).
function fit() {
  if (!imgW) return;
  const f = $("inframe");
  const s = Math.min((f.clientWidth - 8) / imgW, (f.clientHeight - 8) / imgH);
  const w = Math.max(1, Math.floor(imgW * s)) + "px", h = Math.max(1, Math.floor(imgH * s)) + "px";
  for (const el of [view, $("result")]) {
    el.style.width = w;
    el.style.height = h;
    el.classList.toggle("pixelated", s > 2);
  }
}
window.addEventListener("resize", fit);

function loadBlob(blob, maskBlob) {
  const url = URL.createObjectURL(blob);
  const im = new Image();
  im.onload = () => {
    imgBlob = blob;
    imgW = im.naturalWidth;
    imgH = im.naturalHeight;
    view.width = maskC.width = imgW;
    view.height = maskC.height = imgH;
    view.getContext("2d").drawImage(im, 0, 0);
    maskCtx.clearRect(0, 0, imgW, imgH);
    undoStack = [];
    $("hint").hidden = true;
    $("stack").hidden = false;
    $("run").disabled = false;
    clearResult();
    fit();
    status(`${imgW} x ${imgH}: paint the hole`);
    URL.revokeObjectURL(url);
    if (maskBlob) loadMask(maskBlob);
  };
  im.onerror = () => status("cannot read this file as an image (PNG, JPEG; PPM/PGM only where the browser reads them)", true);
  im.src = url;
}

// loadMask paints a mask image (white = hole) onto the mask canvas.
function loadMask(blob) {
  const im = new Image();
  im.onload = () => {
    const c = document.createElement("canvas");
    c.width = imgW; c.height = imgH;
    const ctx = c.getContext("2d");
    ctx.drawImage(im, 0, 0, imgW, imgH);
    const src = ctx.getImageData(0, 0, imgW, imgH), out = maskCtx.createImageData(imgW, imgH);
    for (let i = 0; i < src.data.length; i += 4) {
      if (src.data[i] >= 128) { out.data[i] = 255; out.data[i + 1] = 40; out.data[i + 2] = 40; out.data[i + 3] = 255; }
    }
    maskCtx.putImageData(out, 0, 0);
  };
  im.src = URL.createObjectURL(blob);
}

$("file").addEventListener("change", (e) => {
  if (e.target.files.length) loadBlob(e.target.files[0]);
  e.target.value = "";
});

$("demo").addEventListener("click", async () => {
  const [a, b] = await Promise.all([fetch("/v1/demo/image.png"), fetch("/v1/demo/mask.png")]);
  loadBlob(await a.blob(), await b.blob());
});

// painting: the mask canvas has the image's size; pointer positions are
// mapped from its displayed size.
function pos(e) {
  const r = maskC.getBoundingClientRect();
  return { x: (e.clientX - r.left) * maskC.width / r.width, y: (e.clientY - r.top) * maskC.height / r.height };
}

function stroke(a, b) {
  const r = maskC.getBoundingClientRect();
  maskCtx.save();
  maskCtx.globalCompositeOperation = mode === "eraser" ? "destination-out" : "source-over";
  maskCtx.strokeStyle = "rgb(255,40,40)";
  maskCtx.lineCap = maskCtx.lineJoin = "round";
  maskCtx.lineWidth = Math.max(1, $("size").value * maskC.width / r.width);
  maskCtx.beginPath();
  maskCtx.moveTo(a.x, a.y);
  maskCtx.lineTo(b.x + 0.01, b.y);
  maskCtx.stroke();
  maskCtx.restore();
}

maskC.addEventListener("pointerdown", (e) => {
  if (!imgW) return;
  undoStack.push(maskCtx.getImageData(0, 0, imgW, imgH));
  if (undoStack.length > 30) undoStack.shift();
  painting = true;
  maskC.setPointerCapture(e.pointerId);
  last = pos(e);
  stroke(last, last);
});
maskC.addEventListener("pointermove", (e) => {
  if (!painting) return;
  const p = pos(e);
  stroke(last, p);
  last = p;
});
for (const ev of ["pointerup", "pointercancel"]) maskC.addEventListener(ev, () => { painting = false; });

function setMode(m) {
  mode = m;
  $("brush").classList.toggle("on", m === "brush");
  $("eraser").classList.toggle("on", m === "eraser");
}
$("brush").addEventListener("click", () => setMode("brush"));
$("eraser").addEventListener("click", () => setMode("eraser"));
$("size").addEventListener("input", () => { $("sizeval").textContent = $("size").value; });
function undo() { if (undoStack.length) maskCtx.putImageData(undoStack.pop(), 0, 0); }
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", () => {
  if (!imgW) return;
  undoStack.push(maskCtx.getImageData(0, 0, imgW, imgH));
  maskCtx.clearRect(0, 0, imgW, imgH);
});
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  if ((e.ctrlKey || e.metaKey) && e.key === "z") { undo(); e.preventDefault(); }
  else if (e.key === "b") setMode("brush");
  else if (e.key === "e") setMode("eraser");
});
$("dice").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 1e9); });

// maskPNG is the painted mask as a PNG: white (hole) where the paint is
// at least half opaque, black elsewhere; holes counts the hole pixels.
function maskPNG() {
  const src = maskCtx.getImageData(0, 0, imgW, imgH);
  const c = document.createElement("canvas");
  c.width = imgW; c.height = imgH;
  const ctx = c.getContext("2d");
  const out = ctx.createImageData(imgW, imgH);
  let holes = 0;
  for (let i = 0; i < src.data.length; i += 4) {
    const v = src.data[i + 3] >= 128 ? 255 : 0;
    holes += v ? 1 : 0;
    out.data[i] = out.data[i + 1] = out.data[i + 2] = v;
    out.data[i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  return new Promise((res) => c.toBlob((b) => res({ blob: b, holes }), "image/png"));
}

function clearResult() {
  $("result").hidden = true;
  $("result").classList.remove("preview");
  delete $("result").dataset.ready;
  $("download").hidden = true;
  $("nores").hidden = false;
  $("stats").textContent = "";
  progress(0, 1);
}

function busy(on) {
  $("run").disabled = on || !imgW;
  $("cancel").hidden = !on;
}

async function run() {
  if (!imgBlob) return;
  const m = await maskPNG();
  window.lastMask = m.blob;
  const fd = new FormData();
  fd.append("image", imgBlob, "image");
  fd.append("mask", m.blob, "mask.png");
  if ($("steps").value) fd.append("steps", $("steps").value); // empty: the server's default
  fd.append("seed", $("seed").value || "0");
  fd.append("average", $("average").value || "1");
  fd.append("sampler", $("sampler").value);
  clearResult();
  busy(true);
  status(m.holes ? "submitting" : "the mask is empty: the input comes back unchanged");
  let r, body;
  try {
    r = await fetch("/v1/jobs", { method: "POST", body: fd });
    body = await r.json();
  } catch (err) {
    busy(false);
    return status("cannot reach the server: " + err, true);
  }
  if (!r.ok) {
    busy(false);
    return status(`${r.status}: ${body.error}`, true);
  }
  job = body.id;
  status("queued");
  source = new EventSource(body.events);
  source.addEventListener("progress", (e) => {
    const d = JSON.parse(e.data);
    progress(d.step, d.total);
    status(`step ${d.step} of ${d.total}`);
    if (d.preview) showPreview(d.preview);
  });
  source.addEventListener("done", async (e) => {
    source.close();
    const d = JSON.parse(e.data);
    progress(1, 1);
    const rr = await fetch(d.result);
    if (!rr.ok) {
      busy(false);
      return status(`${rr.status}: ${(await rr.json()).error}`, true);
    }
    showResult(await rr.blob(), rr.headers);
    busy(false);
    job = null;
  });
  source.addEventListener("error", (e) => {
    source.close();
    busy(false);
    job = null;
    if (e.data) {
      const d = JSON.parse(e.data);
      status(d.state === "cancelled" ? "cancelled" : `${d.status}: ${d.error}`, d.state !== "cancelled");
    } else {
      status("lost the connection to the server", true);
    }
  });
}
$("run").addEventListener("click", run);

$("cancel").addEventListener("click", async () => {
  if (!job) return;
  if (source) source.close();
  await fetch("/v1/jobs/" + job, { method: "DELETE" });
  job = null;
  busy(false);
  progress(0, 1);
  status("cancelled");
});

// showPreview shows a low-resolution estimate while the job runs.
function showPreview(url) {
  const img = $("result");
  img.onload = null;
  img.src = url;
  img.hidden = false;
  img.classList.add("preview");
  $("nores").hidden = true;
  fit();
}

function showResult(blob, headers) {
  if (resultURL) URL.revokeObjectURL(resultURL);
  resultURL = URL.createObjectURL(blob);
  const img = $("result");
  img.classList.remove("preview");
  img.onload = () => {
    img.dataset.ready = "1";
    fit();
  };
  img.src = resultURL;
  img.hidden = false;
  $("nores").hidden = true;
  $("download").href = resultURL;
  $("download").hidden = false;
  $("stats").textContent = `${headers.get("X-Model-Calls")} model calls, ${Number(headers.get("X-Seconds")).toFixed(1)} s`;
  status("done");
}

// the server's defaults
fetch("/v1/config").then((r) => r.json()).then((c) => {
  $("steps").value = c.steps || ""; // 0: the server chooses by the start
  $("steps").max = c.base_steps;
  $("average").max = c.max_n;
  $("sampler").value = c.sampler;
  $("model").textContent = `model trained at ${c.model_size} x ${c.model_size}; images up to ${(c.max_pixels / 1048576).toFixed(1)} Mpx`;
  if (c.demo) $("demo").click();
}).catch(() => {});
