// The viewer page: sign in, list my phones, open one live (stream.js) with input (input.js) and its buttons.
// No framework and no build step; served by the control plane (http/routes-console.ts) under a strict CSP.
import { Api } from "./api.js";
import { attachInput } from "./input.js";
import { StreamSession } from "./stream.js";

const $ = (id) => document.getElementById(id);
const api = new Api();
/** The open StreamSession, or null. */
let session = null;

const ui = {
  status(text) {
    $("status").textContent = text;
  },
  error(text) {
    const el = $("error");
    el.textContent = text;
    el.hidden = text === "";
  },
  show(section) {
    for (const id of ["login", "devices", "viewer"]) $(id).hidden = id !== section;
    $("who").hidden = !api.signedIn;
    $("who-email").textContent = api.user?.email ?? "";
  },
  control(state) {
    const badge = $("control-state");
    badge.className = `badge ${state === "holder" ? "holder" : state === "view-only" ? "view-only" : ""}`;
    badge.textContent = state === "holder" ? "You have control" : state === "view-only" ? "View only" : state;
    $("request-control").hidden = state === "holder";
    $("release-control").hidden = state !== "holder";
  },
  /** Whether the stream takes input: without it (screenrecord fallback) say so and disable every input control. */
  input(available) {
    $("input-notice").hidden = available;
    for (const el of document.querySelectorAll("[data-input]")) el.disabled = !available;
  },
};

// Test and diagnostics handle: the current session (its RTCPeerConnection, the messages sent).
window.cloudphoneViewer = {
  get session() {
    return session;
  },
  api,
};

api.onSignedOut = () => {
  leave("signed out");
  ui.show("login");
  ui.status("Signed out.");
};

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  ui.error("");
  try {
    await api.login(String(form.get("email")), String(form.get("password")));
    e.target.reset();
    await showDevices();
  } catch (err) {
    ui.error(`Sign-in failed: ${err.message}`);
  }
});

$("sign-out").addEventListener("click", async () => {
  leave("signed out");
  await api.logout();
  ui.show("login");
});

$("refresh-devices").addEventListener("click", () => void showDevices());

async function showDevices() {
  ui.show("devices");
  ui.status("Loading phones…");
  try {
    const { devices } = await api.getJson("/api/devices");
    const list = $("device-list");
    list.replaceChildren(
      ...devices.map((d) => {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = `Open ${d.name ?? d.id}`;
        b.dataset.deviceId = d.id;
        b.disabled = d.state !== "running";
        b.addEventListener("click", () => void openDevice(d.id, d.name ?? d.id));
        li.append(b, ` ${d.id} · ${d.state}`);
        return li;
      }),
    );
    $("no-devices").hidden = devices.length > 0;
    ui.status(`${devices.length} phone${devices.length === 1 ? "" : "s"}.`);
  } catch (err) {
    ui.error(`Could not list phones: ${err.message}`);
  }
}

async function openDevice(id, name) {
  leave("switched");
  ui.error("");
  ui.show("viewer");
  $("viewer-device").textContent = name;
  $("video-size").textContent = "–";
  $("rtt").textContent = "–";
  ui.control("connecting");
  ui.input(true);
  const s = new StreamSession(api, id, $("video"), {
    state: (text) => ($("conn-state").textContent = text),
    control: ({ holder, input }) => {
      ui.input(input);
      ui.control(holder && input ? "holder" : "view-only"); // holding control of a stream without input means nothing
      if (holder) ui.error(""); // a stale "view only" refusal no longer applies
    },
    video: ({ width, height }) => ui.status(`The phone's screen is now ${width}×${height}.`),
    clipboard: (text) => void copied(text),
    error: (code, message) => ui.error(code === "view_only" ? "View only: another viewer has control. Use “Request control”." : `${code}: ${message}`),
    rtt: (ms) => ($("rtt").textContent = `${ms} ms`),
    closed: (reason) => {
      if (session === s) session = null;
      $("conn-state").textContent = "closed";
      ui.status(`Session ended: ${reason}.`);
    },
  });
  session = s;
  try {
    await s.start();
    ui.status(`Connecting to ${name}…`);
  } catch (err) {
    s.close("could not start");
    ui.error(`Could not open the phone: ${err.message}`);
  }
}

function leave(reason, unloading = false) {
  const s = session;
  session = null;
  s?.close(reason, unloading);
}

$("leave").addEventListener("click", () => {
  leave("left");
  void showDevices();
});
// The page going away (tab closed, navigation): end the session with a keepalive DELETE. The agent also ends it
// when the heartbeat stops, but this frees it at once.
window.addEventListener("pagehide", () => leave("page closed", true));

const $video = $("video");
$video.addEventListener("resize", () => {
  $("video-size").textContent = `${$video.videoWidth}×${$video.videoHeight}`;
});
// A stream without input gets no input messages at all (the agent would refuse each one).
attachInput($("screen"), $video, () => (session?.input === false ? null : session));

for (const b of document.querySelectorAll("[data-nav]")) {
  b.addEventListener("click", () => session?.send({ t: "nav", button: b.dataset.nav }));
}
$("rotate").addEventListener("click", () => session?.send({ t: "rotate" }));
$("request-control").addEventListener("click", () => session?.send({ t: "control.request" }));
$("release-control").addEventListener("click", () => session?.send({ t: "control.release" }));

$("paste").addEventListener("click", async () => {
  let text = $("clip-text").value;
  if (text === "") {
    try {
      text = await navigator.clipboard.readText();
    } catch {
      ui.error("Type the text to paste in the box (the browser did not allow reading the clipboard).");
      return;
    }
  }
  if (text !== "") session?.send({ t: "clipboard.set", text: text.slice(0, 65536), paste: true });
});
$("copy").addEventListener("click", () => session?.send({ t: "clipboard.get" }));

/** The phone's clipboard arrived: into the box always, into the browser's clipboard when permitted. */
async function copied(text) {
  $("clip-text").value = text;
  try {
    await navigator.clipboard.writeText(text);
    ui.status("Copied the phone's clipboard.");
  } catch {
    ui.status("The phone's clipboard is in the box (the browser did not allow writing the clipboard).");
  }
}

ui.show("login");
