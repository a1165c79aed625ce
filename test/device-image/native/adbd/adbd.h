/*
 * adbd for the cloudphone test device: a small, single-threaded implementation of the device side of
 * the ADB wire protocol (TCP transport, CNXN without AUTH, OPEN/OKAY/WRTE/CLSE streams with per-stream
 * flow control) and of the services the adb server and its clients use: shell (v1 and shell protocol v2),
 * exec, sync (v1), reboot. Written from the protocol descriptions; no AOSP code.
 */
#ifndef ADBD_H
#define ADBD_H

/* Built with -D_GNU_SOURCE (accept4, pipe2, ptsname_r). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- byte buffers ---- */
typedef struct {
  uint8_t *data;
  size_t len;
  size_t cap;
} buf_t;

void buf_append(buf_t *b, const void *p, size_t n);
void buf_put_u32(buf_t *b, uint32_t v);
void buf_consume(buf_t *b, size_t n);
void buf_free(buf_t *b);
uint32_t rd_u32(const uint8_t *p);

/* ---- logging: JSON lines on stderr; all but D also go to the device log (logcat, tag adbd) ---- */
void log_msg(char level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define LOGD(...) log_msg('D', __VA_ARGS__)
#define LOGI(...) log_msg('I', __VA_ARGS__)
#define LOGW(...) log_msg('W', __VA_ARGS__)
#define LOGE(...) log_msg('E', __VA_ARGS__)

int64_t now_ms(void);

/* ---- wire protocol ---- */
#define A_SYNC 0x434e5953u
#define A_CNXN 0x4e584e43u
#define A_AUTH 0x48545541u
#define A_OPEN 0x4e45504fu
#define A_OKAY 0x59414b4fu
#define A_CLSE 0x45534c43u
#define A_WRTE 0x45545257u
#define A_STLS 0x534c5453u

#define A_VERSION 0x01000001u
#define MAX_PAYLOAD (256u * 1024u)
/* Largest payload accepted from a peer (newer hosts may announce up to 1 MiB before negotiation). */
#define MAX_INCOMING (1024u * 1024u)
#define BANNER                                                                                    \
  "device::ro.product.name=cloudphone_test;ro.product.model=cloudphone-test-device;"            \
  "ro.product.device=cloudphone;features=shell_v2,cmd"

struct stream;

typedef struct conn {
  int fd;
  unsigned id;
  char peer[64];
  buf_t in, out;
  bool online;
  uint32_t max_payload; /* negotiated: min(ours, the host's) */
  struct stream *streams;
  bool dead;
  struct conn *next;
} conn_t;

typedef struct shell shell_t;
typedef struct sync_state sync_t;

typedef struct stream {
  uint32_t local_id, remote_id;
  conn_t *conn;
  struct stream *next;
  buf_t out;          /* bytes for the host, sent as WRTE one at a time */
  bool awaiting_okay; /* a WRTE is in flight: wait for the host's OKAY */
  buf_t in;           /* bytes from the host not consumed yet */
  bool okay_owed;     /* the host's last WRTE is acknowledged once `in` is consumed */
  bool finishing;     /* send CLSE once `out` is drained and acknowledged */
  bool exit_after;    /* reboot: stop the daemon after this stream closes */
  bool dead;
  shell_t *shell;
  sync_t *sync;
} stream_t;

/* transport.c */
extern conn_t *g_conns;
void conn_accept(int listen_fd);
void conn_on_readable(conn_t *c);
void conn_flush(conn_t *c);
void conn_send(conn_t *c, uint32_t cmd, uint32_t arg0, uint32_t arg1, const void *data, size_t len);
void conn_close(conn_t *c, const char *why);
void conns_sweep(void);

/* stream.c */
void stream_open(conn_t *c, uint32_t remote_id, const char *service);
stream_t *stream_find(conn_t *c, uint32_t local_id);
void stream_on_okay(stream_t *s);
void stream_on_write(stream_t *s, const uint8_t *data, size_t len);
void stream_on_close(stream_t *s);
void stream_pump(stream_t *s);
void stream_consume_input(stream_t *s);
void stream_destroy(stream_t *s);
size_t stream_room(const stream_t *s);
extern bool g_exit_requested;

/* shell.c: subprocesses (pipes or a PTY), shell protocol v2 */
shell_t *shell_start(stream_t *s, const char *args, const char *command, bool protocol_v2_allowed);
/* A relay without a process: the stream's bytes go to `fd` and back (local.c). Takes ownership of fd. */
shell_t *shell_attach_socket(stream_t *s, int fd);
void shell_consume_input(stream_t *s);
void shell_free(stream_t *s);
/* The poll loop asks each shell which fds to watch. */
typedef struct {
  int fd;
  short events;
  int role; /* 0 stdout, 1 stderr, 2 stdin */
} shell_poll_t;
int shell_poll_fds(stream_t *s, shell_poll_t out[3]);
void shell_on_ready(stream_t *s, int role, short revents);
void children_reap(void);
int64_t children_next_deadline(void);
void children_on_timer(void);
void children_kill_all(void);

/* local.c: tcp:/localabstract:/localfilesystem:/localreserved: socket services */
bool local_service_matches(const char *service);
shell_t *local_open(stream_t *s, const char *service);

/* sync.c: file sync v1 */
sync_t *sync_start(stream_t *s);
void sync_consume_input(stream_t *s);
void sync_produce(stream_t *s);
bool sync_has_work(const stream_t *s);
void sync_free(stream_t *s);

#endif
