/*
 * screenrecord [--time-limit SEC] [--size WxH] [--bit-rate RATE] [--output-format=mp4|h264] [--verbose] FILE|-
 * Records "the screen": a baked H.264 clip of the display (/system/media/display-WxH.h264, Annex-B, made by
 * ffmpeg at image build; size and rate in display.conf), looped and paced in real time (wall clock).
 * Stops at the time limit (default and maximum 180 s, as on Android) or on SIGINT/SIGTERM/SIGHUP, and
 * then finishes the file: MP4 gets its index (moov) written, so an interrupted recording is still valid;
 * only SIGKILL leaves an unfinished MP4, like on a phone. h264 writes a raw Annex-B stream (FILE or "-").
 * --size is validated and picks the portrait or landscape clip (no scaling); --bit-rate is validated only.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/h264.h"
#include "../common/logline.h"
#include "mp4.h"
#include "toolbox.h"

#define CONF_PATH "/system/media/display.conf"
#define CLIP_FORMAT "/system/media/display-%dx%d.h264"
#define MAX_TIME_LIMIT 180

static volatile sig_atomic_t stop_requested = 0;
static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int usage(void) {
  fprintf(stderr,
          "Usage: screenrecord [options] <filename>\n"
          "Options:\n"
          "--size WIDTHxHEIGHT\n--bit-rate RATE\n--time-limit TIME (default %d, max %d)\n"
          "--output-format FORMAT (mp4 or h264)\n--verbose\n--help\n",
          MAX_TIME_LIMIT, MAX_TIME_LIMIT);
  return 2;
}

static bool parse_rate(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || v <= 0) return false;
  if (*end == 'k' || *end == 'K' || *end == 'm' || *end == 'M') end++;
  return *end == '\0';
}

int screenrecord_main(int argc, char **argv) {
  int time_limit = MAX_TIME_LIMIT;
  bool h264 = false, verbose = false, landscape = false;
  static const struct option opts[] = {
      {"help", no_argument, NULL, 'h'},          {"verbose", no_argument, NULL, 'v'},
      {"size", required_argument, NULL, 's'},    {"bit-rate", required_argument, NULL, 'b'},
      {"time-limit", required_argument, NULL, 't'}, {"output-format", required_argument, NULL, 'o'},
      {"bugreport", no_argument, NULL, 'u'},     {"rotate", no_argument, NULL, 'r'},
      {"display-id", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
      case 'h':
        usage();
        return 0;
      case 'v':
        verbose = true;
        break;
      case 's': {
        unsigned w, h;
        char extra;
        if (sscanf(optarg, "%ux%u%c", &w, &h, &extra) != 2 || w == 0 || h == 0) {
          fprintf(stderr, "Invalid size '%s', must be width x height\n", optarg);
          return 2;
        }
        landscape = w > h;
        break;
      }
      case 'b':
        if (!parse_rate(optarg)) {
          fprintf(stderr, "Invalid bit rate '%s'\n", optarg);
          return 2;
        }
        break;
      case 't': {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v < 1 || v > MAX_TIME_LIMIT) {
          fprintf(stderr, "Time limit %ss outside acceptable range [1,%d]\n", optarg, MAX_TIME_LIMIT);
          return 2;
        }
        time_limit = (int)v;
        break;
      }
      case 'o':
        if (!strcmp(optarg, "h264")) {
          h264 = true;
        } else if (!strcmp(optarg, "mp4")) {
          h264 = false;
        } else {
          fprintf(stderr, "Unknown format '%s'\n", optarg);
          return 2;
        }
        break;
      case 'u':
      case 'r':
      case 'd':
        break;
      default:
        return usage();
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "Must specify output file (see --help).\n");
    return 2;
  }
  const char *path = argv[optind];
  bool to_stdout = !strcmp(path, "-");
  if (to_stdout && !h264) {
    fprintf(stderr, "Output to stdout needs --output-format=h264\n");
    return 2;
  }

  int width = 720, height = 1280, fps = 30;
  FILE *conf = fopen(CONF_PATH, "r");
  if (conf) {
    char line[128];
    while (fgets(line, sizeof line, conf)) {
      sscanf(line, "width=%d", &width);
      sscanf(line, "height=%d", &height);
      sscanf(line, "fps=%d", &fps);
    }
    fclose(conf);
  }
  /* The display has a portrait and a landscape clip; --size picks the orientation (no scaling). */
  if (landscape != (width > height)) {
    int t = width;
    width = height;
    height = t;
  }
  char clip_path[96];
  snprintf(clip_path, sizeof clip_path, CLIP_FORMAT, width, height);
  h264_clip_t clip;
  if (!h264_clip_load(&clip, clip_path) || fps <= 0) {
    fprintf(stderr, "Unable to get output buffers (no display clip at %s)\n", clip_path);
    return 1;
  }
  const h264_nal_t *nals = clip.nals, *sps = clip.sps, *pps = clip.pps;
  const h264_au_t *aus = clip.aus;
  size_t n_aus = clip.n_aus;

  int fd = to_stdout ? STDOUT_FILENO : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "Unable to open '%s': %s\n", path, strerror(errno));
    return 1;
  }
  struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: sleeps end at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  mp4_t *mp4 = NULL;
  if (!h264) {
    mp4 = mp4_open(fd, width, height, fps, sps->p, sps->len, pps->p, pps->len);
    if (!mp4) {
      fprintf(stderr, "Unable to write '%s': %s\n", path, strerror(errno));
      return 1;
    }
  }
  if (verbose) {
    fprintf(stderr, "Main display is %dx%d @%d.00fps (orientation=ROTATION_0)\n", width, height, fps);
    fprintf(stderr, "Configuring recorder for %dx%d video/avc at 4.00Mbps\n", width, height);
    fprintf(stderr, "Content area is %dx%d at offset x=0 y=0\n", width, height);
  }
  char msg[160];
  snprintf(msg, sizeof msg, "recording %s (%s, limit %d s)", path, h264 ? "h264" : "mp4", time_limit);
  logline_append('I', "ScreenRecord", msg);

  static const uint8_t start_code[4] = {0, 0, 0, 1};
  const size_t total = (size_t)time_limit * (size_t)fps;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t frames = 0;
  bool write_failed = false;
  for (size_t i = 0; i < total && !stop_requested && !write_failed; i++) {
    uint64_t due_ns = (uint64_t)i * 1000000000ull / (uint64_t)fps;
    struct timespec due = {t0.tv_sec + (time_t)((uint64_t)t0.tv_nsec + due_ns) / 1000000000,
                           (long)(((uint64_t)t0.tv_nsec + due_ns) % 1000000000)};
    while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR) {
    }
    if (stop_requested) break;
    const h264_au_t *au = &aus[i % n_aus];
    const uint8_t *parts[64];
    size_t lens[64], k = 0;
    for (size_t j = 0; j < au->count && k < 64; j++) {
      const h264_nal_t *nal = &nals[au->first + j];
      if (nal->type == 9) continue; /* access unit delimiters: not needed in either output */
      if (mp4 && (nal->type == 7 || nal->type == 8)) continue; /* parameter sets live in avcC */
      parts[k] = nal->p;
      lens[k++] = nal->len;
    }
    if (mp4) {
      write_failed = !mp4_write_sample(mp4, parts, lens, k, au->key);
    } else {
      for (size_t j = 0; j < k && !write_failed; j++) {
        write_failed = write(fd, start_code, 4) != 4;
        size_t off = 0;
        while (!write_failed && off < lens[j]) {
          ssize_t w = write(fd, parts[j] + off, lens[j] - off);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) write_failed = true;
          else off += (size_t)w;
        }
      }
    }
    if (!write_failed) frames++;
  }
  int rc = 0;
  if (mp4 && !mp4_finish(mp4)) {
    fprintf(stderr, "Failed writing '%s': %s\n", path, strerror(errno));
    rc = 1;
  } else if (write_failed && !to_stdout) {
    fprintf(stderr, "Failed writing '%s': %s\n", path, strerror(errno));
    rc = 1;
  }
  if (!to_stdout) close(fd);
  snprintf(msg, sizeof msg, "recording %s finished: %zu frames%s", path, frames, stop_requested ? " (stopped)" : "");
  logline_append('I', "ScreenRecord", msg);
  if (verbose) fprintf(stderr, "Stopping encoder and muxer\n");
  h264_clip_free(&clip);
  return rc;
}
