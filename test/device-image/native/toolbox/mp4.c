#include "mp4.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  uint8_t *d;
  size_t len, cap;
} bb_t;

struct mp4 {
  int fd;
  int width, height, fps;
  uint8_t *sps, *pps;
  size_t sps_len, pps_len;
  uint64_t mdat_start; /* offset of the mdat box header */
  uint64_t written;    /* bytes written to the file so far */
  uint32_t *sizes;
  uint32_t *keys;
  size_t n, n_keys, cap;
};

static void bb_put(bb_t *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n) cap *= 2;
    b->d = realloc(b->d, cap);
    if (!b->d) abort();
    b->cap = cap;
  }
  memcpy(b->d + b->len, p, n);
  b->len += n;
}
static void be8(bb_t *b, uint8_t v) { bb_put(b, &v, 1); }
static void be16(bb_t *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  bb_put(b, x, 2);
}
static void be32(bb_t *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  bb_put(b, x, 4);
}
static void zeros(bb_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) be8(b, 0);
}
/* Opens a box: writes a size placeholder and the type; returns where to patch the size. */
static size_t box(bb_t *b, const char *type) {
  size_t at = b->len;
  be32(b, 0);
  bb_put(b, type, 4);
  return at;
}
static size_t fullbox(bb_t *b, const char *type, uint8_t version, uint32_t flags) {
  size_t at = box(b, type);
  be32(b, ((uint32_t)version << 24) | flags);
  return at;
}
static void end(bb_t *b, size_t at) {
  uint32_t size = (uint32_t)(b->len - at);
  b->d[at] = (uint8_t)(size >> 24);
  b->d[at + 1] = (uint8_t)(size >> 16);
  b->d[at + 2] = (uint8_t)(size >> 8);
  b->d[at + 3] = (uint8_t)size;
}
static void matrix(bb_t *b) {
  static const uint32_t unity[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (int i = 0; i < 9; i++) be32(b, unity[i]);
}

static bool write_all(mp4_t *m, const void *p, size_t n) {
  const uint8_t *c = p;
  while (n > 0) {
    ssize_t w = write(m->fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= (size_t)w;
    m->written += (uint64_t)w;
  }
  return true;
}

mp4_t *mp4_open(int fd, int width, int height, int fps, const uint8_t *sps, size_t sps_len, const uint8_t *pps,
                size_t pps_len) {
  if (sps_len < 4 || pps_len < 1) {
    errno = EINVAL;
    return NULL;
  }
  mp4_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->fd = fd;
  m->width = width;
  m->height = height;
  m->fps = fps;
  m->sps = malloc(sps_len);
  m->pps = malloc(pps_len);
  if (!m->sps || !m->pps) abort();
  memcpy(m->sps, sps, sps_len);
  memcpy(m->pps, pps, pps_len);
  m->sps_len = sps_len;
  m->pps_len = pps_len;
  bb_t b = {0};
  size_t ftyp = box(&b, "ftyp");
  bb_put(&b, "isom", 4);
  be32(&b, 512);
  bb_put(&b, "isomiso2avc1mp41", 16);
  end(&b, ftyp);
  m->mdat_start = b.len;
  be32(&b, 8); /* patched by mp4_finish */
  bb_put(&b, "mdat", 4);
  bool ok = write_all(m, b.d, b.len);
  free(b.d);
  if (!ok) {
    free(m->sps);
    free(m->pps);
    free(m);
    return NULL;
  }
  return m;
}

bool mp4_write_sample(mp4_t *m, const uint8_t *const *nals, const size_t *nal_lens, size_t count, bool keyframe) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 1024;
    m->sizes = realloc(m->sizes, m->cap * sizeof *m->sizes);
    m->keys = realloc(m->keys, m->cap * sizeof *m->keys);
    if (!m->sizes || !m->keys) abort();
  }
  uint32_t size = 0;
  for (size_t i = 0; i < count; i++) {
    uint8_t len[4] = {(uint8_t)(nal_lens[i] >> 24), (uint8_t)(nal_lens[i] >> 16), (uint8_t)(nal_lens[i] >> 8),
                      (uint8_t)nal_lens[i]};
    if (!write_all(m, len, 4) || !write_all(m, nals[i], nal_lens[i])) return false;
    size += 4 + (uint32_t)nal_lens[i];
  }
  m->sizes[m->n++] = size;
  if (keyframe) m->keys[m->n_keys++] = (uint32_t)m->n; /* 1-based sample number */
  return true;
}

static void write_stbl(bb_t *b, const mp4_t *m) {
  size_t stbl = box(b, "stbl");
  size_t stsd = fullbox(b, "stsd", 0, 0);
  be32(b, 1);
  size_t avc1 = box(b, "avc1");
  zeros(b, 6);
  be16(b, 1); /* data reference index */
  zeros(b, 16);
  be16(b, (uint16_t)m->width);
  be16(b, (uint16_t)m->height);
  be32(b, 0x00480000); /* 72 dpi */
  be32(b, 0x00480000);
  be32(b, 0);
  be16(b, 1); /* frames per sample */
  zeros(b, 32); /* compressor name */
  be16(b, 0x0018);
  be16(b, 0xffff);
  size_t avcc = box(b, "avcC");
  be8(b, 1);
  be8(b, m->sps[1]); /* profile, compatibility, level from the SPS */
  be8(b, m->sps[2]);
  be8(b, m->sps[3]);
  be8(b, 0xff); /* 4-byte NAL lengths */
  be8(b, 0xe1); /* one SPS */
  be16(b, (uint16_t)m->sps_len);
  bb_put(b, m->sps, m->sps_len);
  be8(b, 1);
  be16(b, (uint16_t)m->pps_len);
  bb_put(b, m->pps, m->pps_len);
  end(b, avcc);
  end(b, avc1);
  end(b, stsd);
  size_t stts = fullbox(b, "stts", 0, 0);
  be32(b, m->n ? 1 : 0);
  if (m->n) {
    be32(b, (uint32_t)m->n);
    be32(b, 1000); /* media timescale is fps * 1000 */
  }
  end(b, stts);
  size_t stss = fullbox(b, "stss", 0, 0);
  be32(b, (uint32_t)m->n_keys);
  for (size_t i = 0; i < m->n_keys; i++) be32(b, m->keys[i]);
  end(b, stss);
  size_t stsc = fullbox(b, "stsc", 0, 0);
  be32(b, m->n ? 1 : 0);
  if (m->n) {
    be32(b, 1);
    be32(b, (uint32_t)m->n); /* all samples in one chunk */
    be32(b, 1);
  }
  end(b, stsc);
  size_t stsz = fullbox(b, "stsz", 0, 0);
  be32(b, 0);
  be32(b, (uint32_t)m->n);
  for (size_t i = 0; i < m->n; i++) be32(b, m->sizes[i]);
  end(b, stsz);
  size_t stco = fullbox(b, "stco", 0, 0);
  be32(b, m->n ? 1 : 0);
  if (m->n) be32(b, (uint32_t)(m->mdat_start + 8));
  end(b, stco);
  end(b, stbl);
}

bool mp4_finish(mp4_t *m) {
  uint32_t duration_ms = (uint32_t)((uint64_t)m->n * 1000 / (uint64_t)m->fps);
  uint32_t media_duration = (uint32_t)m->n * 1000;
  bb_t b = {0};
  size_t moov = box(&b, "moov");
  size_t mvhd = fullbox(&b, "mvhd", 0, 0);
  be32(&b, 0);
  be32(&b, 0);
  be32(&b, 1000);
  be32(&b, duration_ms);
  be32(&b, 0x00010000);
  be16(&b, 0x0100);
  zeros(&b, 10);
  matrix(&b);
  zeros(&b, 24);
  be32(&b, 2); /* next track id */
  end(&b, mvhd);
  size_t trak = box(&b, "trak");
  size_t tkhd = fullbox(&b, "tkhd", 0, 3); /* enabled, in movie */
  be32(&b, 0);
  be32(&b, 0);
  be32(&b, 1);
  be32(&b, 0);
  be32(&b, duration_ms);
  zeros(&b, 8);
  be16(&b, 0);
  be16(&b, 0);
  be16(&b, 0);
  be16(&b, 0);
  matrix(&b);
  be32(&b, (uint32_t)m->width << 16);
  be32(&b, (uint32_t)m->height << 16);
  end(&b, tkhd);
  size_t mdia = box(&b, "mdia");
  size_t mdhd = fullbox(&b, "mdhd", 0, 0);
  be32(&b, 0);
  be32(&b, 0);
  be32(&b, (uint32_t)m->fps * 1000);
  be32(&b, media_duration);
  be16(&b, 0x55c4); /* "und" */
  be16(&b, 0);
  end(&b, mdhd);
  size_t hdlr = fullbox(&b, "hdlr", 0, 0);
  be32(&b, 0);
  bb_put(&b, "vide", 4);
  zeros(&b, 12);
  bb_put(&b, "VideoHandle", 12);
  end(&b, hdlr);
  size_t minf = box(&b, "minf");
  size_t vmhd = fullbox(&b, "vmhd", 0, 1);
  zeros(&b, 8);
  end(&b, vmhd);
  size_t dinf = box(&b, "dinf");
  size_t dref = fullbox(&b, "dref", 0, 0);
  be32(&b, 1);
  size_t url = fullbox(&b, "url ", 0, 1); /* media data in this file */
  end(&b, url);
  end(&b, dref);
  end(&b, dinf);
  write_stbl(&b, m);
  end(&b, minf);
  end(&b, mdia);
  end(&b, trak);
  end(&b, moov);

  uint64_t mdat_size = m->written - m->mdat_start;
  bool ok = write_all(m, b.d, b.len);
  free(b.d);
  uint8_t size_be[4] = {(uint8_t)(mdat_size >> 24), (uint8_t)(mdat_size >> 16), (uint8_t)(mdat_size >> 8),
                        (uint8_t)mdat_size};
  if (ok) ok = pwrite(m->fd, size_be, 4, (off_t)m->mdat_start) == 4;
  free(m->sps);
  free(m->pps);
  free(m->sizes);
  free(m->keys);
  free(m);
  return ok;
}
