/* Byte buffers, time and logging for adbd. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/logline.h"
#include "adbd.h"

void buf_append(buf_t *b, const void *p, size_t n) {
  if (n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown) {
      LOGE("out of memory (%zu bytes)", cap);
      abort();
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void buf_put_u32(buf_t *b, uint32_t v) {
  uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  buf_append(b, le, 4);
}

void buf_consume(buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
  } else {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
  }
  /* Give back memory after a large transfer (a 256 KiB WRTE should not stay allocated per idle stream). */
  if (b->len == 0 && b->cap > (1u << 20)) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
}

void buf_free(buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void json_escape(const char *in, char *out, size_t cap) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && o + 7 < cap; p++) {
    if (*p == '"' || *p == '\\') {
      out[o++] = '\\';
      out[o++] = (char)*p;
    } else if (*p < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", *p);
    } else {
      out[o++] = (char)*p;
    }
  }
  out[o] = '\0';
}

void log_msg(char level, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char escaped[1600];
  json_escape(msg, escaped, sizeof escaped);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const char *name = level == 'E' ? "error" : level == 'W' ? "warn" : level == 'D' ? "debug" : "info";
  fprintf(stderr, "{\"time\":%lld,\"level\":\"%s\",\"component\":\"adbd\",\"msg\":\"%s\"}\n",
          (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, name, escaped);
  /* Per-stream chatter stays out of logcat, as with Android's adbd. */
  if (level != 'D') logline_append(level, "adbd", msg);
}
