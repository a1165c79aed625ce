import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Prometheus metrics of live streaming (S1), served by the agent's local API at `/metrics`. Per-viewer series are
 * labelled by device and session and removed when the session ends (no unbounded label growth).
 */
export class StreamMetrics {
  readonly registry = new Registry();
  readonly captures = new Gauge({ name: "cloudphone_agent_stream_captures", help: "Running screen captures (one per streamed device)", registers: [this.registry] });
  /** The latency the agent adds (S1 target p99 < 2 ms): a frame read off the device socket → its last RTP packet handed to every viewer. */
  readonly fanout = new Histogram({
    name: "cloudphone_agent_stream_frame_fanout_seconds",
    help: "Frame off the device socket to the last RTP packet handed to werift, all viewers",
    buckets: [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
    registers: [this.registry],
  });
  readonly viewers = new Gauge({ name: "cloudphone_agent_stream_viewers", help: "Connected stream viewers", registers: [this.registry] });
  readonly sessionsTotal = new Counter({ name: "cloudphone_agent_stream_sessions_total", help: "Viewer sessions ended, by reason", labelNames: ["reason"], registers: [this.registry] });
  readonly connections = new Counter({
    name: "cloudphone_agent_stream_viewer_connections_total",
    help: "Viewers whose media started, by write path (direct: the agent's SRTP writer; werift: werift's sender) and SRTP profile",
    labelNames: ["path", "srtp"],
    registers: [this.registry],
  });
  readonly retransmits = new Counter({ name: "cloudphone_agent_stream_retransmitted_packets_total", help: "RTP packets sent again on a viewer's NACK", registers: [this.registry] });
  readonly keyframeRequests = new Counter({ name: "cloudphone_agent_stream_keyframe_requests_total", help: "Keyframe requests sent to encoders", registers: [this.registry] });
  readonly bitrate = new Gauge({ name: "cloudphone_agent_stream_viewer_bitrate_bps", help: "RTP bits per second sent to a viewer (last sample window)", labelNames: ["device", "session"], registers: [this.registry] });
  readonly fps = new Gauge({ name: "cloudphone_agent_stream_viewer_fps", help: "Frames per second sent to a viewer (last sample window)", labelNames: ["device", "session"], registers: [this.registry] });
  readonly rtt = new Gauge({ name: "cloudphone_agent_stream_viewer_rtt_seconds", help: "Round-trip time from the viewer's RTCP receiver reports", labelNames: ["device", "session"], registers: [this.registry] });
  readonly loss = new Gauge({ name: "cloudphone_agent_stream_viewer_fraction_lost", help: "Fraction of packets lost, from the viewer's RTCP receiver reports", labelNames: ["device", "session"], registers: [this.registry] });
  readonly packetsLost = new Gauge({ name: "cloudphone_agent_stream_viewer_packets_lost", help: "Cumulative packets lost, from the viewer's RTCP receiver reports", labelNames: ["device", "session"], registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "cloudphone_agent_" });
  }

  forgetViewer(device: string, session: string): void {
    for (const g of [this.bitrate, this.fps, this.rtt, this.loss, this.packetsLost]) g.remove({ device, session });
  }
}
