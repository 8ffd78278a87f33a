import { describe, expect, it, vi } from 'vitest';
import { atFirstUse, clientFrom, importSdk } from '../../lib/adapters/at-first-use.ts';

describe('Function: atFirstUse', () => {
  it('makes the value at the first call, and shares it with the calls begun before and after it settles', async () => {
    // Prepare
    const make = vi.fn(async () => ({ made: true }));
    const get = atFirstUse(make);
    expect(make).not.toHaveBeenCalled();

    // Act
    const [first, second] = await Promise.all([get(), get()]);
    const later = await get();

    // Assess
    expect(make).toHaveBeenCalledTimes(1);
    expect(second).toBe(first);
    expect(later).toBe(first);
  });

  it('keeps no failure: the call after a rejection tries again', async () => {
    // Prepare
    const make = vi.fn<() => Promise<string>>().mockRejectedValueOnce(new Error('not yet')).mockResolvedValue('made');
    const get = atFirstUse(make);

    // Act
    const failed = get();
    await expect(failed).rejects.toThrow('not yet');
    const made = await get();

    // Assess
    expect(made).toBe('made');
    expect(make).toHaveBeenCalledTimes(2);
  });
});

describe('Function: importSdk', () => {
  it('names the package and what it was for when the import fails, the failure as its cause', async () => {
    // Prepare
    const missing = new Error("Cannot find package '@aws-sdk/client-sqs'");

    // Act
    const error = await importSdk('@aws-sdk/client-sqs', 'reach the queues', () => Promise.reject(missing)).catch((caught: unknown) => caught as Error);

    // Assess
    expect(error.message).toBe("could not load @aws-sdk/client-sqs to reach the queues: Cannot find package '@aws-sdk/client-sqs'");
    expect(error.cause).toBe(missing);
  });
});

describe('Function: clientFrom', () => {
  it('gives a client as it is, and what a function makes', async () => {
    // Prepare
    const client = { send: () => undefined };

    // Act
    const given = await clientFrom(client);
    const made = await clientFrom(() => client);
    const madeLater = await clientFrom(async () => client);

    // Assess
    expect([given, made, madeLater]).toEqual([client, client, client]);
  });
});
