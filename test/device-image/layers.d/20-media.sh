#!/usr/bin/env bash
# Bakes what the "display" shows, with ffmpeg on the build machine (nothing of ffmpeg enters the image):
#   /system/media/screencap.png            one 720x1280 frame of ffmpeg's testsrc2 pattern (screencap -p)
#   /system/media/display-720x1280.h264    2 s of the moving pattern, portrait, 30 fps, about 4 Mbit/s,
#                                          H.264 Constrained Baseline, Annex-B, an IDR with SPS/PPS every
#                                          second (30 frames), no AUD; starts on an IDR so it loops cleanly
#   /system/media/display-1280x720.h264    the same, landscape (the rotated device)
#   /system/media/display.conf             the natural (portrait) size and the frame rate
# screenrecord and the scrcpy server emulator (app_process) loop these clips. Needs ffmpeg with libx264.
set -euo pipefail
command -v ffmpeg >/dev/null || { echo "ffmpeg not found: apt-get install ffmpeg" >&2; exit 1; }
WIDTH=720 HEIGHT=1280 FPS=30 CLIP_SECONDS=2
MEDIA="$ROOT/system/media"
mkdir -p "$MEDIA"
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "testsrc2=size=${WIDTH}x${HEIGHT}:rate=1" \
  -frames:v 1 -y "$MEDIA/screencap.png"
bake() { # WIDTH HEIGHT
  ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "testsrc2=size=$1x$2:rate=${FPS}" -t "$CLIP_SECONDS" \
    -c:v libx264 -profile:v baseline -level 3.1 -preset veryfast -pix_fmt yuv420p \
    -b:v 4M -maxrate 4M -bufsize 2M -g "$FPS" -keyint_min "$FPS" -sc_threshold 0 \
    -x264-params repeat-headers=1 -f h264 -y "$MEDIA/display-$1x$2.h264"
}
bake "$WIDTH" "$HEIGHT"
bake "$HEIGHT" "$WIDTH"
printf 'width=%s\nheight=%s\nfps=%s\n' "$WIDTH" "$HEIGHT" "$FPS" > "$MEDIA/display.conf"
