/* The scrcpy server emulator (run as app_process): shared types. See ../../README.md for the contract. */
#ifndef SCRCPY_H
#define SCRCPY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/h264.h"

#define SCRCPY_DIR "/data/scrcpy"
#define DISPLAY_CONF "/system/media/display.conf"
#define DISPLAY_CLIP "/system/media/display-%dx%d.h264"
#define CODEC_ID_H264 0x68323634u
#define DEVICE_NAME_FIELD_LENGTH 64

typedef struct {
  char version[64]; /* the client version argument (equal to the server file's) */
  bool v4;          /* framing: 4.x session packets and moved flag bits, else the 2.x/3.x framing */
  char scid[16];    /* "%08x", or "" when scid=-1 (socket "scrcpy") */
  int log_level;    /* 0 verbose, 1 debug, 2 info, 3 warn, 4 error */
  bool video, audio, control, tunnel_forward, cleanup, list_encoders;
  bool send_device_meta, send_frame_meta, send_dummy_byte, send_codec_meta;
  double max_fps; /* 0: the source rate */
  int max_size;
} options_t;

enum { REQ_RESET = 1, REQ_ROTATE = 2 };

typedef struct {
  options_t opt;
  int video_fd, audio_fd, control_fd;
  int wake[2];          /* control thread -> video thread */
  atomic_int requests;  /* REQ_* flags for the video thread */
  atomic_int width, height; /* the size of the capture session being sent */
  int natural_w, natural_h, fps;
  h264_clip_t clips[2]; /* [0] portrait (natural), [1] landscape */
} server_t;

/* Logs like scrcpy's Ln ("[server] LEVEL: msg"): INFO and below to stdout, WARN/ERROR to stderr. */
void ln(const server_t *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* write() until done; false on error (EPIPE when the client went away). */
bool write_all(int fd, const void *buf, size_t len);
uint64_t now_ms(void);

/* Video thread: codec meta, then session/config/frames paced by the wall clock; exits the process when the
 * video socket closes. */
void *video_main(void *arg);
/* Control loop: parses control messages, records them, answers clipboard requests; returns when the socket
 * closes (0) or carries garbage (1). */
int control_loop(server_t *s);

#endif
