import { describe, expect, it } from 'vitest';
import { classifyHttpStatus, classifyTransportError, DestinationError } from '../../lib/core/errors.ts';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('Function: classifyHttpStatus', () => {
  it.each<[number, 'upsert' | 'delete', string, boolean | null]>([
    [408, 'upsert', 'timeout', true],
    [429, 'upsert', 'throttled', true],
    [500, 'upsert', 'server', true],
    [502, 'upsert', 'server', true],
    [503, 'delete', 'server', true],
    [504, 'upsert', 'timeout', true],
    [409, 'upsert', 'conflict', true],
    [400, 'upsert', 'client', false],
    [413, 'upsert', 'client', false],
    [422, 'upsert', 'client', false],
    [404, 'upsert', 'client', false],
    [401, 'upsert', 'auth', false],
    [403, 'delete', 'auth', false],
    [404, 'delete', 'done', null],
    [303, 'upsert', 'client', false],
    [301, 'delete', 'client', false],
  ])('maps %i on %s to %s (retryable: %s)', (status, op, expected, retryable) => {
    // Act
    const errorClass = classifyHttpStatus(status, op);

    // Assess
    expect(errorClass).toBe(expected);
    if (errorClass !== 'done') expect(new DestinationError('x', { errorClass }).retryable).toBe(retryable);
  });
});

describe('Function: classifyTransportError', () => {
  it.each<[string, unknown, string]>([
    ['an abort timeout', Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }), 'timeout'],
    ['an abort', Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }), 'timeout'],
    ['a reset connection', new TypeError('fetch failed', { cause: withCode('read ECONNRESET', 'ECONNRESET') }), 'network'],
    ['a refused connection', new TypeError('fetch failed', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') }), 'network'],
    ['a DNS failure', new TypeError('fetch failed', { cause: withCode('getaddrinfo ENOTFOUND api.test', 'ENOTFOUND') }), 'network'],
    ['a DNS timeout', new TypeError('fetch failed', { cause: withCode('getaddrinfo EAI_AGAIN api.test', 'EAI_AGAIN') }), 'network'],
    ['an undici socket error', new TypeError('fetch failed', { cause: withCode('other side closed', 'UND_ERR_SOCKET') }), 'network'],
    ['something unknown', new Error('boom'), 'unknown'],
    ['a non-error', 'boom', 'unknown'],
  ])('classifies %s', (_name, error, expected) => {
    // Act & Assess
    expect(classifyTransportError(error)).toBe(expected);
  });

  it('treats unknown failures as transient', () => {
    // Act & Assess
    expect(new DestinationError('boom', { errorClass: classifyTransportError(new Error('boom')) }).retryable).toBe(true);
  });
});
