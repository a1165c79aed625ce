/* The device log that `logcat` reads: one line per entry in Android's threadtime layout. */
#ifndef LOGLINE_H
#define LOGLINE_H

#define DEVICE_LOG_DIR "/data/log"
#define DEVICE_LOG_FILE "/data/log/logcat"

/* Appends one entry (priority one of V D I W E F). Failures are ignored: logging must never break a tool. */
void logline_append(char priority, const char *tag, const char *message);

#endif
