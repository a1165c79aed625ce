#!/usr/bin/env bash
# Bakes what the "display" shows, with ffmpeg on the build machine (nothing of ffmpeg enters the image):
#   /system/media/screencap.png      one 720x1280 frame of ffmpeg's testsrc2 pattern (screencap -p)
#   /system/media/screenrecord.h264  4 s of the same pattern at 15 fps, H.264 Constrained Baseline, Annex-B,
#                                    an IDR with SPS/PPS every second (screenrecord loops it)
#   /system/media/screenrecord.conf  its size and frame rate
# Needs ffmpeg with libx264 (Debian's ffmpeg has it).
set -euo pipefail
command -v ffmpeg >/dev/null || { echo "ffmpeg not found: apt-get install ffmpeg" >&2; exit 1; }
WIDTH=720 HEIGHT=1280 FPS=15
MEDIA="$ROOT/system/media"
mkdir -p "$MEDIA"
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "testsrc2=size=${WIDTH}x${HEIGHT}:rate=1" \
  -frames:v 1 -y "$MEDIA/screencap.png"
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "testsrc2=size=${WIDTH}x${HEIGHT}:rate=${FPS}" -t 4 \
  -c:v libx264 -profile:v baseline -preset veryfast -crf 35 -g "$FPS" -pix_fmt yuv420p \
  -x264-params aud=1:repeat-headers=1 -f h264 -y "$MEDIA/screenrecord.h264"
printf 'width=%s\nheight=%s\nfps=%s\n' "$WIDTH" "$HEIGHT" "$FPS" > "$MEDIA/screenrecord.conf"
