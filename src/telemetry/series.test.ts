import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from './series.js';

describe('request-path series', () => {
  test('a histogram exports cumulative buckets, +Inf, sum and count in the text prom-client writes for its own', async () => {
    const registry = new Registry();
    const h = new HistogramFamily('t_seconds', 'a test histogram', ['route'], [0.1, 1], registry);
    const child = h.labels({ route: '/a' });
    for (const v of [0.05, 0.1, 0.5, 3]) child.observe(v);
    const text = await registry.metrics();
    assert.equal(
      text.trim(),
      [
        '# HELP t_seconds a test histogram',
        '# TYPE t_seconds histogram',
        't_seconds_bucket{route="/a",le="0.1"} 2',
        't_seconds_bucket{route="/a",le="1"} 3',
        't_seconds_bucket{route="/a",le="+Inf"} 4',
        't_seconds_sum{route="/a"} 3.65',
        't_seconds_count{route="/a"} 4',
      ].join('\n'),
    );
  });

  test('a counter child is its series: the same labels give the same child, in the order of the label names, beside prom-client metrics', async () => {
    const registry = new Registry();
    const c = new CounterFamily('t_total', 'a test counter', ['app', 'class'], registry);
    new Counter({ name: 'other_total', help: 'prom-client', registers: [registry] }).inc();
    c.labels({ class: '2xx', app: 'a' }).inc();
    c.labels({ app: 'a', class: '2xx' }).inc(2);
    c.labels({ app: 'b"q', class: '5xx' }).inc();
    const text = await registry.metrics();
    assert.match(text, /^t_total\{app="a",class="2xx"\} 3$/m);
    assert.match(text, /^t_total\{app="b\\"q",class="5xx"\} 1$/m, 'label values are escaped');
    assert.match(text, /^other_total 1$/m);
    assert.throws(() => c.labels({ app: 'a' }), /label class is missing/);
  });

  test('a removed series is no longer exported, and one made again starts from zero', async () => {
    const registry = new Registry();
    const c = new CounterFamily('t_total', 'a test counter', ['v'], registry);
    c.labels({ v: 'old' }).inc(5);
    c.remove({ v: 'old' });
    assert.doesNotMatch(await registry.metrics(), /v="old"/);
    c.labels({ v: 'old' }).inc();
    assert.match(await registry.metrics(), /^t_total\{v="old"\} 1$/m);
  });
});
