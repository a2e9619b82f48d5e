/** Guest log levels, as the verge:v1 `log` function numbers them (docs/abi.md). */
export const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

/** Per request, guest log calls and stderr lines together (a guest cannot flood the log). */
export const GUEST_LOG_LIMITS = { maxRecords: 200, maxRecordBytes: 4096 } as const;
