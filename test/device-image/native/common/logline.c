
#include "logline.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

void logline_append(char priority, const char *tag, const char *message) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char line[1024];
  /* Each entry is one line: newlines inside the message would split it, so they become spaces. */
  char msg[900];
  snprintf(msg, sizeof msg, "%s", message);
  for (char *p = msg; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  int n = snprintf(line, sizeof line, "%02d-%02d %02d:%02d:%02d.%03d %5d %5d %c %-8s: %s\n", tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), (int)getpid(),
                   (int)syscall(SYS_gettid), priority, tag, msg);
  if (n <= 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  int fd = open(DEVICE_LOG_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    mkdir(DEVICE_LOG_DIR, 0755);
    fd = open(DEVICE_LOG_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
  }
  /* One write() with O_APPEND: concurrent writers never interleave within a line. */
  ssize_t ignored = write(fd, line, (size_t)n);
  (void)ignored;
  close(fd);
}
