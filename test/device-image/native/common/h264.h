/* Annex-B H.264 helpers shared by screenrecord and the scrcpy server emulator: load a baked clip, split it
 * into NAL units and group those into access units (frames). */
#ifndef H264_H
#define H264_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *p; /* NAL payload without its start code */
  size_t len;
  int type; /* nal_unit_type: 1 slice, 5 IDR slice, 6 SEI, 7 SPS, 8 PPS, 9 AUD */
} h264_nal_t;

typedef struct {
  size_t first, count; /* NAL range in the clip */
  bool key;            /* contains an IDR slice */
} h264_au_t;

typedef struct {
  uint8_t *data;
  size_t len;
  h264_nal_t *nals;
  size_t n_nals;
  h264_au_t *aus;
  size_t n_aus;
  const h264_nal_t *sps, *pps; /* the first of each */
} h264_clip_t;

/* Loads and splits a clip; false (and a zeroed clip) when the file is missing, empty or has no SPS/PPS/AU. */
bool h264_clip_load(h264_clip_t *clip, const char *path);
void h264_clip_free(h264_clip_t *clip);

#endif
