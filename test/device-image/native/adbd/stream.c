/* Streams: service dispatch for OPEN, per-stream flow control (one WRTE in flight each way), CLSE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adbd.h"

static uint32_t next_local_id = 1;

stream_t *stream_find(conn_t *c, uint32_t local_id) {
  for (stream_t *s = c->streams; s; s = s->next) {
    if (!s->dead && s->local_id == local_id) return s;
  }
  return NULL;
}

size_t stream_room(const stream_t *s) {
  uint32_t max = s->conn->max_payload;
  return s->out.len < max ? max - s->out.len : 0;
}

static void text_reply(stream_t *s, const char *text) {
  buf_append(&s->out, text, strlen(text));
  s->finishing = true;
}

void stream_open(conn_t *c, uint32_t remote_id, const char *service) {
  stream_t *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->conn = c;
  s->remote_id = remote_id;
  s->local_id = next_local_id++;
  if (next_local_id == 0) next_local_id = 1;
  /* Commands can be long; the log keeps the start, which names the tool. */
  LOGD("connection %u: stream %u open '%.160s'", c->id, s->local_id, service);

  bool ok = true;
  if (!strncmp(service, "shell", 5) && (service[5] == ':' || service[5] == ',')) {
    const char *colon = strchr(service, ':');
    if (!colon) {
      ok = false;
    } else {
      char args[256];
      size_t alen = (size_t)(colon - (service + 5));
      if (alen >= sizeof args) alen = sizeof args - 1;
      memcpy(args, service + 5, alen);
      args[alen] = '\0';
      s->shell = shell_start(s, args, colon + 1, true);
      ok = s->shell != NULL;
    }
  } else if (!strncmp(service, "exec:", 5)) {
    s->shell = shell_start(s, ",raw", service + 5, false);
    ok = s->shell != NULL;
  } else if (local_service_matches(service)) {
    s->shell = local_open(s, service);
    ok = s->shell != NULL;
  } else if (!strcmp(service, "sync:")) {
    s->sync = sync_start(s);
    ok = s->sync != NULL;
  } else if (!strncmp(service, "reboot:", 7)) {
    /* No real reboot here: adbd stops and the device stays without adb until its container restarts. */
    text_reply(s, "");
    s->exit_after = true;
  } else if (!strcmp(service, "root:")) {
    text_reply(s, "adbd is already running as root\n");
  } else if (!strcmp(service, "unroot:")) {
    text_reply(s, "adbd not running as root\n");
  } else {
    LOGW("connection %u: unsupported service '%.80s'", c->id, service);
    ok = false;
  }
  if (!ok) {
    conn_send(c, A_CLSE, 0, remote_id, NULL, 0);
    free(s);
    return;
  }
  /* Append: streams are pumped in the order they were opened. */
  stream_t **tail = &c->streams;
  while (*tail) tail = &(*tail)->next;
  *tail = s;
  conn_send(c, A_OKAY, s->local_id, s->remote_id, NULL, 0);
}

void stream_consume_input(stream_t *s) {
  if (s->dead) return;
  bool blocked = false;
  if (s->shell) {
    shell_consume_input(s);
    /* Input the child has not taken yet stays in `in`; it is acknowledged once written. */
    blocked = s->in.len > 0;
  } else if (s->sync) {
    sync_consume_input(s);
    blocked = sync_has_work(s) && s->in.len > 0;
  } else {
    buf_consume(&s->in, s->in.len);
  }
  if (s->dead) return;
  if (s->okay_owed && !blocked) {
    s->okay_owed = false;
    conn_send(s->conn, A_OKAY, s->local_id, s->remote_id, NULL, 0);
  }
}

void stream_on_okay(stream_t *s) {
  s->awaiting_okay = false;
  stream_pump(s);
}

void stream_on_write(stream_t *s, const uint8_t *data, size_t len) {
  buf_append(&s->in, data, len);
  s->okay_owed = true;
  stream_consume_input(s);
  if (!s->dead) stream_pump(s);
}

void stream_on_close(stream_t *s) {
  LOGD("connection %u: stream %u closed by the host", s->conn->id, s->local_id);
  stream_destroy(s);
}

void stream_destroy(stream_t *s) {
  if (s->dead) return;
  s->dead = true;
  if (s->shell) shell_free(s);
  if (s->sync) sync_free(s);
  if (s->exit_after) g_exit_requested = true;
}

void stream_pump(stream_t *s) {
  if (s->dead || s->conn->dead) return;
  if (s->okay_owed) stream_consume_input(s);
  if (s->dead) return;
  if (s->sync) sync_produce(s);
  if (!s->awaiting_okay && s->out.len > 0) {
    size_t n = s->out.len < s->conn->max_payload ? s->out.len : s->conn->max_payload;
    conn_send(s->conn, A_WRTE, s->local_id, s->remote_id, s->out.data, n);
    buf_consume(&s->out, n);
    s->awaiting_okay = true;
  }
  if (s->finishing && s->out.len == 0 && !s->awaiting_okay && !s->dead) {
    conn_send(s->conn, A_CLSE, s->local_id, s->remote_id, NULL, 0);
    stream_destroy(s);
  }
}
