/*
 * screenrecord [--time-limit SEC] [--size WxH] [--bit-rate RATE] [--output-format=mp4|h264] [--verbose] FILE|-
 * Records "the screen": a baked H.264 clip of the display (/system/media/screenrecord.h264, Annex-B,
 * made by ffmpeg at image build; its size and rate in screenrecord.conf), looped and paced in real time.
 * Stops at the time limit (default and maximum 180 s, as on Android) or on SIGINT/SIGTERM/SIGHUP, and
 * then finishes the file: MP4 gets its index (moov) written, so an interrupted recording is still valid;
 * only SIGKILL leaves an unfinished MP4, like on a phone. h264 writes a raw Annex-B stream (FILE or "-").
 * --size and --bit-rate are validated like Android does and otherwise ignored (the clip is what it is).
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

#include "../common/logline.h"
#include "mp4.h"
#include "toolbox.h"

#define CLIP_PATH "/system/media/screenrecord.h264"
#define CONF_PATH "/system/media/screenrecord.conf"
#define MAX_TIME_LIMIT 180

typedef struct {
  const uint8_t *p;
  size_t len;
  int type;
} nal_t;

typedef struct {
  size_t first, count; /* NAL range */
  bool key;
} au_t;

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
static size_t split_nals(const uint8_t *d, size_t n, nal_t **out) {
  size_t count = 0, cap = 256;
  nal_t *nals = malloc(cap * sizeof *nals);
  size_t i = 0, start = (size_t)-1;
  while (i + 3 <= n) {
    if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
      if (start != (size_t)-1) {
        size_t end = i;
        while (end > start && d[end - 1] == 0) end--; /* the 4-byte form's leading zero */
        if (count == cap) nals = realloc(nals, (cap *= 2) * sizeof *nals);
        nals[count++] = (nal_t){d + start, end - start, d[start] & 0x1f};
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start != (size_t)-1 && start < n) {
    if (count == cap) nals = realloc(nals, (cap *= 2) * sizeof *nals);
    nals[count++] = (nal_t){d + start, n - start, d[start] & 0x1f};
  }
  *out = nals;
  return count;
}

/* Groups NAL units into access units (frames): a new one starts at an access unit delimiter, at
 * SPS/PPS/SEI after a picture, or at a slice whose first_mb_in_slice is 0 after a picture. */
static size_t group_aus(const nal_t *nals, size_t n, au_t **out) {
  au_t *aus = malloc((n + 1) * sizeof *aus);
  size_t count = 0;
  bool has_vcl = false;
  for (size_t i = 0; i < n; i++) {
    int t = nals[i].type;
    bool vcl = t == 1 || t == 5;
    bool first_mb_zero = vcl && nals[i].len > 1 && (nals[i].p[1] & 0x80);
    bool starts = count == 0 || t == 9 || (has_vcl && (t == 7 || t == 8 || t == 6 || (vcl && first_mb_zero)));
    if (starts) {
      aus[count++] = (au_t){i, 0, false};
      has_vcl = false;
    }
    aus[count - 1].count++;
    if (t == 5) aus[count - 1].key = true;
    if (vcl) has_vcl = true;
  }
  *out = aus;
  return count;
}

int screenrecord_main(int argc, char **argv) {
  int time_limit = MAX_TIME_LIMIT;
  bool h264 = false, verbose = false;
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

  int width = 720, height = 1280, fps = 15;
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
  size_t clip_len = 0;
  uint8_t *clip = read_file(CLIP_PATH, &clip_len);
  nal_t *nals = NULL;
  au_t *aus = NULL;
  size_t n_nals = clip ? split_nals(clip, clip_len, &nals) : 0;
  size_t n_aus = n_nals ? group_aus(nals, n_nals, &aus) : 0;
  const nal_t *sps = NULL, *pps = NULL;
  for (size_t i = 0; i < n_nals && (!sps || !pps); i++) {
    if (nals[i].type == 7 && !sps) sps = &nals[i];
    if (nals[i].type == 8 && !pps) pps = &nals[i];
  }
  if (!n_aus || !sps || !pps || fps <= 0) {
    fprintf(stderr, "Unable to get output buffers (no display clip at %s)\n", CLIP_PATH);
    return 1;
  }

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
    const au_t *au = &aus[i % n_aus];
    const uint8_t *parts[64];
    size_t lens[64], k = 0;
    for (size_t j = 0; j < au->count && k < 64; j++) {
      const nal_t *nal = &nals[au->first + j];
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
  free(nals);
  free(aus);
  free(clip);
  return rc;
}
