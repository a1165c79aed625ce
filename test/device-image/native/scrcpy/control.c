/*
 * The control socket, as scrcpy's ControlMessageReader reads it (big-endian; same layout 2.x to 4.x). Every
 * complete message is appended byte for byte to /data/scrcpy/control-<scid>.bin and as one parsed line to
 * control-<scid>.log. Device messages go back on the same socket: CLIPBOARD (0, u32 len, UTF-8) on
 * GET_CLIPBOARD, ACK_CLIPBOARD (1, u64 sequence) after SET_CLIPBOARD with a sequence other than 0. The
 * clipboard lives in /data/scrcpy/clipboard. An unknown type or an oversized message ends the server, like
 * the real one's ControlProtocolException.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scrcpy.h"

#define MESSAGE_MAX_SIZE (1 << 18) /* ControlMessageReader.MESSAGE_MAX_SIZE */
#define CLIPBOARD_PATH SCRCPY_DIR "/clipboard"
/* where the next part of the log line goes, and the room left there (64 bytes kept for suffixes) */
#define AT line + o, sizeof line - o - 64

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) << 32 | u32(p + 4); }

static const char *const NAMES[] = {
    "INJECT_KEYCODE", "INJECT_TEXT", "INJECT_TOUCH_EVENT", "INJECT_SCROLL_EVENT", "BACK_OR_SCREEN_ON",
    "EXPAND_NOTIFICATION_PANEL", "EXPAND_SETTINGS_PANEL", "COLLAPSE_PANELS", "GET_CLIPBOARD", "SET_CLIPBOARD",
    "SET_DISPLAY_POWER", "ROTATE_DEVICE", "UHID_CREATE", "UHID_INPUT", "UHID_DESTROY",
    "OPEN_HARD_KEYBOARD_SETTINGS", "START_APP", "RESET_VIDEO"};

/* Length of the complete message at the start of b: >0 when complete, 0 when more bytes are needed, -1 for
 * an unknown type or a size above the reader's limit. */
static long message_length(const uint8_t *b, size_t n) {
  if (n < 1) return 0;
  long need;
  switch (b[0]) {
    case 0: need = 14; break;
    case 1: need = n < 5 ? 5 : 5 + (long)u32(b + 1); break;
    case 2: need = 32; break;
    case 3: need = 21; break;
    case 4: case 8: case 10: need = 2; break;
    case 5: case 6: case 7: case 11: case 15: case 17: need = 1; break;
    case 9: need = n < 14 ? 14 : 14 + (long)u32(b + 10); break;
    case 12: /* id, vendor, product (u16 each), name (u8 length), report descriptor (u16 length) */
      if (n < 8) need = 8;
      else if (n < 8 + (size_t)b[7] + 2) need = 8 + b[7] + 2;
      else need = 8 + b[7] + 2 + u16(b + 8 + b[7]);
      break;
    case 13: need = n < 5 ? 5 : 5 + (long)u16(b + 3); break;
    case 14: need = 3; break;
    case 16: need = n < 2 ? 2 : 2 + (long)b[1]; break;
    default: return -1;
  }
  if (need > MESSAGE_MAX_SIZE) return -1;
  return (size_t)need <= n ? need : 0;
}

/* Appends text quoted, with \\, \", \n, \r, \t and other control bytes escaped (UTF-8 bytes kept). */
static size_t quote(char *out, size_t cap, const uint8_t *p, size_t n) {
  size_t o = 0;
  if (cap < 8) return 0;
  out[o++] = '"';
  for (size_t i = 0; i < n && o + 6 < cap; i++) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
    else if (c == '\n') o += (size_t)snprintf(out + o, cap - o, "\\n");
    else if (c == '\r') o += (size_t)snprintf(out + o, cap - o, "\\r");
    else if (c == '\t') o += (size_t)snprintf(out + o, cap - o, "\\t");
    else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    else out[o++] = (char)c;
  }
  out[o++] = '"';
  out[o] = '\0';
  return o;
}

static bool write_file_atomic(const char *path, const uint8_t *p, size_t n) {
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = write_all(fd, p, n);
  close(fd);
  return ok && rename(tmp, path) == 0;
}

static uint8_t *read_clipboard(size_t *len) {
  *len = 0;
  FILE *f = fopen(CLIPBOARD_PATH, "rb");
  uint8_t *text = malloc(MESSAGE_MAX_SIZE);
  if (!text) abort();
  if (f) {
    *len = fread(text, 1, MESSAGE_MAX_SIZE - 14, f);
    fclose(f);
  }
  return text;
}

/* Acts on one message and writes its log line; false when the socket broke while answering. */
static bool handle(server_t *s, const uint8_t *m, size_t n, int log_fd) {
  static char line[MESSAGE_MAX_SIZE * 4 + 256];
  int type = m[0];
  size_t o = (size_t)snprintf(line, sizeof line, "%llu %s", (unsigned long long)now_ms(), NAMES[type]);
  int w = atomic_load(&s->width), h = atomic_load(&s->height);
  bool ok = true;
  switch (type) {
    case 0:
      o += (size_t)snprintf(AT, " action=%u keycode=%d repeat=%d meta_state=%d", m[1], (int32_t)u32(m + 2),
                            (int32_t)u32(m + 6), (int32_t)u32(m + 10));
      break;
    case 1:
      o += (size_t)snprintf(AT, " text=");
      o += quote(AT, m + 5, n - 5);
      break;
    case 2:
      o += (size_t)snprintf(AT, " action=%u pointer_id=%lld x=%d y=%d width=%u height=%u pressure=%u action_button=%d buttons=%d",
                            m[1], (long long)(int64_t)u64(m + 2), (int32_t)u32(m + 10), (int32_t)u32(m + 14), u16(m + 18),
                            u16(m + 20), u16(m + 22), (int32_t)u32(m + 24), (int32_t)u32(m + 28));
      /* Controller drops positional events made for another video size ("Ignore positional event ...") */
      if (u16(m + 18) != w || u16(m + 20) != h) o += (size_t)snprintf(line + o, 64, " ignored=size");
      break;
    case 3:
      o += (size_t)snprintf(AT, " x=%d y=%d width=%u height=%u hscroll=%d vscroll=%d buttons=%d", (int32_t)u32(m + 1),
                            (int32_t)u32(m + 5), u16(m + 9), u16(m + 11), (int16_t)u16(m + 13), (int16_t)u16(m + 15),
                            (int32_t)u32(m + 17));
      if (u16(m + 9) != w || u16(m + 11) != h) o += (size_t)snprintf(line + o, 64, " ignored=size");
      break;
    case 4:
      o += (size_t)snprintf(AT, " action=%u", m[1]);
      break;
    case 8: {
      o += (size_t)snprintf(AT, " copy_key=%u", m[1]);
      size_t len;
      uint8_t *text = read_clipboard(&len);
      uint8_t *reply = malloc(5 + len);
      if (!reply) abort();
      reply[0] = 0; /* DeviceMessage.TYPE_CLIPBOARD */
      reply[1] = (uint8_t)(len >> 24), reply[2] = (uint8_t)(len >> 16), reply[3] = (uint8_t)(len >> 8), reply[4] = (uint8_t)len;
      memcpy(reply + 5, text, len);
      ok = write_all(s->control_fd, reply, 5 + len);
      free(reply);
      free(text);
      break;
    }
    case 9: {
      uint64_t sequence = u64(m + 1);
      o += (size_t)snprintf(AT, " sequence=%llu paste=%u text=", (unsigned long long)sequence, m[9] ? 1 : 0);
      o += quote(AT, m + 14, n - 14);
      mkdir(SCRCPY_DIR, 0755);
      write_file_atomic(CLIPBOARD_PATH, m + 14, n - 14);
      if (sequence != 0) {
        uint8_t ack[9] = {1}; /* DeviceMessage.TYPE_ACK_CLIPBOARD */
        memcpy(ack + 1, m + 1, 8);
        ok = write_all(s->control_fd, ack, sizeof ack);
      }
      break;
    }
    case 10:
      o += (size_t)snprintf(AT, " on=%u", m[1] ? 1 : 0);
      break;
    case 12:
      o += (size_t)snprintf(AT, " id=%u vendor_id=%u product_id=%u name=", u16(m + 1), u16(m + 3), u16(m + 5));
      o += quote(AT, m + 8, m[7]);
      o += (size_t)snprintf(line + o, 64, " report_desc_size=%u", u16(m + 8 + m[7]));
      break;
    case 13:
      o += (size_t)snprintf(AT, " id=%u size=%u", u16(m + 1), u16(m + 3));
      break;
    case 14:
      o += (size_t)snprintf(AT, " id=%u", u16(m + 1));
      break;
    case 16:
      o += (size_t)snprintf(AT, " name=");
      o += quote(AT, m + 2, m[1]);
      break;
    case 11:
    case 17:
      if (s->opt.video) {
        atomic_fetch_or(&s->requests, type == 11 ? REQ_ROTATE : REQ_RESET);
        ssize_t ignored = write(s->wake[1], "x", 1);
        (void)ignored;
      }
      break;
    default:
      break;
  }
  line[o++] = '\n';
  write_all(log_fd, line, o);
  return ok;
}

int control_loop(server_t *s) {
  mkdir(SCRCPY_DIR, 0755);
  const char *id = s->opt.scid[0] ? s->opt.scid : "none";
  char path[96];
  snprintf(path, sizeof path, SCRCPY_DIR "/control-%s.bin", id);
  int bin_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  snprintf(path, sizeof path, SCRCPY_DIR "/control-%s.log", id);
  int log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  uint8_t *buf = malloc(MESSAGE_MAX_SIZE + 4096);
  if (!buf) abort();
  size_t len = 0;
  for (;;) {
    ssize_t r = read(s->control_fd, buf + len, MESSAGE_MAX_SIZE + 4096 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ln(s, 1, "Controller stopped: control socket closed");
      return 0;
    }
    len += (size_t)r;
    size_t off = 0;
    long m;
    while ((m = message_length(buf + off, len - off)) > 0) {
      /* Recorded before acting on it, so a test that sees an answer also finds the message in the files. */
      write_all(bin_fd, buf + off, (size_t)m);
      if (!handle(s, buf + off, (size_t)m, log_fd)) return 0;
      off += (size_t)m;
    }
    if (m < 0) {
      ln(s, 4, "Controller error: Unknown or oversized control message (type %u)", buf[off]);
      shutdown(s->control_fd, SHUT_RDWR);
      return 1;
    }
    memmove(buf, buf + off, len - off);
    len -= off;
  }
}
