/*
 * input [SOURCE] tap X Y | swipe X1 Y1 X2 Y2 [MS] | draganddrop X1 Y1 X2 Y2 [MS] | keyevent [--longpress] KEY... |
 *       text TEXT | press | roll DX DY
 * Arguments are checked like Android's input command does; each accepted event is appended to
 * /data/input.log as one line: "<epoch ms> <source> <command> <args...>" (what tests of input injection read).
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "toolbox.h"

#define INPUT_LOG "/data/input.log"

static const char *const sources[] = {"keyboard", "mouse", "joystick", "touchnavigation", "touchpad",
                                      "trackball", "dpad", "stylus", "gamepad", "touchscreen"};

static int usage(void) {
  fprintf(stderr,
          "Usage: input [<source>] <command> [<arg>...]\n\n"
          "The commands and default sources are:\n"
          "      text <string> (Default: touchscreen)\n"
          "      keyevent [--longpress] <key code number or name> ... (Default: keyboard)\n"
          "      tap <x> <y> (Default: touchscreen)\n"
          "      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)\n"
          "      draganddrop <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)\n"
          "      press (Default: trackball)\n"
          "      roll <dx> <dy> (Default: trackball)\n");
  return 1;
}

static bool is_number(const char *s) {
  char *end;
  if (!*s) return false;
  strtod(s, &end);
  return *end == '\0';
}

static bool is_key(const char *s) {
  if (!*s) return false;
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p) && !isupper((unsigned char)*p) && *p != '_') return false;
  return true;
}

static bool all_numbers(char **argv, int from, int to) {
  for (int i = from; i < to; i++)
    if (!is_number(argv[i])) {
      fprintf(stderr, "Error: NumberFormatException: For input string: \"%s\"\n", argv[i]);
      return false;
    }
  return true;
}

int input_main(int argc, char **argv) {
  int i = 1;
  const char *source = NULL;
  for (size_t s = 0; i < argc && s < sizeof sources / sizeof sources[0]; s++) {
    if (!strcmp(argv[i], sources[s])) {
      source = argv[i++];
      break;
    }
  }
  if (i >= argc) return usage();
  const char *cmd = argv[i++];
  int nargs = argc - i;
  const char *default_source = "touchscreen";
  if (!strcmp(cmd, "tap")) {
    if (nargs != 2 || !all_numbers(argv, i, argc)) return usage();
  } else if (!strcmp(cmd, "swipe") || !strcmp(cmd, "draganddrop")) {
    if ((nargs != 4 && nargs != 5) || !all_numbers(argv, i, argc)) return usage();
  } else if (!strcmp(cmd, "keyevent")) {
    default_source = "keyboard";
    int first = i < argc && !strcmp(argv[i], "--longpress") ? i + 1 : i;
    if (first >= argc) return usage();
    for (int k = first; k < argc; k++) {
      if (!is_key(argv[k])) {
        fprintf(stderr, "Error: Unknown keycode: %s\n", argv[k]);
        return 1;
      }
    }
  } else if (!strcmp(cmd, "text")) {
    if (nargs < 1) return usage();
  } else if (!strcmp(cmd, "press")) {
    default_source = "trackball";
    if (nargs != 0) return usage();
  } else if (!strcmp(cmd, "roll")) {
    default_source = "trackball";
    if (nargs != 2 || !all_numbers(argv, i, argc)) return usage();
  } else {
    fprintf(stderr, "Error: Unknown command: %s\n", cmd);
    return usage();
  }
  struct timeval tv;
  gettimeofday(&tv, NULL);
  char line[4096];
  int n = snprintf(line, sizeof line, "%lld %s %s", (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000,
                   source ? source : default_source, cmd);
  for (int k = i; k < argc && n > 0 && (size_t)n < sizeof line; k++) {
    n += snprintf(line + n, sizeof line - (size_t)n, " %s", argv[k]);
  }
  if (n <= 0) return 1;
  if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
  for (int k = 0; k < n; k++)
    if (line[k] == '\n') line[k] = ' ';
  line[n++] = '\n';
  int fd = open(INPUT_LOG, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line, (size_t)n) != n) {
    perror(INPUT_LOG);
    return 1;
  }
  close(fd);
  return 0;
}
