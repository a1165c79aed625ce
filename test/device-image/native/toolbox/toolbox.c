/* toolbox: the device's small native tools in one static binary, chosen by the name it runs as
 * (like Android's toolbox): log, apkinfo, screenrecord, input, logbin. `toolbox <tool> [args]` works too. */
#include <stdio.h>
#include <string.h>

#include "toolbox.h"

static const struct {
  const char *name;
  int (*main)(int, char **);
} tools[] = {
    {"log", log_main},
    {"apkinfo", apkinfo_main},
    {"screenrecord", screenrecord_main},
    {"input", input_main},
    {"logbin", logbin_main},
};

int main(int argc, char **argv) {
  const char *name = strrchr(argv[0], '/');
  name = name ? name + 1 : argv[0];
  if (!strcmp(name, "toolbox") && argc > 1) {
    argv++;
    argc--;
    name = argv[0];
  }
  for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
    if (!strcmp(name, tools[i].name)) return tools[i].main(argc, argv);
  }
  fprintf(stderr, "toolbox: unknown tool '%s' (have: log apkinfo screenrecord input logbin)\n", name);
  return 127;
}
