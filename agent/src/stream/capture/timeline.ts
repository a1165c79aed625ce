/**
 * Keeps presentation times strictly increasing across encoder restarts (scrcpy RESET_VIDEO or rotation on servers
 * that restart their PTS, and every screenrecord restart), so RTP timestamps stay continuous for the viewers: when
 * a source time goes backwards (or stands still), the timeline is shifted to continue one frame after the last.
 * Pure.
 */
export class Timeline {
  private offset = 0;
  private last = -Infinity;

  constructor(private readonly frameUs: number) {}

  /** Source PTS (µs) → output PTS (µs), strictly increasing. */
  map(ptsUs: number): number {
    let out = ptsUs + this.offset;
    if (out <= this.last) {
      this.offset += this.last + this.frameUs - out;
      out = this.last + this.frameUs;
    }
    this.last = out;
    return out;
  }
}
