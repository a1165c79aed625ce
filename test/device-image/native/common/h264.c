#include "h264.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *d = n > 0 ? malloc((size_t)n) : NULL;
  if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
    free(d);
    d = NULL;
  }
  fclose(f);
  *len = d ? (size_t)n : 0;
  return d;
}

/* Splits an Annex-B stream into NAL units (start codes 00 00 01 / 00 00 00 01). */
static size_t split_nals(const uint8_t *d, size_t n, h264_nal_t **out) {
  size_t count = 0, cap = 256;
  h264_nal_t *nals = malloc(cap * sizeof *nals);
  size_t i = 0, start = (size_t)-1;
  while (i + 3 <= n) {
    if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
      if (start != (size_t)-1) {
        size_t end = i;
        while (end > start && d[end - 1] == 0) end--; /* the 4-byte form's leading zero */
        if (count == cap) nals = realloc(nals, (cap *= 2) * sizeof *nals);
        nals[count++] = (h264_nal_t){d + start, end - start, d[start] & 0x1f};
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start != (size_t)-1 && start < n) {
    if (count == cap) nals = realloc(nals, (cap *= 2) * sizeof *nals);
    nals[count++] = (h264_nal_t){d + start, n - start, d[start] & 0x1f};
  }
  *out = nals;
  return count;
}

/* Groups NAL units into access units: a new one starts at an access unit delimiter, at SPS/PPS/SEI after a
 * picture, or at a slice whose first_mb_in_slice is 0 after a picture. */
static size_t group_aus(const h264_nal_t *nals, size_t n, h264_au_t **out) {
  h264_au_t *aus = malloc((n + 1) * sizeof *aus);
  size_t count = 0;
  bool has_vcl = false;
  for (size_t i = 0; i < n; i++) {
    int t = nals[i].type;
    bool vcl = t == 1 || t == 5;
    bool first_mb_zero = vcl && nals[i].len > 1 && (nals[i].p[1] & 0x80);
    bool starts = count == 0 || t == 9 || (has_vcl && (t == 7 || t == 8 || t == 6 || (vcl && first_mb_zero)));
    if (starts) {
      aus[count++] = (h264_au_t){i, 0, false};
      has_vcl = false;
    }
    aus[count - 1].count++;
    if (t == 5) aus[count - 1].key = true;
    if (vcl) has_vcl = true;
  }
  *out = aus;
  return count;
}

bool h264_clip_load(h264_clip_t *clip, const char *path) {
  memset(clip, 0, sizeof *clip);
  clip->data = read_file(path, &clip->len);
  if (!clip->data) return false;
  clip->n_nals = split_nals(clip->data, clip->len, &clip->nals);
  clip->n_aus = clip->n_nals ? group_aus(clip->nals, clip->n_nals, &clip->aus) : 0;
  for (size_t i = 0; i < clip->n_nals && (!clip->sps || !clip->pps); i++) {
    if (clip->nals[i].type == 7 && !clip->sps) clip->sps = &clip->nals[i];
    if (clip->nals[i].type == 8 && !clip->pps) clip->pps = &clip->nals[i];
  }
  if (!clip->n_aus || !clip->sps || !clip->pps || !clip->aus[0].key) {
    h264_clip_free(clip);
    return false;
  }
  return true;
}

void h264_clip_free(h264_clip_t *clip) {
  free(clip->nals);
  free(clip->aus);
  free(clip->data);
  memset(clip, 0, sizeof *clip);
}
