/* A minimal MP4 writer for one H.264 video track: ftyp, then mdat written sample by sample, then moov
 * once the recording ends (so a file stays valid only if it was finished, as with MediaMuxer). */
#ifndef MP4_H
#define MP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mp4 mp4_t;

/* sps/pps: raw NAL units (no start code). Returns NULL and sets errno if the file cannot be written. */
mp4_t *mp4_open(int fd, int width, int height, int fps, const uint8_t *sps, size_t sps_len, const uint8_t *pps,
                size_t pps_len);
/* One access unit: NAL units without start codes. */
bool mp4_write_sample(mp4_t *m, const uint8_t *const *nals, const size_t *nal_lens, size_t count, bool keyframe);
/* Writes moov, fixes the mdat size and frees m. The fd stays open. */
bool mp4_finish(mp4_t *m);

#endif
