import { describe, expect, it } from 'vitest';
import { isProbeEvent, PROBE_EVENT } from '../../lib/config/probe-event.ts';

describe('Function: isProbeEvent', () => {
  it.each<[string, unknown]>([
    ['the constant itself', PROBE_EVENT],
    ['the rule input as Lambda parses it', JSON.parse('{"sync-pipeline":"probe"}')],
  ])('recognises %s', (_label, event) => {
    // Act
    const result = isProbeEvent(event);

    // Assess
    expect(result).toBe(true);
  });

  it.each<[string, unknown]>([
    ['an SQS event', { Records: [{ messageId: 'm-1', body: '{}', eventSource: 'aws:sqs' }] }],
    ['an empty SQS event', { Records: [] }],
    ['another value of the field', { 'sync-pipeline': 'drain' }],
    ['the field in an array', [PROBE_EVENT]],
    ['the string', 'probe'],
    ['null', null],
    ['nothing', undefined],
  ])('refuses %s', (_label, event) => {
    // Act
    const result = isProbeEvent(event);

    // Assess
    expect(result).toBe(false);
  });
});
