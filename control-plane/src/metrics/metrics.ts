// STUB (owned by the platform/notifications helper): Prometheus registry and the project's metrics.
export class Metrics {}
