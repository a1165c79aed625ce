/*
 * sync: service, protocol v1 (what `adb push/pull`, adbkit and ddmlib speak without stat_v2/ls_v2):
 * requests are a 4-byte id + u32 LE length + that many bytes (a path). STAT -> STAT(mode,size,mtime);
 * LIST -> DENT(mode,size,mtime,namelen,name)... DONE; SEND "path,mode" then DATA(len,bytes)... DONE(mtime)
 * -> OKAY or FAIL(len,message); RECV path -> DATA... DONE or FAIL; QUIT ends the stream.
 * Pushed files are written to a temporary file beside the target and renamed into place on DONE.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adbd.h"

#define SYNC_DATA_MAX (64u * 1024u)
#define SYNC_PATH_MAX 1024u

enum { PH_REQ, PH_PATH, PH_SEND_HDR, PH_SEND_DATA, PH_QUIT };

struct sync_state {
  int phase;
  uint8_t hdr[8];
  size_t hdr_len;
  char req[5];
  uint32_t req_len;
  char path[SYNC_PATH_MAX + 1];
  size_t path_len;
  /* SEND */
  int send_fd;
  bool send_link;
  buf_t link_target;
  mode_t send_mode;
  char dest[SYNC_PATH_MAX + 1];
  char tmp[SYNC_PATH_MAX + 64];
  char error[300];
  uint32_t data_remaining;
  /* RECV */
  int recv_fd;
};

static unsigned tmp_counter = 0;

static void put_id(buf_t *b, const char *id) { buf_append(b, id, 4); }

static void reply_fail(stream_t *s, const char *msg) {
  put_id(&s->out, "FAIL");
  buf_put_u32(&s->out, (uint32_t)strlen(msg));
  buf_append(&s->out, msg, strlen(msg));
}

sync_t *sync_start(stream_t *s) {
  (void)s;
  sync_t *y = calloc(1, sizeof *y);
  if (!y) abort();
  y->send_fd = -1;
  y->recv_fd = -1;
  return y;
}

void sync_free(stream_t *s) {
  sync_t *y = s->sync;
  if (y->send_fd >= 0) {
    close(y->send_fd);
    unlink(y->tmp); /* an interrupted push leaves nothing behind */
  }
  if (y->recv_fd >= 0) close(y->recv_fd);
  buf_free(&y->link_target);
  free(y);
  s->sync = NULL;
}

bool sync_has_work(const stream_t *s) { return s->sync && s->sync->recv_fd >= 0; }

static void mkdir_parents(const char *path) {
  char tmp[SYNC_PATH_MAX + 1];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(tmp, 0755);
    *p = '/';
  }
}

static void do_stat(stream_t *s, const char *path) {
  struct stat st;
  put_id(&s->out, "STAT");
  if (lstat(path, &st) < 0) {
    buf_put_u32(&s->out, 0);
    buf_put_u32(&s->out, 0);
    buf_put_u32(&s->out, 0);
  } else {
    buf_put_u32(&s->out, (uint32_t)st.st_mode);
    buf_put_u32(&s->out, (uint32_t)st.st_size);
    buf_put_u32(&s->out, (uint32_t)st.st_mtime);
  }
}

static void do_list(stream_t *s, const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      char full[SYNC_PATH_MAX + 260];
      snprintf(full, sizeof full, "%s/%s", path, e->d_name);
      struct stat st;
      if (lstat(full, &st) < 0) continue;
      size_t nlen = strlen(e->d_name);
      put_id(&s->out, "DENT");
      buf_put_u32(&s->out, (uint32_t)st.st_mode);
      buf_put_u32(&s->out, (uint32_t)st.st_size);
      buf_put_u32(&s->out, (uint32_t)st.st_mtime);
      buf_put_u32(&s->out, (uint32_t)nlen);
      buf_append(&s->out, e->d_name, nlen);
    }
    closedir(d);
  }
  put_id(&s->out, "DONE");
  for (int i = 0; i < 4; i++) buf_put_u32(&s->out, 0);
}

static void begin_send(stream_t *s, sync_t *y) {
  /* "path,mode": the mode follows the last comma (paths may contain commas). */
  char *comma = strrchr(y->path, ',');
  y->send_mode = 0644;
  if (comma) {
    *comma = '\0';
    y->send_mode = (mode_t)strtoul(comma + 1, NULL, 10);
  }
  snprintf(y->dest, sizeof y->dest, "%s", y->path);
  y->error[0] = '\0';
  y->send_link = S_ISLNK(y->send_mode);
  y->link_target.len = 0;
  y->phase = PH_SEND_HDR;
  if (y->send_link) return;
  mkdir_parents(y->dest);
  const char *slash = strrchr(y->dest, '/');
  int dir_len = slash ? (int)(slash - y->dest) : 0;
  snprintf(y->tmp, sizeof y->tmp, "%.*s%s.adbd-push-%d-%u.tmp", dir_len, y->dest, slash ? "/" : "", (int)getpid(),
           ++tmp_counter);
  y->send_fd = open(y->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (y->send_fd < 0) snprintf(y->error, sizeof y->error, "couldn't create file: %s", strerror(errno));
  (void)s;
}

static void finish_send(stream_t *s, sync_t *y, uint32_t mtime) {
  if (y->send_link) {
    buf_append(&y->link_target, "", 1);
    unlink(y->dest);
    mkdir_parents(y->dest);
    if (symlink((const char *)y->link_target.data, y->dest) < 0)
      snprintf(y->error, sizeof y->error, "symlink failed: %s", strerror(errno));
  } else if (y->send_fd >= 0) {
    mode_t perm = y->send_mode & 07777;
    if (perm == 0) perm = 0644;
    struct timespec times[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    if (!y->error[0] && fchmod(y->send_fd, perm) < 0)
      snprintf(y->error, sizeof y->error, "chmod failed: %s", strerror(errno));
    if (!y->error[0] && futimens(y->send_fd, times) < 0)
      snprintf(y->error, sizeof y->error, "utime failed: %s", strerror(errno));
    if (close(y->send_fd) < 0 && !y->error[0]) snprintf(y->error, sizeof y->error, "close failed: %s", strerror(errno));
    y->send_fd = -1;
    if (!y->error[0] && rename(y->tmp, y->dest) < 0)
      snprintf(y->error, sizeof y->error, "couldn't rename: %s", strerror(errno));
    if (y->error[0]) unlink(y->tmp);
  }
  if (y->error[0]) {
    LOGW("stream %u: push to %s failed: %s", s->local_id, y->dest, y->error);
    reply_fail(s, y->error);
  } else {
    put_id(&s->out, "OKAY");
    buf_put_u32(&s->out, 0);
  }
  y->phase = PH_REQ;
}

static void begin_recv(stream_t *s, sync_t *y) {
  int fd = open(y->path, O_RDONLY | O_CLOEXEC);
  char msg[300];
  if (fd < 0) {
    snprintf(msg, sizeof msg, "open failed: %s", strerror(errno));
    reply_fail(s, msg);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    reply_fail(s, "read failed: Is a directory");
    return;
  }
  y->recv_fd = fd;
}

static void handle_request(stream_t *s, sync_t *y) {
  y->path[y->path_len] = '\0';
  if (!strcmp(y->req, "STAT")) {
    do_stat(s, y->path);
  } else if (!strcmp(y->req, "LIST")) {
    do_list(s, y->path);
  } else if (!strcmp(y->req, "SEND")) {
    begin_send(s, y);
    return;
  } else if (!strcmp(y->req, "RECV")) {
    begin_recv(s, y);
  }
  y->phase = PH_REQ;
}

/* Copies up to `want` bytes from the stream input into dst; returns how many. */
static size_t take(stream_t *s, void *dst, size_t want) {
  size_t n = s->in.len < want ? s->in.len : want;
  memcpy(dst, s->in.data, n);
  buf_consume(&s->in, n);
  return n;
}

void sync_consume_input(stream_t *s) {
  sync_t *y = s->sync;
  while (s->in.len > 0 && y->recv_fd < 0 && !s->dead) {
    switch (y->phase) {
      case PH_QUIT:
        buf_consume(&s->in, s->in.len);
        return;
      case PH_REQ:
      case PH_SEND_HDR: {
        y->hdr_len += take(s, y->hdr + y->hdr_len, 8 - y->hdr_len);
        if (y->hdr_len < 8) return;
        y->hdr_len = 0;
        memcpy(y->req, y->hdr, 4);
        y->req[4] = '\0';
        uint32_t len = rd_u32(y->hdr + 4);
        if (y->phase == PH_SEND_HDR) {
          if (!strcmp(y->req, "DATA") && len <= 4 * SYNC_DATA_MAX) {
            y->data_remaining = len;
            if (len > 0) y->phase = PH_SEND_DATA;
          } else if (!strcmp(y->req, "DONE")) {
            finish_send(s, y, len);
          } else {
            reply_fail(s, "invalid data message");
            y->phase = PH_QUIT;
            s->finishing = true;
          }
          break;
        }
        if (!strcmp(y->req, "QUIT")) {
          y->phase = PH_QUIT;
          s->finishing = true;
          break;
        }
        if (strcmp(y->req, "STAT") && strcmp(y->req, "LIST") && strcmp(y->req, "SEND") && strcmp(y->req, "RECV")) {
          LOGW("stream %u: unknown sync request '%s'", s->local_id, y->req);
          reply_fail(s, "unknown sync request");
          y->phase = PH_QUIT;
          s->finishing = true;
          break;
        }
        if (len > SYNC_PATH_MAX) {
          reply_fail(s, "path too long");
          y->phase = PH_QUIT;
          s->finishing = true;
          break;
        }
        y->req_len = len;
        y->path_len = 0;
        y->phase = PH_PATH;
        if (len == 0) handle_request(s, y);
        break;
      }
      case PH_PATH:
        y->path_len += take(s, y->path + y->path_len, y->req_len - y->path_len);
        if (y->path_len == y->req_len) handle_request(s, y);
        break;
      case PH_SEND_DATA: {
        size_t n = s->in.len < y->data_remaining ? s->in.len : y->data_remaining;
        if (y->send_link) {
          if (y->link_target.len + n <= SYNC_PATH_MAX) buf_append(&y->link_target, s->in.data, n);
        } else if (y->send_fd >= 0 && !y->error[0]) {
          size_t off = 0;
          while (off < n) {
            ssize_t w = write(y->send_fd, s->in.data + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
              snprintf(y->error, sizeof y->error, "write failed: %s", w < 0 ? strerror(errno) : "no space");
              break;
            }
            off += (size_t)w;
          }
        }
        buf_consume(&s->in, n);
        y->data_remaining -= (uint32_t)n;
        if (y->data_remaining == 0) y->phase = PH_SEND_HDR;
        break;
      }
    }
  }
}

void sync_produce(stream_t *s) {
  sync_t *y = s->sync;
  static uint8_t chunk[SYNC_DATA_MAX];
  while (y->recv_fd >= 0 && stream_room(s) > 8) {
    size_t want = stream_room(s) - 8;
    if (want > SYNC_DATA_MAX) want = SYNC_DATA_MAX;
    ssize_t r = read(y->recv_fd, chunk, want);
    if (r < 0 && errno == EINTR) continue;
    if (r > 0) {
      put_id(&s->out, "DATA");
      buf_put_u32(&s->out, (uint32_t)r);
      buf_append(&s->out, chunk, (size_t)r);
      continue;
    }
    if (r == 0) {
      put_id(&s->out, "DONE");
      buf_put_u32(&s->out, 0);
    } else {
      char msg[300];
      snprintf(msg, sizeof msg, "read failed: %s", strerror(errno));
      reply_fail(s, msg);
    }
    close(y->recv_fd);
    y->recv_fd = -1;
  }
}
