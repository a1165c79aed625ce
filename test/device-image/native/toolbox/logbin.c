/*
 * logbin: turns `logcat -B` records from stdin into Android's binary log format on stdout (what
 * `adb logcat -B` and adbkit's openLogcat read). Input, one entry per line, tab-separated:
 *   PID TID PRIORITY(V..F) MM-DD HH:MM:SS.mmm TAG MESSAGE
 * Output, per entry: u16 payload length, u16 header size (28), i32 pid, i32 tid, i32 sec, i32 nsec,
 * u32 log id (0 = main), u32 uid; payload: priority byte (2=V .. 7=F), tag, NUL, message, NUL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "toolbox.h"

#define HEADER_SIZE 28
#define MAX_PAYLOAD 4068

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* The log keeps month-day only: the year is this one, or the last one if that date lies ahead. */
static time_t entry_time(const char *date, const char *clock, long *nsec) {
  int mon = 1, day = 1, h = 0, m = 0, s = 0, ms = 0;
  sscanf(date, "%d-%d", &mon, &day);
  sscanf(clock, "%d:%d:%d.%d", &h, &m, &s, &ms);
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  int year = tm.tm_year;
  struct tm when = {.tm_year = year, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = h, .tm_min = m, .tm_sec = s, .tm_isdst = -1};
  time_t t = mktime(&when);
  if (t > now + 86400) {
    when = (struct tm){.tm_year = year - 1, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = h, .tm_min = m, .tm_sec = s, .tm_isdst = -1};
    t = mktime(&when);
  }
  *nsec = (long)ms * 1000000L;
  return t;
}

int logbin_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  char line[8192];
  static const char order[] = "VDIWEF";
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = '\0';
    char *field[7];
    char *p = line;
    int n = 0;
    for (; n < 6; n++) {
      field[n] = p;
      char *tab = strchr(p, '\t');
      if (!tab) break;
      *tab = '\0';
      p = tab + 1;
    }
    if (n < 6) continue;
    field[6] = p;
    const char *prio = strchr(order, field[2][0]);
    if (!prio || !field[2][0]) continue;
    long nsec;
    time_t sec = entry_time(field[3], field[4], &nsec);
    size_t tag_len = strlen(field[5]), msg_len = strlen(field[6]);
    if (tag_len > 128) tag_len = 128;
    if (1 + tag_len + 1 + msg_len + 1 > MAX_PAYLOAD) msg_len = MAX_PAYLOAD - tag_len - 3;
    uint8_t out[HEADER_SIZE + MAX_PAYLOAD];
    size_t payload = 1 + tag_len + 1 + msg_len + 1;
    memset(out, 0, HEADER_SIZE);
    out[0] = (uint8_t)payload;
    out[1] = (uint8_t)(payload >> 8);
    out[2] = HEADER_SIZE;
    put32(out + 4, (uint32_t)atoi(field[0]));
    put32(out + 8, (uint32_t)atoi(field[1]));
    put32(out + 12, (uint32_t)sec);
    put32(out + 16, (uint32_t)nsec);
    uint8_t *d = out + HEADER_SIZE;
    *d++ = (uint8_t)(2 + (prio - order));
    memcpy(d, field[5], tag_len);
    d += tag_len;
    *d++ = 0;
    memcpy(d, field[6], msg_len);
    d += msg_len;
    *d++ = 0;
    /* One write per entry: a follower sees whole entries as they come. */
    if (write(STDOUT_FILENO, out, HEADER_SIZE + payload) < 0) return 1;
  }
  return 0;
}
