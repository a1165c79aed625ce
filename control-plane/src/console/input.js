// Input on the phone's screen → data channel messages: the mouse and pens through pointer events (pointer id 0
// for the mouse), fingers through touch events (multi-touch, ids 1..31), the wheel as `scroll`, keys as `text` or
// Android keycodes. Coordinates are normalised to the picture inside the <video> (object-fit: contain), so the
// black bars never produce a touch. The mapping itself is pure and tested: input-map.ts.
import { PointerSlots, classifyKey, contentBox, normalisePoint, wheelToScroll } from "./input-map.js";

/**
 * Attaches input handlers to `screen` (the focusable wrapper) and `video`; `session()` returns the current
 * StreamSession or null. Returns a function that removes them.
 */
export function attachInput(screen, video, session) {
  const slots = new PointerSlots();
  /** Pointers (browser pointerId) of mouse/pen presses in progress → our id. */
  const pressed = new Map();
  /** KeyboardEvent.code of keys sent as keycode downs → {keycode, repeat}, so keyup sends the matching up. */
  const keysDown = new Map();
  const ac = new AbortController();
  const on = (target, type, fn, opts = {}) => target.addEventListener(type, fn, { ...opts, signal: ac.signal });
  const send = (m) => session()?.send(m) ?? false;

  /** Client coordinates → normalised picture point, or null before the video has a size. */
  const point = (clientX, clientY) => {
    const r = video.getBoundingClientRect();
    const box = contentBox(r.width, r.height, video.videoWidth, video.videoHeight);
    return box === null ? null : normalisePoint(clientX - r.left, clientY - r.top, box);
  };
  const touch = (action, id, p, pressure = 1) => send({ t: "touch", action, id, x: p.x, y: p.y, pressure });

  on(video, "contextmenu", (e) => e.preventDefault());
  on(video, "pointerdown", (e) => {
    if (e.pointerType === "touch") return; // fingers: touch events below
    screen.focus();
    e.preventDefault();
    // Like scrcpy: right button is Back, middle button is Home.
    if (e.button === 2) return void send({ t: "nav", button: "back" });
    if (e.button === 1) return void send({ t: "nav", button: "home" });
    if (e.button !== 0) return;
    const p = point(e.clientX, e.clientY);
    if (p === null || !p.inside) return;
    const id = e.pointerType === "mouse" ? 0 : slots.acquire(e.pointerId + 1_000_000);
    if (id === null) return;
    pressed.set(e.pointerId, id);
    video.setPointerCapture(e.pointerId);
    touch("down", id, p, e.pointerType === "pen" ? e.pressure : 1);
  });
  on(video, "pointermove", (e) => {
    const id = pressed.get(e.pointerId);
    if (id === undefined) return;
    const p = point(e.clientX, e.clientY);
    if (p !== null) touch("move", id, p, e.pointerType === "pen" ? e.pressure : 1);
  });
  const pointerEnd = (action) => (e) => {
    const id = pressed.get(e.pointerId);
    if (id === undefined) return;
    pressed.delete(e.pointerId);
    if (e.pointerType !== "mouse") slots.release(e.pointerId + 1_000_000);
    const p = point(e.clientX, e.clientY) ?? { x: 0, y: 0 };
    touch(action, id, p, 0);
  };
  on(video, "pointerup", pointerEnd("up"));
  on(video, "pointercancel", pointerEnd("cancel"));

  const touchHandler = (action) => (e) => {
    e.preventDefault(); // no emulated mouse events, no browser scrolling or zooming
    if (action === "down") screen.focus();
    for (const t of e.changedTouches) {
      const p = point(t.clientX, t.clientY);
      if (action === "down") {
        if (p === null || !p.inside) continue;
        const id = slots.acquire(t.identifier);
        if (id !== null) touch("down", id, p, t.force > 0 ? Math.min(1, t.force) : 1);
        continue;
      }
      const id = action === "move" ? slots.get(t.identifier) : slots.release(t.identifier);
      if (id === undefined || p === null) continue;
      touch(action, id, p, action === "move" ? (t.force > 0 ? Math.min(1, t.force) : 1) : 0);
    }
  };
  on(video, "touchstart", touchHandler("down"), { passive: false });
  on(video, "touchmove", touchHandler("move"), { passive: false });
  on(video, "touchend", touchHandler("up"), { passive: false });
  on(video, "touchcancel", touchHandler("cancel"), { passive: false });

  on(video, "wheel", (e) => {
    e.preventDefault();
    const p = point(e.clientX, e.clientY);
    if (p === null || !p.inside) return;
    const { dx, dy } = wheelToScroll(e.deltaX, e.deltaY, e.deltaMode);
    if (dx !== 0 || dy !== 0) send({ t: "scroll", x: p.x, y: p.y, dx, dy });
  }, { passive: false });

  on(screen, "keydown", (e) => {
    if (e.isComposing) return;
    // Ctrl/Cmd+V pastes the browser's clipboard through the paste event below.
    if ((e.ctrlKey || e.metaKey) && e.code === "KeyV") return;
    const a = classifyKey(e);
    if (a === null) return;
    e.preventDefault();
    if (a.kind === "text") return void send({ t: "text", text: a.text });
    const held = keysDown.get(e.code);
    const repeat = e.repeat && held ? held.repeat + 1 : 0;
    keysDown.set(e.code, { keycode: a.keycode, meta: a.meta, repeat });
    send({ t: "key", action: "down", keycode: a.keycode, repeat, meta: a.meta });
  });
  on(screen, "keyup", (e) => {
    const held = keysDown.get(e.code);
    if (held === undefined) return;
    keysDown.delete(e.code);
    e.preventDefault();
    send({ t: "key", action: "up", keycode: held.keycode, repeat: 0, meta: held.meta });
  });
  on(screen, "paste", (e) => {
    const text = e.clipboardData?.getData("text/plain") ?? "";
    e.preventDefault();
    if (text !== "") send({ t: "clipboard.set", text: text.slice(0, 65536), paste: true });
  });
  // Keys held when focus leaves would stay down on the phone.
  on(screen, "blur", () => {
    for (const held of keysDown.values()) send({ t: "key", action: "up", keycode: held.keycode, repeat: 0, meta: held.meta });
    keysDown.clear();
  });

  return () => ac.abort();
}
