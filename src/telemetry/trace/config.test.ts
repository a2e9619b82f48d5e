import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BATCH_DEFAULTS, LOG_BATCH_DEFAULTS, logsConfigFromEnv, samplerConfigFromEnv, traceConfigFromEnv } from './config.js';
import { isVergeError } from '../../errors.js';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };

test('tracing is off without an endpoint, with the SDK disabled, or with the exporter set to none', () => {
  assert.equal(traceConfigFromEnv({}), undefined);
  assert.equal(traceConfigFromEnv({ ...ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' }), undefined);
  assert.equal(traceConfigFromEnv({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }), undefined);
});

test('the base endpoint gets /v1/traces and the traces endpoint is used as given', () => {
  assert.equal(traceConfigFromEnv(ENDPOINT)?.url, 'http://127.0.0.1:4318/v1/traces');
  assert.equal(traceConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otlp/' })?.url, 'http://collector:4318/otlp/v1/traces');
  assert.equal(traceConfigFromEnv({ ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c.example/t' })?.url, 'https://c.example/t');
});

test('the defaults are http/protobuf, parent-based always-on and the SDK batch sizes', () => {
  const config = traceConfigFromEnv(ENDPOINT);
  assert.equal(config?.protocol, 'http/protobuf');
  assert.equal(config?.sampler, 'parentbased_always_on');
  assert.deepEqual(config?.batch, BATCH_DEFAULTS);
});

test('the traces protocol wins over the general one, and the ratio is read for ratio samplers', () => {
  const config = traceConfigFromEnv({
    ...ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.01',
    OTEL_BSP_MAX_QUEUE_SIZE: '10',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100',
  });
  assert.equal(config?.protocol, 'http/json');
  assert.equal(config?.ratio, 0.01);
  // A batch never holds more than the queue.
  assert.equal(config?.batch.maxExportBatchSize, 10);
});

test('a value Verge does not accept fails with TELEMETRY_CONFIG_INVALID naming the variable', () => {
  for (const [name, value] of [
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'],
    ['OTEL_TRACES_SAMPLER', 'sometimes'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5'],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '-1'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'ftp://x'],
    ['OTEL_TRACES_EXPORTER', 'zipkin'],
  ] as const) {
    const env = { ...ENDPOINT, OTEL_TRACES_SAMPLER: name === 'OTEL_TRACES_SAMPLER_ARG' ? 'traceidratio' : undefined, [name]: value };
    assert.throws(
      () => traceConfigFromEnv(env),
      (err: unknown) => isVergeError(err) && err.code === 'TELEMETRY_CONFIG_INVALID' && err.message.startsWith(`${name}=`),
      name,
    );
  }
});

test('guest log export follows the same rules with its own variables: /v1/logs, OTEL_LOGS_EXPORTER, OTEL_BLRP_*', () => {
  assert.equal(logsConfigFromEnv({}), undefined);
  assert.equal(logsConfigFromEnv({ ...ENDPOINT, OTEL_LOGS_EXPORTER: 'none' }), undefined);
  assert.equal(logsConfigFromEnv({ ...ENDPOINT, OTEL_SDK_DISABLED: 'true' }), undefined);
  const config = logsConfigFromEnv({ ...ENDPOINT, OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json', OTEL_BLRP_SCHEDULE_DELAY: '250' });
  assert.equal(config?.url, 'http://127.0.0.1:4318/v1/logs');
  assert.equal(config?.protocol, 'http/json');
  assert.deepEqual(config?.batch, { ...LOG_BATCH_DEFAULTS, scheduledDelayMs: 250 });
  assert.equal(logsConfigFromEnv({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'https://c.example/l' })?.url, 'https://c.example/l');
  // Traces without logs: each signal can be turned off alone.
  assert.equal(traceConfigFromEnv({ ...ENDPOINT, OTEL_LOGS_EXPORTER: 'none' })?.url, 'http://127.0.0.1:4318/v1/traces');
  assert.throws(() => logsConfigFromEnv({ ...ENDPOINT, OTEL_BLRP_MAX_QUEUE_SIZE: '0' }), /OTEL_BLRP_MAX_QUEUE_SIZE="0": expected a positive integer/);
  assert.throws(() => logsConfigFromEnv({ ...ENDPOINT, OTEL_LOGS_EXPORTER: 'console' }), /OTEL_LOGS_EXPORTER="console": expected "otlp" or "none"/);
});

test('the sampler alone is read without an endpoint, for the dashboard, and only OTEL_SDK_DISABLED turns it off', () => {
  assert.deepEqual(samplerConfigFromEnv({}), { sampler: 'parentbased_always_on', ratio: 1 });
  assert.deepEqual(samplerConfigFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }), { sampler: 'traceidratio', ratio: 0.25 });
  // No exporter is not no tracing: the dashboard still records.
  assert.deepEqual(samplerConfigFromEnv({ OTEL_TRACES_EXPORTER: 'none' }), { sampler: 'parentbased_always_on', ratio: 1 });
  assert.equal(samplerConfigFromEnv({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_SAMPLER: 'always_on' }), undefined);
  assert.throws(
    () => samplerConfigFromEnv({ OTEL_TRACES_SAMPLER: 'sometimes' }),
    (err: unknown) => isVergeError(err, 'TELEMETRY_CONFIG_INVALID') && err.message.startsWith('OTEL_TRACES_SAMPLER='),
  );
});
