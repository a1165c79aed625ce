/* adbd entry point: listens on TCP, runs the poll loop, handles signals. Usage: adbd [--port N] [--host ADDR] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adbd.h"

bool g_exit_requested = false;
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t ignored = write(sig_pipe[1], &b, 1);
  (void)ignored;
  errno = saved;
}

static int listen_on(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    errno = EINVAL;
    close(fd);
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 64) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

enum { P_LISTEN, P_SIGNAL, P_CONN, P_SHELL };
typedef struct {
  int kind;
  void *ptr;
  int role;
} poll_ref_t;

int main(int argc, char **argv) {
  int port = 5555;
  const char *host = "0.0.0.0";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
      host = argv[++i];
    } else {
      fprintf(stderr, "usage: adbd [--port N] [--host ADDR]\n");
      return 2;
    }
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "adbd: invalid port %d\n", port);
    return 2;
  }
  setvbuf(stderr, NULL, _IOLBF, 0);
  if (chdir("/") < 0) return 1;

  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return 1;
  struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);

  int lfd = listen_on(host, port);
  if (lfd < 0) {
    LOGE("cannot listen on %s:%d: %s", host, port, strerror(errno));
    return 1;
  }
  LOGI("listening on %s:%d", host, port);

  struct pollfd *pfds = NULL;
  poll_ref_t *refs = NULL;
  size_t cap = 0;
  while (!g_exit_requested) {
    size_t n = 0;
    int timeout = -1;
#define ADD(fd_, ev_, kind_, ptr_, role_)                                  \
  do {                                                                     \
    if (n == cap) {                                                        \
      cap = cap ? cap * 2 : 64;                                            \
      pfds = realloc(pfds, cap * sizeof *pfds);                            \
      refs = realloc(refs, cap * sizeof *refs);                            \
      if (!pfds || !refs) abort();                                         \
    }                                                                      \
    pfds[n] = (struct pollfd){.fd = (fd_), .events = (short)(ev_)};        \
    refs[n] = (poll_ref_t){.kind = (kind_), .ptr = (ptr_), .role = (role_)}; \
    n++;                                                                   \
  } while (0)
    ADD(lfd, POLLIN, P_LISTEN, NULL, 0);
    ADD(sig_pipe[0], POLLIN, P_SIGNAL, NULL, 0);
    for (conn_t *c = g_conns; c; c = c->next) {
      if (c->dead) continue;
      ADD(c->fd, POLLIN | (c->out.len ? POLLOUT : 0), P_CONN, c, 0);
      for (stream_t *s = c->streams; s; s = s->next) {
        if (s->dead) continue;
        if (s->shell) {
          shell_poll_t sp[3];
          int k = shell_poll_fds(s, sp);
          for (int i = 0; i < k; i++) ADD(sp[i].fd, sp[i].events, P_SHELL, s, sp[i].role);
        }
        /* A file being pulled is read without poll(): come back at once while the stream has room
         * (when it has none, the host's OKAY wakes us through the connection socket). */
        if (s->sync && sync_has_work(s) && stream_room(s) > 8) timeout = 0;
      }
    }
#undef ADD
    int64_t deadline = children_next_deadline();
    if (deadline >= 0) {
      int64_t wait = deadline - now_ms();
      if (wait < 0) wait = 0;
      if (timeout < 0 || wait < timeout) timeout = (int)wait;
    }
    int ready = poll(pfds, n, timeout);
    if (ready < 0 && errno != EINTR) {
      LOGE("poll failed: %s", strerror(errno));
      break;
    }
    for (size_t i = 0; ready > 0 && i < n; i++) {
      short re = pfds[i].revents;
      if (!re) continue;
      switch (refs[i].kind) {
        case P_LISTEN:
          conn_accept(lfd);
          break;
        case P_SIGNAL: {
          unsigned char sigs[64];
          ssize_t got;
          while ((got = read(sig_pipe[0], sigs, sizeof sigs)) > 0) {
            for (ssize_t k = 0; k < got; k++) {
              if (sigs[k] == SIGTERM || sigs[k] == SIGINT) g_exit_requested = true;
            }
          }
          children_reap();
          break;
        }
        case P_CONN: {
          conn_t *c = refs[i].ptr;
          if (c->dead) break;
          if (re & (POLLIN | POLLHUP | POLLERR)) conn_on_readable(c);
          if (!c->dead && (re & POLLOUT)) conn_flush(c);
          break;
        }
        case P_SHELL: {
          stream_t *s = refs[i].ptr;
          if (!s->dead) shell_on_ready(s, refs[i].role, re);
          break;
        }
      }
    }
    children_on_timer();
    for (conn_t *c = g_conns; c; c = c->next) {
      for (stream_t *s = c->streams; s && !c->dead; s = s->next) {
        if (!s->dead) stream_pump(s);
      }
    }
    conns_sweep();
  }
  LOGI("stopping");
  children_kill_all();
  for (conn_t *c = g_conns; c; c = c->next) {
    if (!c->dead) conn_close(c, "adbd stopping");
  }
  conns_sweep();
  close(lfd);
  return 0;
}
