/*
 * shell:/exec: services. A command runs as `/bin/sh -c <cmd>` in its own session (so its whole process
 * group can be signalled), with stdin from the stream and stdout/stderr to it: raw bytes for v1 and exec:,
 * shell protocol v2 packets (id byte, u32 LE length, data) when the host asked for "v2". An empty command
 * runs an interactive shell, on a PTY unless the host asked for "raw".
 *
 * When the host closes the stream before the command ends, the group gets SIGHUP (what a closing
 * terminal sends) and, if anything of it is still alive a second later, SIGKILL: nothing outlives its stream.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "adbd.h"

enum { ID_STDIN = 0, ID_STDOUT = 1, ID_STDERR = 2, ID_EXIT = 3, ID_CLOSE_STDIN = 4, ID_WINDOW_SIZE = 5 };
#define KILL_GRACE_MS 1000

struct shell {
  pid_t pid;
  bool exited;
  int status;
  int in_fd, out_fd, err_fd;
  bool v2, pty;
  bool done;
  /* v2 input parser state */
  uint8_t hdr[5];
  size_t hdr_len;
  bool in_packet;
  int cur_id;
  uint32_t remaining;
  char ctl[64];
  size_t ctl_len;
};

/* Process groups whose stream went away: SIGHUP was sent, SIGKILL follows at the deadline. The leader
 * is not reaped before the group is gone, so its pid (= the group id) cannot be reused meanwhile. */
typedef struct {
  pid_t pid;
  int64_t deadline;
  bool killed;
} doomed_t;
static doomed_t *doomed = NULL;
static size_t n_doomed = 0, cap_doomed = 0;

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static pid_t spawn(const char *command, bool pty, const char *term, bool merge_stderr, shell_t *sh) {
  int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
  int master = -1;
  char slave_name[128] = "";
  if (pty) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
        ptsname_r(master, slave_name, sizeof slave_name) != 0) {
      LOGE("cannot allocate a pty: %s", strerror(errno));
      if (master >= 0) close(master);
      return -1;
    }
  } else if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 ||
             (!merge_stderr && pipe2(err_p, O_CLOEXEC) < 0)) {
    LOGE("cannot create pipes: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
      if (in_p[i] >= 0) close(in_p[i]);
      if (out_p[i] >= 0) close(out_p[i]);
      if (err_p[i] >= 0) close(err_p[i]);
    }
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    LOGE("fork failed: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    setsid();
    if (pty) {
      int slave = open(slave_name, O_RDWR);
      if (slave < 0) _exit(126);
      ioctl(slave, TIOCSCTTY, 0);
      dup2(slave, 0);
      dup2(slave, 1);
      dup2(slave, 2);
      if (slave > 2) close(slave);
    } else {
      dup2(in_p[0], 0);
      dup2(out_p[1], 1);
      dup2(merge_stderr ? out_p[1] : err_p[1], 2);
    }
    /* adbd ignores SIGPIPE/SIGHUP; a command must start with default dispositions. */
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (chdir("/") < 0) _exit(126);
    setenv("HOME", "/", 1);
    setenv("SHELL", "/bin/sh", 1);
    setenv("TMPDIR", "/data/local/tmp", 1);
    if (term && *term) setenv("TERM", term, 1);
    if (*command == '\0') {
      if (pty)
        execl("/bin/sh", "-sh", (char *)NULL);
      else
        execl("/bin/sh", "sh", (char *)NULL);
    } else {
      execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    }
    _exit(127);
  }
  if (pty) {
    set_nonblock(master);
    sh->out_fd = master;
    sh->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
    sh->err_fd = -1;
  } else {
    close(in_p[0]);
    close(out_p[1]);
    if (!merge_stderr) close(err_p[1]);
    sh->in_fd = in_p[1];
    sh->out_fd = out_p[0];
    sh->err_fd = merge_stderr ? -1 : err_p[0];
    set_nonblock(sh->in_fd);
    set_nonblock(sh->out_fd);
    if (sh->err_fd >= 0) set_nonblock(sh->err_fd);
  }
  return pid;
}

shell_t *shell_start(stream_t *s, const char *args, const char *command, bool protocol_v2_allowed) {
  bool v2 = false, want_pty = false, want_raw = false;
  char term[64] = "";
  char copy[256];
  snprintf(copy, sizeof copy, "%s", args);
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (!strcmp(tok, "v2"))
      v2 = protocol_v2_allowed;
    else if (!strcmp(tok, "pty"))
      want_pty = true;
    else if (!strcmp(tok, "raw"))
      want_raw = true;
    else if (!strncmp(tok, "TERM=", 5))
      snprintf(term, sizeof term, "%s", tok + 5);
  }
  bool pty = want_pty || (!want_raw && *command == '\0');
  shell_t *sh = calloc(1, sizeof *sh);
  if (!sh) abort();
  sh->v2 = v2;
  sh->pty = pty;
  sh->in_fd = sh->out_fd = sh->err_fd = -1;
  /* Without the shell protocol there is one byte stream: stderr joins stdout. */
  sh->pid = spawn(command, pty, term, !v2, sh);
  if (sh->pid < 0) {
    free(sh);
    return NULL;
  }
  LOGD("stream %u: pid %d (%s%s)", s->local_id, (int)sh->pid, v2 ? "v2 " : "", pty ? "pty" : "raw");
  return sh;
}

shell_t *shell_attach_socket(stream_t *s, int fd) {
  shell_t *sh = calloc(1, sizeof *sh);
  if (!sh) abort();
  sh->pid = 0;
  sh->exited = true; /* no process: the stream ends when the socket does */
  sh->out_fd = fd;
  sh->in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  sh->err_fd = -1;
  set_nonblock(fd);
  LOGD("stream %u: relaying to a device socket", s->local_id);
  return sh;
}

static void check_done(stream_t *s) {
  shell_t *sh = s->shell;
  if (sh->done || sh->out_fd >= 0 || sh->err_fd >= 0 || !sh->exited) return;
  sh->done = true;
  close_fd(&sh->in_fd);
  int code = WIFEXITED(sh->status) ? WEXITSTATUS(sh->status) : 128 + WTERMSIG(sh->status);
  if (sh->v2) {
    uint8_t pkt[6] = {ID_EXIT, 1, 0, 0, 0, (uint8_t)code};
    buf_append(&s->out, pkt, sizeof pkt);
  }
  s->finishing = true;
}

int shell_poll_fds(stream_t *s, shell_poll_t out[3]) {
  shell_t *sh = s->shell;
  int n = 0;
  /* Read the child only while the stream has room: this is what backpressures a fast producer. */
  bool room = stream_room(s) > 16;
  if (room && sh->out_fd >= 0) out[n++] = (shell_poll_t){sh->out_fd, POLLIN, 0};
  if (room && sh->err_fd >= 0) out[n++] = (shell_poll_t){sh->err_fd, POLLIN, 1};
  if (sh->in_fd >= 0 && s->in.len > 0) out[n++] = (shell_poll_t){sh->in_fd, POLLOUT, 2};
  return n;
}

static void read_child(stream_t *s, int role) {
  shell_t *sh = s->shell;
  int *fdp = role == 0 ? &sh->out_fd : &sh->err_fd;
  if (*fdp < 0) return;
  uint8_t tmp[65536];
  size_t cap = stream_room(s);
  if (cap > sizeof tmp) cap = sizeof tmp;
  if (sh->v2) cap = cap > 5 ? cap - 5 : 0;
  if (cap == 0) return;
  ssize_t r = read(*fdp, tmp, cap);
  if (r > 0) {
    if (sh->v2) {
      uint8_t id = role == 0 ? ID_STDOUT : ID_STDERR;
      buf_append(&s->out, &id, 1);
      buf_put_u32(&s->out, (uint32_t)r);
    }
    buf_append(&s->out, tmp, (size_t)r);
    return;
  }
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  /* EOF, or EIO from a PTY master once the last slave fd closed. */
  close_fd(fdp);
  check_done(s);
}

void shell_on_ready(stream_t *s, int role, short revents) {
  if (role == 2) {
    if (revents & (POLLERR | POLLHUP)) close_fd(&s->shell->in_fd);
    stream_consume_input(s);
    return;
  }
  read_child(s, role);
}

/* Writes stdin bytes; returns how many were taken (all of them once stdin is closed). */
static size_t write_stdin(shell_t *sh, const uint8_t *p, size_t n) {
  if (sh->in_fd < 0) return n;
  ssize_t w = write(sh->in_fd, p, n);
  if (w >= 0) return (size_t)w;
  if (errno == EAGAIN || errno == EINTR) return 0;
  close_fd(&sh->in_fd); /* EPIPE: the command stopped reading; drop what it did not take */
  return n;
}

static void apply_window_size(shell_t *sh) {
  sh->ctl[sh->ctl_len < sizeof sh->ctl ? sh->ctl_len : sizeof sh->ctl - 1] = '\0';
  struct winsize ws = {0};
  unsigned rows, cols, xp, yp;
  if (sh->pty && sh->out_fd >= 0 && sscanf(sh->ctl, "%ux%u,%ux%u", &rows, &cols, &xp, &yp) == 4) {
    ws.ws_row = (unsigned short)rows;
    ws.ws_col = (unsigned short)cols;
    ws.ws_xpixel = (unsigned short)xp;
    ws.ws_ypixel = (unsigned short)yp;
    ioctl(sh->out_fd, TIOCSWINSZ, &ws);
  }
}

void shell_consume_input(stream_t *s) {
  shell_t *sh = s->shell;
  if (!sh->v2) {
    while (s->in.len > 0) {
      size_t took = write_stdin(sh, s->in.data, s->in.len);
      if (took == 0) return;
      buf_consume(&s->in, took);
    }
    return;
  }
  while (s->in.len > 0) {
    if (!sh->in_packet) {
      size_t take = 5 - sh->hdr_len;
      if (take > s->in.len) take = s->in.len;
      memcpy(sh->hdr + sh->hdr_len, s->in.data, take);
      sh->hdr_len += take;
      buf_consume(&s->in, take);
      if (sh->hdr_len < 5) return;
      sh->hdr_len = 0;
      sh->cur_id = sh->hdr[0];
      sh->remaining = rd_u32(sh->hdr + 1);
      sh->ctl_len = 0;
      sh->in_packet = true;
      if (sh->cur_id == ID_CLOSE_STDIN && !sh->pty) close_fd(&sh->in_fd);
    } else {
      size_t n = s->in.len < sh->remaining ? s->in.len : sh->remaining;
      size_t took = n;
      if (sh->cur_id == ID_STDIN) {
        took = write_stdin(sh, s->in.data, n);
        if (took == 0 && n > 0) return;
      } else if (sh->cur_id == ID_WINDOW_SIZE) {
        size_t room = sizeof sh->ctl - 1 - sh->ctl_len;
        memcpy(sh->ctl + sh->ctl_len, s->in.data, n < room ? n : room);
        sh->ctl_len += n < room ? n : room;
      }
      buf_consume(&s->in, took);
      sh->remaining -= (uint32_t)took;
    }
    if (sh->in_packet && sh->remaining == 0) {
      if (sh->cur_id == ID_WINDOW_SIZE) apply_window_size(sh);
      sh->in_packet = false;
    }
  }
}

void shell_free(stream_t *s) {
  shell_t *sh = s->shell;
  close_fd(&sh->in_fd);
  close_fd(&sh->out_fd);
  close_fd(&sh->err_fd);
  if (!sh->exited) {
    LOGD("stream %u closed before pid %d ended: SIGHUP to its process group", s->local_id, (int)sh->pid);
    kill(-sh->pid, SIGHUP);
    kill(-sh->pid, SIGCONT);
    if (n_doomed == cap_doomed) {
      cap_doomed = cap_doomed ? cap_doomed * 2 : 16;
      doomed = realloc(doomed, cap_doomed * sizeof *doomed);
      if (!doomed) abort();
    }
    doomed[n_doomed++] = (doomed_t){.pid = sh->pid, .deadline = now_ms() + KILL_GRACE_MS};
  }
  free(sh);
  s->shell = NULL;
}

/* True if a live process other than `leader` is still in process group `pgid`. */
static bool group_has_others(pid_t pgid, pid_t leader) {
  DIR *d = opendir("/proc");
  if (!d) return true;
  bool found = false;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == leader) continue;
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t r = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (r <= 0) continue;
    stat[r] = '\0';
    char *paren = strrchr(stat, ')');
    char state;
    int ppid, pgrp;
    if (paren && sscanf(paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z') found = true;
  }
  closedir(d);
  return found;
}

static void drop_doomed(size_t i) { doomed[i] = doomed[--n_doomed]; }

void children_reap(void) {
  for (conn_t *c = g_conns; c; c = c->next) {
    for (stream_t *s = c->streams; s; s = s->next) {
      if (s->dead || !s->shell || s->shell->exited) continue;
      int st;
      if (waitpid(s->shell->pid, &st, WNOHANG) == s->shell->pid) {
        s->shell->exited = true;
        s->shell->status = st;
        LOGD("stream %u: pid %d exited (status 0x%x)", s->local_id, (int)s->shell->pid, st);
        check_done(s);
      }
    }
  }
  for (size_t i = 0; i < n_doomed;) {
    siginfo_t info = {0};
    /* Look without reaping: the zombie leader keeps the group id reserved. */
    if (waitid(P_PID, (id_t)doomed[i].pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == doomed[i].pid &&
        (doomed[i].killed || !group_has_others(doomed[i].pid, doomed[i].pid))) {
      waitpid(doomed[i].pid, NULL, WNOHANG);
      drop_doomed(i);
      continue;
    }
    i++;
  }
}

int64_t children_next_deadline(void) {
  int64_t next = -1;
  for (size_t i = 0; i < n_doomed; i++) {
    if (!doomed[i].killed && (next < 0 || doomed[i].deadline < next)) next = doomed[i].deadline;
  }
  return next;
}

void children_on_timer(void) {
  int64_t now = now_ms();
  bool any = false;
  for (size_t i = 0; i < n_doomed; i++) {
    if (!doomed[i].killed && doomed[i].deadline <= now) {
      LOGW("process group %d still alive %d ms after SIGHUP: SIGKILL", (int)doomed[i].pid, KILL_GRACE_MS);
      kill(-doomed[i].pid, SIGKILL);
      doomed[i].killed = true;
      any = true;
    }
  }
  if (any) children_reap();
}

void children_kill_all(void) {
  for (conn_t *c = g_conns; c; c = c->next) {
    for (stream_t *s = c->streams; s; s = s->next) {
      if (s->shell && !s->shell->exited) kill(-s->shell->pid, SIGKILL);
    }
  }
  for (size_t i = 0; i < n_doomed; i++) kill(-doomed[i].pid, SIGKILL);
}
