/**
 * Counters and histograms for the request path, registered in a prom-client Registry beside its
 * own metrics and served by it the same way.
 *
 * prom-client's label children do not keep their series: every `inc` or `observe` validates the
 * labels, builds their hash string and looks it up (about a microsecond on an idle core, several
 * times that on a busy one), and a request here makes half a dozen observations. A child of these
 * families is its series: an observation is a few additions, and the labels are read only when
 * the child is made and when /metrics is scraped.
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string>;

interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

abstract class Family<C> {
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';
  /** By the label values, in labelNames order. */
  protected readonly children = new Map<string, { labels: Labels; child: C }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series with these labels, made on first use: keep it, and observe on it. */
  labels(labels: Labels): C {
    const key = this.key(labels);
    let entry = this.children.get(key);
    if (!entry) {
      const own: Labels = {};
      for (const name of this.labelNames) {
        if (typeof labels[name] !== 'string') throw new Error(`${this.name}: label ${name} is missing`);
        own[name] = labels[name];
      }
      this.children.set(key, (entry = { labels: own, child: this.make() }));
    }
    return entry.child;
  }

  /** Stops exporting the series with these labels (a child still held goes on counting, unseen). */
  remove(labels: Labels): void {
    this.children.delete(this.key(labels));
  }

  /** What the registry exports, in prom-client's shape. */
  async get(): Promise<Exported> {
    const values: Exported['values'] = [];
    for (const { labels, child } of this.children.values()) this.export(labels, child, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  protected abstract make(): C;
  protected abstract export(labels: Labels, child: C, into: Exported['values']): void;

  private key(labels: Labels): string {
    return this.labelNames.map((n) => labels[n]).join('\0');
  }
}

export class CounterChild {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class CounterFamily extends Family<CounterChild> {
  readonly type = 'counter';
  protected make(): CounterChild {
    return new CounterChild();
  }
  protected export(labels: Labels, child: CounterChild, into: Exported['values']): void {
    into.push({ value: child.value, labels });
  }
}

export class HistogramChild {
  /** Per bucket (the last: above every bound), not cumulative. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HistogramFamily extends Family<HistogramChild> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!)) throw new Error(`${name}: buckets must increase`);
  }

  protected make(): HistogramChild {
    return new HistogramChild(this.buckets);
  }

  protected export(labels: Labels, child: HistogramChild, into: Exported['values']): void {
    const bucket = `${this.name}_bucket`;
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += child.counts[i]!;
      into.push({ metricName: bucket, labels: { ...labels, le: this.buckets[i]! }, value: cumulative });
    }
    into.push({ metricName: bucket, labels: { ...labels, le: '+Inf' }, value: child.count });
    into.push({ metricName: `${this.name}_sum`, labels, value: child.sum });
    into.push({ metricName: `${this.name}_count`, labels, value: child.count });
  }
}
