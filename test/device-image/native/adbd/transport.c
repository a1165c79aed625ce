/* TCP transport: accepts connections, frames and parses the 24-byte ADB messages, answers CNXN. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adbd.h"

conn_t *g_conns = NULL;
static unsigned next_conn_id = 1;

static const char *cmd_name(uint32_t cmd) {
  switch (cmd) {
    case A_SYNC: return "SYNC";
    case A_CNXN: return "CNXN";
    case A_AUTH: return "AUTH";
    case A_OPEN: return "OPEN";
    case A_OKAY: return "OKAY";
    case A_CLSE: return "CLSE";
    case A_WRTE: return "WRTE";
    case A_STLS: return "STLS";
    default: return "?";
  }
}

void conn_accept(int listen_fd) {
  for (;;) {
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    int fd = accept4(listen_fd, (struct sockaddr *)&addr, &alen, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) LOGW("accept failed: %s", strerror(errno));
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    conn_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->fd = fd;
    c->id = next_conn_id++;
    c->max_payload = MAX_PAYLOAD;
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(addr.sin_port));
    c->next = g_conns;
    g_conns = c;
    LOGI("connection %u from %s", c->id, c->peer);
  }
}

void conn_flush(conn_t *c) {
  while (c->out.len > 0) {
    ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
    if (w > 0) {
      buf_consume(&c->out, (size_t)w);
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (w < 0 && errno == EINTR) continue;
    conn_close(c, w < 0 ? strerror(errno) : "write returned 0");
    return;
  }
}

void conn_send(conn_t *c, uint32_t cmd, uint32_t arg0, uint32_t arg1, const void *data, size_t len) {
  if (c->dead) return;
  /* data_check: the byte sum. Peers at version >= 0x01000001 ignore it, older ones need it. */
  uint32_t sum = 0;
  for (size_t i = 0; i < len; i++) sum += ((const uint8_t *)data)[i];
  buf_put_u32(&c->out, cmd);
  buf_put_u32(&c->out, arg0);
  buf_put_u32(&c->out, arg1);
  buf_put_u32(&c->out, (uint32_t)len);
  buf_put_u32(&c->out, sum);
  buf_put_u32(&c->out, cmd ^ 0xffffffffu);
  buf_append(&c->out, data, len);
  conn_flush(c);
}

void conn_close(conn_t *c, const char *why) {
  if (c->dead) return;
  c->dead = true;
  LOGI("connection %u from %s closed: %s", c->id, c->peer, why);
  for (stream_t *s = c->streams; s; s = s->next) {
    if (!s->dead) stream_destroy(s);
  }
  close(c->fd);
  c->fd = -1;
}

static void handle_cnxn(conn_t *c, uint32_t version, uint32_t max_data, const uint8_t *data, size_t len) {
  /* A second CNXN on a live connection restarts it (the host lost our reply): drop its streams. */
  for (stream_t *s = c->streams; s; s = s->next) {
    if (!s->dead) stream_destroy(s);
  }
  char banner[128];
  size_t blen = len < sizeof banner - 1 ? len : sizeof banner - 1;
  memcpy(banner, data, blen);
  banner[blen] = '\0';
  for (size_t i = 0; i < blen; i++)
    if (banner[i] == '\0' || (unsigned char)banner[i] < 0x20) banner[i] = ' ';
  c->max_payload = max_data < MAX_PAYLOAD ? max_data : MAX_PAYLOAD;
  if (c->max_payload < 4096) c->max_payload = 4096;
  c->online = true;
  LOGI("connection %u: CNXN version 0x%08x maxdata %u from host '%.60s'", c->id, version, max_data, banner);
  conn_send(c, A_CNXN, A_VERSION, MAX_PAYLOAD, BANNER, strlen(BANNER));
}

static void handle_packet(conn_t *c, const uint8_t *h, const uint8_t *data, size_t len) {
  uint32_t cmd = rd_u32(h), arg0 = rd_u32(h + 4), arg1 = rd_u32(h + 8);
  if (cmd == A_CNXN) {
    handle_cnxn(c, arg0, arg1, data, len);
    return;
  }
  if (!c->online) {
    LOGW("connection %u: %s before CNXN ignored", c->id, cmd_name(cmd));
    return;
  }
  switch (cmd) {
    case A_OPEN: {
      char service[4096];
      size_t n = len < sizeof service - 1 ? len : sizeof service - 1;
      memcpy(service, data, n);
      service[n] = '\0';
      if (arg0 == 0) {
        LOGW("connection %u: OPEN with local-id 0 refused", c->id);
        return;
      }
      stream_open(c, arg0, service);
      return;
    }
    case A_OKAY: {
      stream_t *s = stream_find(c, arg1);
      if (s) {
        if (s->remote_id == 0) s->remote_id = arg0;
        stream_on_okay(s);
      }
      return;
    }
    case A_WRTE: {
      stream_t *s = stream_find(c, arg1);
      if (!s) {
        /* Tell the host the stream is gone so it does not wait for an OKAY forever. */
        conn_send(c, A_CLSE, 0, arg0, NULL, 0);
        return;
      }
      stream_on_write(s, data, len);
      return;
    }
    case A_CLSE: {
      stream_t *s = stream_find(c, arg1);
      if (s) stream_on_close(s);
      return;
    }
    case A_AUTH:
    case A_SYNC:
    case A_STLS:
    default:
      LOGW("connection %u: unexpected %s (0x%08x) ignored", c->id, cmd_name(cmd), cmd);
      return;
  }
}

void conn_on_readable(conn_t *c) {
  uint8_t chunk[65536];
  for (;;) {
    ssize_t r = recv(c->fd, chunk, sizeof chunk, 0);
    if (r == 0) {
      conn_close(c, "peer closed the connection");
      return;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      conn_close(c, strerror(errno));
      return;
    }
    buf_append(&c->in, chunk, (size_t)r);
    while (c->in.len >= 24 && !c->dead) {
      const uint8_t *h = c->in.data;
      uint32_t cmd = rd_u32(h), dlen = rd_u32(h + 12), magic = rd_u32(h + 20);
      if ((cmd ^ 0xffffffffu) != magic) {
        conn_close(c, "bad message magic");
        return;
      }
      if (dlen > MAX_INCOMING) {
        conn_close(c, "message payload too large");
        return;
      }
      if (c->in.len < 24u + dlen) break;
      handle_packet(c, h, h + 24, dlen);
      if (c->dead) return;
      buf_consume(&c->in, 24u + dlen);
    }
    if ((size_t)r < sizeof chunk) break;
  }
}

void conns_sweep(void) {
  conn_t **pc = &g_conns;
  while (*pc) {
    conn_t *c = *pc;
    stream_t **ps = &c->streams;
    while (*ps) {
      stream_t *s = *ps;
      if (s->dead) {
        *ps = s->next;
        buf_free(&s->in);
        buf_free(&s->out);
        free(s);
      } else {
        ps = &s->next;
      }
    }
    if (c->dead && c->streams == NULL) {
      *pc = c->next;
      buf_free(&c->in);
      buf_free(&c->out);
      free(c);
    } else {
      pc = &c->next;
    }
  }
}
