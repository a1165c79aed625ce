#ifndef TOOLBOX_H
#define TOOLBOX_H

int log_main(int argc, char **argv);
int apkinfo_main(int argc, char **argv);
int screenrecord_main(int argc, char **argv);
int input_main(int argc, char **argv);
int logbin_main(int argc, char **argv);

#endif
