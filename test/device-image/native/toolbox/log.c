/* log [-p PRIORITY] [-t TAG] MESSAGE...: appends one entry to the device log (what Android's
 * /system/bin/log does), read back with logcat. PRIORITY: v d i w e f (default i); TAG default "log". */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/logline.h"
#include "toolbox.h"

int log_main(int argc, char **argv) {
  char priority = 'I';
  const char *tag = "log";
  int opt;
  while ((opt = getopt(argc, argv, "p:t:")) != -1) {
    if (opt == 'p') {
      char p = (char)toupper((unsigned char)optarg[0]);
      if (!strchr("VDIWEF", p) || optarg[1] != '\0') {
        fprintf(stderr, "log: invalid priority '%s' (one of v d i w e f)\n", optarg);
        return 1;
      }
      priority = p;
    } else if (opt == 't') {
      tag = optarg;
    } else {
      fprintf(stderr, "usage: log [-p PRIORITY] [-t TAG] MESSAGE...\n");
      return 1;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "usage: log [-p PRIORITY] [-t TAG] MESSAGE...\n");
    return 1;
  }
  char msg[900] = "";
  size_t len = 0;
  for (int i = optind; i < argc; i++) {
    int n = snprintf(msg + len, sizeof msg - len, "%s%s", i > optind ? " " : "", argv[i]);
    if (n < 0 || (size_t)n >= sizeof msg - len) break;
    len += (size_t)n;
  }
  logline_append(priority, tag, msg);
  return 0;
}
