/*
 * app_process [-options] <dir> com.genymobile.scrcpy.Server <version> key=value...
 * A native stand-in for scrcpy's server started by Android's app_process: it reads the server file named by
 * CLASSPATH (a stand-in text file naming the version, see ../../README.md), checks the version argument
 * against it exactly, parses the key=value options like Options.java, then serves the scrcpy socket
 * protocol on the abstract socket scrcpy_<scid>: real H.264 from the baked display clips (video.c) and the
 * control channel, recorded byte for byte (control.c). One process per server, no children.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/logline.h"
#include "scrcpy.h"

#define SERVER_CLASS "com.genymobile.scrcpy.Server"
#define STANDIN_MAGIC "cloudphone-scrcpy-server-standin"

static const char *const LEVELS[] = {"VERBOSE", "DEBUG", "INFO", "WARN", "ERROR"};

void ln(const server_t *s, int level, const char *fmt, ...) {
  if (s && level < s->opt.log_level) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  FILE *out = level >= 3 ? stderr : stdout;
  fprintf(out, "[server] %s: %s\n", LEVELS[level], msg);
  fflush(out);
  logline_append("VDIWE"[level], "scrcpy", msg);
}

bool write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    len -= (size_t)w;
  }
  return true;
}

uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What a Java exception escaping main looks like on the console (Server.main logs it, then exits 1). */
static int fail(const char *exception, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ln(NULL, 4, "%s", msg);
  fprintf(stderr, "%s: %s\n", exception, msg);
  return 1;
}

static bool parse_bool(const char *v) { return !strcasecmp(v, "true"); } /* Boolean.parseBoolean */

/* Reads the version out of the stand-in server file; NULL (and errno) when it is missing or not one. */
static bool read_server_version(const char *path, char *version, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) return false;
  char line[256];
  bool magic = false, found = false;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!magic) {
      magic = !strcmp(line, STANDIN_MAGIC);
      if (!magic) break;
    } else if (!strncmp(line, "version=", 8)) {
      snprintf(version, size, "%.63s", line + 8);
      found = version[0] != '\0';
    }
  }
  fclose(f);
  return magic && found;
}

static void read_prop(const char *key, char *out, size_t size, const char *fallback) {
  snprintf(out, size, "%s", fallback);
  FILE *f = fopen("/run/boot-props", "r");
  if (!f) return;
  char line[256];
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, key, kl) && line[kl] == '=') {
      line[strcspn(line, "\r\n")] = '\0';
      snprintf(out, size, "%s", line + kl + 1);
    }
  }
  fclose(f);
}

/* Parses the options like Options.parse; returns 0 or the exit status after printing the error. */
static int parse_options(server_t *s, int argc, char **argv) {
  options_t *o = &s->opt;
  *o = (options_t){.log_level = 1, .video = true, .audio = true, .control = true, .cleanup = true,
                   .send_device_meta = true, .send_frame_meta = true, .send_dummy_byte = true,
                   .send_codec_meta = true};
  snprintf(o->version, sizeof o->version, "%s", argv[0]);
  o->v4 = atoi(o->version) >= 4;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *eq = strchr(arg, '=');
    if (!eq) return fail("java.lang.IllegalArgumentException", "Invalid key=value pair: \"%s\"", arg);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
    const char *v = eq + 1;
    if (!strcmp(key, "scid")) {
      char *end;
      long scid = strtol(v, &end, 16);
      if (!*v || *end) return fail("java.lang.NumberFormatException", "For input string: \"%s\" under radix 16", v);
      if (scid > 0x7fffffffL) return fail("java.lang.NumberFormatException", "For input string: \"%s\" under radix 16", v);
      if (scid < -1) return fail("java.lang.IllegalArgumentException", "scid may not be negative (except -1 for 'none'): %ld", scid);
      if (scid == -1) o->scid[0] = '\0';
      else snprintf(o->scid, sizeof o->scid, "%08x", (unsigned)scid);
    } else if (!strcmp(key, "log_level")) {
      int level = -1;
      for (int l = 0; l < 5; l++)
        if (!strcasecmp(v, LEVELS[l])) level = l;
      if (level < 0) return fail("java.lang.IllegalArgumentException", "No enum constant com.genymobile.scrcpy.util.Ln.Level.%s", v);
      o->log_level = level;
    } else if (!strcmp(key, "video")) {
      o->video = parse_bool(v);
    } else if (!strcmp(key, "audio")) {
      o->audio = parse_bool(v);
    } else if (!strcmp(key, "control")) {
      o->control = parse_bool(v);
    } else if (!strcmp(key, "tunnel_forward")) {
      o->tunnel_forward = parse_bool(v);
    } else if (!strcmp(key, "cleanup")) {
      o->cleanup = parse_bool(v);
    } else if (!strcmp(key, "list_encoders")) {
      o->list_encoders = parse_bool(v);
    } else if (!strcmp(key, "send_device_meta")) {
      o->send_device_meta = parse_bool(v);
    } else if (!strcmp(key, "send_frame_meta")) {
      o->send_frame_meta = parse_bool(v);
    } else if (!strcmp(key, "send_dummy_byte")) {
      o->send_dummy_byte = parse_bool(v);
    } else if (!strcmp(key, "send_codec_meta") || !strcmp(key, "send_stream_meta")) {
      o->send_codec_meta = parse_bool(v); /* 4.x documents the name send_stream_meta */
    } else if (!strcmp(key, "raw_stream")) {
      if (parse_bool(v)) o->send_device_meta = o->send_frame_meta = o->send_dummy_byte = o->send_codec_meta = false;
    } else if (!strcmp(key, "max_fps")) {
      char *end;
      o->max_fps = strtod(v, &end);
      if (!*v || *end) return fail("java.lang.IllegalArgumentException", "Invalid float value for max_fps: \"%s\"", v);
    } else if (!strcmp(key, "max_size")) {
      char *end;
      long size = strtol(v, &end, 10);
      if (!*v || *end) return fail("java.lang.NumberFormatException", "For input string: \"%s\"", v);
      o->max_size = (int)size & ~7; /* multiple of 8 */
    } else if (!strcmp(key, "video_codec")) {
      if (strcmp(v, "h264") && strcmp(v, "h265") && strcmp(v, "av1"))
        return fail("java.lang.IllegalArgumentException", "Video codec %s not supported", v);
      if (strcmp(v, "h264")) {
        /* A known codec this device has no encoder for: what scrcpy reports on such a device. */
        ln(NULL, 4, "Could not create default video encoder for %s", v);
        ln(NULL, 4, "List of video encoders:\n    --video-codec=h264 --video-encoder=c2.android.avc.encoder (sw)");
        fprintf(stderr, "com.genymobile.scrcpy.device.ConfigurationException: Unsupported video codec\n");
        return 1;
      }
    } else if (!strcmp(key, "video_encoder")) {
      if (*v && strcmp(v, "c2.android.avc.encoder") && strcmp(v, "OMX.google.h264.encoder")) {
        ln(NULL, 4, "Video encoder '%s' for h264 not found", v);
        ln(NULL, 4, "List of video encoders:\n    --video-codec=h264 --video-encoder=c2.android.avc.encoder (sw)");
        fprintf(stderr, "com.genymobile.scrcpy.device.ConfigurationException: Unknown encoder: %s\n", v);
        return 1;
      }
    } else if (!strcmp(key, "video_bit_rate") || !strcmp(key, "video_codec_options") || !strcmp(key, "audio_codec") ||
               !strcmp(key, "clipboard_autosync") || !strcmp(key, "power_off_on_close") || !strcmp(key, "power_on") ||
               !strcmp(key, "stay_awake") || !strcmp(key, "show_touches") || !strcmp(key, "downsize_on_error") ||
               !strcmp(key, "display_id") || !strcmp(key, "audio_bit_rate") || !strcmp(key, "video_source") ||
               !strcmp(key, "audio_source") || !strcmp(key, "screen_off_timeout") || !strcmp(key, "crop") ||
               !strcmp(key, "angle") || !strcmp(key, "capture_orientation")) {
      /* accepted; nothing on the emulated display depends on them */
    } else {
      ln(NULL, 3, "Unknown server option: %s", key);
    }
  }
  return 0;
}

static int load_display(server_t *s) {
  s->natural_w = 720, s->natural_h = 1280, s->fps = 30;
  FILE *conf = fopen(DISPLAY_CONF, "r");
  if (conf) {
    char line[128];
    while (fgets(line, sizeof line, conf)) {
      sscanf(line, "width=%d", &s->natural_w);
      sscanf(line, "height=%d", &s->natural_h);
      sscanf(line, "fps=%d", &s->fps);
    }
    fclose(conf);
  }
  char path[96];
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, DISPLAY_CLIP, i ? s->natural_h : s->natural_w, i ? s->natural_w : s->natural_h);
    if (!h264_clip_load(&s->clips[i], path)) {
      ln(s, 4, "Could not open display clip %s", path);
      return 1;
    }
  }
  return 0;
}

static socklen_t abstract_addr(struct sockaddr_un *addr, const char *name) {
  *addr = (struct sockaddr_un){.sun_family = AF_UNIX};
  size_t len = strlen(name);
  memcpy(addr->sun_path + 1, name, len); /* leading NUL: abstract namespace (LocalServerSocket) */
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

/* DesktopConnection.open: the sockets in the order video, audio, control (skipping disabled ones). Forward:
 * listen and accept, the dummy byte right after the first accept. Reverse: connect to the client. */
static int open_connection(server_t *s, const char *name) {
  int *fds[3] = {&s->video_fd, &s->audio_fd, &s->control_fd};
  bool enabled[3] = {s->opt.video, s->opt.audio, s->opt.control};
  struct sockaddr_un addr;
  socklen_t alen = abstract_addr(&addr, name);
  int server = -1;
  if (s->opt.tunnel_forward) {
    server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (server < 0 || bind(server, (struct sockaddr *)&addr, alen) < 0 || listen(server, 4) < 0)
      return fail("java.io.IOException", "%s", strerror(errno));
  }
  bool first = true;
  for (int i = 0; i < 3; i++) {
    *fds[i] = -1;
    if (!enabled[i]) continue;
    int fd;
    if (server >= 0) {
      while ((fd = accept4(server, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR) {
      }
    } else {
      fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, alen) < 0) {
        close(fd);
        fd = -1;
      }
    }
    if (fd < 0) return fail("java.io.IOException", "%s", strerror(errno));
    *fds[i] = fd;
    if (first && server >= 0 && s->opt.send_dummy_byte) write_all(fd, "", 1);
    first = false;
  }
  if (server >= 0) close(server); /* like the real server: nothing more is accepted */
  return 0;
}

static void log_session(const server_t *s, const char *socket_name) {
  mkdir(SCRCPY_DIR, 0755);
  char line[512];
  int n = snprintf(line, sizeof line, "%llu start pid=%d scid=%s version=%s framing=%s socket=%s video=%d control=%d\n",
                   (unsigned long long)now_ms(), (int)getpid(), s->opt.scid[0] ? s->opt.scid : "none", s->opt.version,
                   s->opt.v4 ? "v4" : "v3", socket_name, s->opt.video, s->opt.control);
  int fd = open(SCRCPY_DIR "/sessions.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    write_all(fd, line, (size_t)n);
    close(fd);
  }
}

static int scrcpy_server(int argc, char **argv) {
  static server_t server;
  server_t *s = &server;
  const char *classpath = getenv("CLASSPATH");
  char server_version[64];
  if (!classpath || !read_server_version(classpath, server_version, sizeof server_version)) {
    fprintf(stderr,
            "Exception in thread \"main\" java.lang.ClassNotFoundException: Didn't find class \"" SERVER_CLASS
            "\" on path: DexPathList[[zip file \"%s\"],nativeLibraryDirectories=[/system/lib64, /system/lib64]]\n",
            classpath ? classpath : "");
    return 1;
  }
  if (argc < 1) return fail("java.lang.IllegalArgumentException", "Missing client version");
  if (strcmp(argv[0], server_version))
    return fail("java.lang.IllegalArgumentException", "The server version (%s) does not match the client (%s)",
                server_version, argv[0]);
  int rc = parse_options(s, argc, argv);
  if (rc) return rc;

  char model[92], release[16];
  read_prop("ro.product.model", model, sizeof model, "cloudphone-test-device");
  read_prop("ro.build.version.release", release, sizeof release, "13");
  ln(s, 2, "Device: [cloudphone] cloudphone %s (Android %s)", model, release);
  if (s->opt.list_encoders) {
    ln(s, 2, "List of video encoders:\n    --video-codec=h264 --video-encoder=c2.android.avc.encoder (sw)");
    ln(s, 2, "List of audio encoders:");
    return 0;
  }
  if (!s->opt.video && !s->opt.audio && !s->opt.control)
    return fail("java.lang.IllegalArgumentException", "No video, no audio, no control");
  if (load_display(s)) return 1;
  if (s->opt.max_size && s->opt.max_size < (s->natural_h > s->natural_w ? s->natural_h : s->natural_w))
    ln(s, 3, "max_size=%d ignored: the emulated display only has its baked size", s->opt.max_size);
  atomic_store(&s->width, s->natural_w);
  atomic_store(&s->height, s->natural_h);
  if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) return fail("java.io.IOException", "%s", strerror(errno));

  char socket_name[32];
  snprintf(socket_name, sizeof socket_name, s->opt.scid[0] ? "scrcpy_%s" : "scrcpy", s->opt.scid);
  log_session(s, socket_name);
  if ((rc = open_connection(s, socket_name))) return rc;

  int first = s->opt.video ? s->video_fd : s->opt.audio ? s->audio_fd : s->control_fd;
  if (s->opt.send_device_meta) {
    char name[DEVICE_NAME_FIELD_LENGTH] = {0};
    memcpy(name, model, strnlen(model, sizeof name - 1)); /* NUL-padded, at most 63 bytes */
    if (!write_all(first, name, sizeof name)) return 0;
  }
  if (s->opt.audio) {
    /* No audio capture on this device: the stream is "disabled" (codec id 0), as scrcpy sends it. */
    ln(s, 3, "Audio disabled: audio capture is not available on this device");
    static const uint8_t disabled[4] = {0, 0, 0, 0};
    write_all(s->audio_fd, disabled, sizeof disabled);
  }
  pthread_t video;
  if (s->opt.video && pthread_create(&video, NULL, video_main, s) != 0)
    return fail("java.lang.OutOfMemoryError", "pthread_create");
  if (s->opt.control) {
    rc = control_loop(s);
    _exit(rc); /* the controller ended: the whole server stops, like scrcpy's completion on a fatal end */
  }
  if (s->opt.video) pthread_join(video, NULL);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a vanished client is a write error, handled where it happens */
  setvbuf(stdout, NULL, _IOLBF, 0);
  int i = 1;
  while (i < argc && argv[i][0] == '-') i++; /* runtime options (-Xmx..., --nice-name=...) */
  if (argc - i < 2) {
    fprintf(stderr, "Usage: app_process [java-options] cmd-dir start-class-name [options]\n");
    return 1;
  }
  const char *klass = argv[i + 1];
  if (!strcmp(klass, SERVER_CLASS)) return scrcpy_server(argc - i - 2, argv + i + 2);
  fprintf(stderr,
          "Exception in thread \"main\" java.lang.ClassNotFoundException: Didn't find class \"%s\" on path: "
          "DexPathList[[zip file \"%s\"],nativeLibraryDirectories=[/system/lib64, /system/lib64]]\n",
          klass, getenv("CLASSPATH") ? getenv("CLASSPATH") : "");
  return 1;
}
