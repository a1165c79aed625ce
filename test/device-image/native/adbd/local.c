/*
 * Socket services: tcp:<port>, tcp:<host>:<port>, localabstract:<name>, localfilesystem:<path>, local:<path>,
 * localreserved:<name> (/dev/socket/<name>). The stream is relayed byte for byte to a socket connected on
 * the device (what `adb forward` and adbkit's openLocal use, e.g. for a scrcpy server's abstract socket).
 * A refused connection refuses the OPEN.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "adbd.h"

static int connect_unix(const char *name, bool abstract) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  size_t max = sizeof addr.sun_path - (abstract ? 1 : 0) - 1;
  if (len == 0 || len > max) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(addr.sun_path + (abstract ? 1 : 0), name, len);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (abstract ? 1 : 0) + len + (abstract ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, alen) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

static int connect_tcp(const char *spec) {
  char host[256] = "127.0.0.1";
  const char *port_str = spec;
  const char *colon = strrchr(spec, ':');
  if (colon) {
    size_t hl = (size_t)(colon - spec);
    if (hl == 0 || hl >= sizeof host) {
      errno = EINVAL;
      return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    port_str = colon + 1;
  }
  char *end;
  long port = strtol(port_str, &end, 10);
  if (*end || port <= 0 || port > 65535) {
    errno = EINVAL;
    return -1;
  }
  /* Numeric IPv4 only (no resolver in a static binary); "localhost" is the loopback address. */
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &addr.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int saved = errno;
    close(fd);
    fd = -1;
    errno = saved;
  }
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

bool local_service_matches(const char *service) {
  return !strncmp(service, "tcp:", 4) || !strncmp(service, "localabstract:", 14) ||
         !strncmp(service, "localfilesystem:", 16) || !strncmp(service, "local:", 6) ||
         !strncmp(service, "localreserved:", 14);
}

shell_t *local_open(stream_t *s, const char *service) {
  int fd;
  if (!strncmp(service, "tcp:", 4)) {
    fd = connect_tcp(service + 4);
  } else if (!strncmp(service, "localabstract:", 14)) {
    fd = connect_unix(service + 14, true);
  } else if (!strncmp(service, "localfilesystem:", 16)) {
    fd = connect_unix(service + 16, false);
  } else if (!strncmp(service, "local:", 6)) {
    fd = connect_unix(service + 6, false);
  } else {
    char path[128];
    snprintf(path, sizeof path, "/dev/socket/%s", service + 14);
    fd = connect_unix(path, false);
  }
  if (fd < 0) {
    LOGW("stream %u: cannot connect '%.100s': %s", s->local_id, service, strerror(errno));
    return NULL;
  }
  return shell_attach_socket(s, fd);
}
