/**
 * Prometheus metrics of one server, in the text exposition format (version 0.0.4):
 * counters, gauges and histograms keyed by label sets. Each Server owns its Metrics.
 */

/** Label names and values of one series. */
export type Labels = Readonly<Record<string, string>>;

/** Latency buckets in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch size buckets. */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

/** One histogram series. */
interface HistogramSeries { counts: number[]; sum: number; count: number }

/** Escapes a label value for the text format. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** `{a="x",b="y"}` for a label set (empty for none). */
function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A family of series of one metric. */
class Family<T> {
  readonly series = new Map<string, { labels: Labels; value: T }>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge' | 'histogram', private readonly init: () => T) {}
  get(labels: Labels): T {
    const key = JSON.stringify(Object.entries(labels));
    let s = this.series.get(key);
    if (!s) { s = { labels, value: this.init() }; this.series.set(key, s); }
    return s.value;
  }
}

/** The server's metrics and their rendering. */
export class Metrics {
  private readonly counters = new Map<string, Family<{ v: number }>>();
  private readonly gauges = new Map<string, Family<{ v: number }>>();
  private readonly histograms = new Map<string, { family: Family<HistogramSeries>; buckets: readonly number[] }>();
  private readonly order: string[] = [];

  /** Declares a counter. */
  counter(name: string, help: string): void {
    this.counters.set(name, new Family(name, help, 'counter', () => ({ v: 0 })));
    this.order.push(name);
  }

  /** Declares a gauge. */
  gauge(name: string, help: string): void {
    this.gauges.set(name, new Family(name, help, 'gauge', () => ({ v: 0 })));
    this.order.push(name);
  }

  /** Declares a histogram with upper bounds `buckets` (ascending). */
  histogram(name: string, help: string, buckets: readonly number[]): void {
    this.histograms.set(name, { family: new Family(name, help, 'histogram', () => ({ counts: buckets.map(() => 0), sum: 0, count: 0 })), buckets });
    this.order.push(name);
  }

  /** Adds `by` (default 1) to a counter series. */
  inc(name: string, labels: Labels, by = 1): void {
    const f = this.counters.get(name);
    if (!f) throw new Error(`metrics: unknown counter ${name}`);
    f.get(labels).v += by;
  }

  /** Sets a gauge series. */
  set(name: string, labels: Labels, value: number): void {
    const f = this.gauges.get(name);
    if (!f) throw new Error(`metrics: unknown gauge ${name}`);
    f.get(labels).v = value;
  }

  /** Drops every series of a gauge (before setting it anew from a sample). */
  clearGauge(name: string): void {
    const f = this.gauges.get(name);
    if (!f) throw new Error(`metrics: unknown gauge ${name}`);
    f.series.clear();
  }

  /** Records one observation in a histogram series. */
  observe(name: string, labels: Labels, value: number): void {
    const h = this.histograms.get(name);
    if (!h) throw new Error(`metrics: unknown histogram ${name}`);
    const s = h.family.get(labels);
    h.buckets.forEach((b, i) => { if (value <= b) s.counts[i]!++; });
    s.sum += value;
    s.count++;
  }

  /** The current value of a counter or gauge series (0 when never touched). */
  value(name: string, labels: Labels): number {
    const f = this.counters.get(name) ?? this.gauges.get(name);
    return f?.series.get(JSON.stringify(Object.entries(labels)))?.value.v ?? 0;
  }

  /** Every metric in the Prometheus text format. */
  render(): string {
    const lines: string[] = [];
    for (const name of this.order) {
      const f = this.counters.get(name) ?? this.gauges.get(name);
      if (f) {
        lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
        for (const s of f.series.values()) lines.push(`${name}${labelText(s.labels)} ${s.value.v}`);
        continue;
      }
      const h = this.histograms.get(name)!;
      lines.push(`# HELP ${name} ${h.family.help}`, `# TYPE ${name} histogram`);
      for (const s of h.family.series.values()) {
        h.buckets.forEach((b, i) => lines.push(`${name}_bucket${labelText(s.labels, ['le', String(b)])} ${s.value.counts[i]}`));
        lines.push(`${name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.value.count}`);
        lines.push(`${name}_sum${labelText(s.labels)} ${s.value.sum}`, `${name}_count${labelText(s.labels)} ${s.value.count}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
