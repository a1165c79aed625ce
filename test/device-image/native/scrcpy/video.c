/*
 * The video socket, as scrcpy's Streamer writes it (all integers big-endian):
 *   codec meta   3.x: u32 codec_id, u32 width, u32 height      4.x: u32 codec_id
 *   session      4.x only, at every capture session: 12 bytes, byte 0 = 0x80, u32 width, u32 height at 4..11
 *   packets      u64 pts_and_flags, u32 size, payload (Annex-B)
 *                3.x: bit 63 CONFIG, bit 62 KEY_FRAME, PTS below      4.x: bit 63 = 0, 62 CONFIG, 61 KEY
 * A capture session sends a config packet (SPS+PPS, PTS field 0) and then frames from an IDR, paced by the
 * wall clock at the source rate (or max_fps) with PTS in microseconds since the stream started, so PTS keeps
 * increasing across clip loops, resets and rotations. Reset (RESET_VIDEO) and rotation (ROTATE_DEVICE)
 * start a new session at once. Without frame meta the payloads are written back to back (raw H.264).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scrcpy.h"

static const uint8_t START_CODE[4] = {0, 0, 0, 1};

typedef struct {
  server_t *s;
  uint8_t *buf;
  size_t cap;
} writer_t;

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v >> 32));
  put_u32(p + 4, (uint32_t)v);
}

/* The client closed the video socket: the server ends (scrcpy stops when its video stream breaks). */
static void closed(server_t *s) {
  ln(s, 1, "Video socket closed: exiting");
  _exit(0);
}

static void send_or_exit(server_t *s, const void *p, size_t n) {
  if (!write_all(s->video_fd, p, n)) closed(s);
}

static void ensure(writer_t *w, size_t n) {
  if (n <= w->cap) return;
  w->cap = n * 2;
  w->buf = realloc(w->buf, w->cap);
  if (!w->buf) abort();
}

/* One media packet (header + Annex-B payload of the given NALs) in a single write. */
static void send_packet(writer_t *w, const h264_nal_t *const *nals, size_t n, bool config, bool key, uint64_t pts) {
  size_t size = 0;
  for (size_t i = 0; i < n; i++) size += 4 + nals[i]->len;
  ensure(w, 12 + size);
  size_t off = 0;
  if (w->s->opt.send_frame_meta) {
    uint64_t flags;
    if (w->s->opt.v4) flags = (config ? 1ull << 62 : 0) | (key ? 1ull << 61 : 0) | (config ? 0 : pts);
    else flags = (config ? 1ull << 63 : 0) | (key ? 1ull << 62 : 0) | (config ? 0 : pts);
    put_u64(w->buf, flags);
    put_u32(w->buf + 8, (uint32_t)size);
    off = 12;
  }
  for (size_t i = 0; i < n; i++) {
    memcpy(w->buf + off, START_CODE, 4);
    memcpy(w->buf + off + 4, nals[i]->p, nals[i]->len);
    off += 4 + nals[i]->len;
  }
  send_or_exit(w->s, w->buf, off);
}

/* A new capture session: (4.x) session packet, then the config packet of the current clip. */
static void start_session(writer_t *w, const h264_clip_t *clip, int width, int height) {
  server_t *s = w->s;
  atomic_store(&s->width, width);
  atomic_store(&s->height, height);
  if (s->opt.v4 && s->opt.send_frame_meta) {
    uint8_t session[12] = {0x80, 0, 0, 0};
    put_u32(session + 4, (uint32_t)width);
    put_u32(session + 8, (uint32_t)height);
    send_or_exit(s, session, sizeof session);
  }
  const h264_nal_t *config[2] = {clip->sps, clip->pps};
  send_packet(w, config, 2, true, false, 0);
  ln(s, 1, "Capture session %dx%d", width, height);
}

/* One frame: the AU's slices (MediaCodec output carries no parameter sets, SEI or AUD; the config has them). */
static void send_frame(writer_t *w, const h264_clip_t *clip, size_t index, uint64_t pts) {
  const h264_au_t *au = &clip->aus[index];
  const h264_nal_t *nals[64];
  size_t n = 0;
  for (size_t j = 0; j < au->count && n < 64; j++) {
    const h264_nal_t *nal = &clip->nals[au->first + j];
    if (nal->type == 1 || nal->type == 5) nals[n++] = nal;
  }
  send_packet(w, nals, n, false, au->key, pts);
}

void *video_main(void *arg) {
  server_t *s = arg;
  writer_t w = {.s = s};
  double fps = s->fps;
  if (s->opt.max_fps > 0 && s->opt.max_fps < fps) fps = s->opt.max_fps; /* fewer frames, never dropped ones */
  const uint64_t interval = (uint64_t)(1000000.0 / fps);
  int landscape = 0;
  const h264_clip_t *clip = &s->clips[0];
  int width = s->natural_w, height = s->natural_h;

  if (s->opt.send_codec_meta) {
    uint8_t meta[12];
    put_u32(meta, CODEC_ID_H264);
    put_u32(meta + 4, (uint32_t)width);
    put_u32(meta + 8, (uint32_t)height);
    send_or_exit(s, meta, s->opt.v4 ? 4 : 12);
  }
  const uint64_t t0 = mono_us();
  uint64_t next_due = t0, last_pts = 0;
  size_t index = 0;
  bool restart = true;
  for (;;) {
    if (restart) {
      restart = false;
      start_session(&w, clip, width, height);
      index = 0;
      /* The IDR goes out at once (a reset must not wait for the next tick), then pacing resumes from now. */
      uint64_t now = mono_us();
      uint64_t pts = now - t0 > last_pts ? now - t0 : last_pts + 1;
      send_frame(&w, clip, index++, pts);
      last_pts = pts;
      next_due = now + interval;
      continue;
    }
    uint64_t now = mono_us();
    int timeout_ms = next_due > now ? (int)((next_due - now + 999) / 1000) : 0;
    struct pollfd fds[2] = {{.fd = s->wake[0], .events = POLLIN}, {.fd = s->video_fd, .events = POLLRDHUP}};
    int r = poll(fds, 2, timeout_ms);
    if (r < 0 && errno != EINTR) closed(s);
    if (r > 0 && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) closed(s);
    if (r > 0 && (fds[0].revents & POLLIN)) {
      char drain[64];
      while (read(s->wake[0], drain, sizeof drain) > 0) {
      }
      int req = atomic_exchange(&s->requests, 0);
      if (req & REQ_ROTATE) {
        landscape = !landscape;
        clip = &s->clips[landscape];
        width = landscape ? s->natural_h : s->natural_w;
        height = landscape ? s->natural_w : s->natural_h;
      }
      if (req) restart = true;
      continue;
    }
    now = mono_us();
    if (now + 500 < next_due) continue; /* poll rounds to milliseconds: wait for the rest */
    uint64_t pts = next_due - t0 > last_pts ? next_due - t0 : last_pts + 1;
    send_frame(&w, clip, index, pts);
    last_pts = pts;
    index = (index + 1) % clip->n_aus; /* the clip starts with an IDR, so a loop restarts on one */
    next_due += interval;
    if (mono_us() > next_due + 1000000u) next_due = mono_us() + interval; /* a stalled reader: no catch-up burst */
  }
  return NULL;
}
