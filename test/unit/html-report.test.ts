import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../../lib/local/lab/invariants.ts';
import type { DeadLetter } from '../../lib/ops/dead-letters.ts';
import { describeDeadLetters } from '../../lib/local/report/destination-report.ts';
import { formatHtmlReport, formatReport } from '../../lib/local/report/format-report.ts';
import { INTERRUPTED_MARKER } from '../../lib/local/report/run-report.ts';
import { destinationReport, invariantInputOf, localRunReport, runSettings, writeLogEntry } from '../helpers/run-report.ts';

const SECRET_EMAIL = 'ada.secret@example.com';

/** A dead letter that carries, beside what describes it, its body and payload (as an envelope might). */
const leakyDeadLetter = (): DeadLetter =>
  ({
    destination: 'crm',
    reason: 'rejected',
    message: 'HTTP 400 from the destination: field email is invalid',
    attempts: 3,
    firstAttemptAt: '2026-11-27T10:00:01.250Z',
    lastAttemptAt: '2026-11-27T10:00:09.750Z',
    status: 400,
    change: { resourceType: 'contact', id: 'c-7', version: 4 },
    messageId: 'm-7',
    invocationIds: ['req-1'],
    body: JSON.stringify({ resourceType: 'contact', id: 'c-7', version: 4, payload: { email: SECRET_EMAIL } }),
    originalBody: `{"payload":{"email":"${SECRET_EMAIL}"}}`,
    payload: { email: SECRET_EMAIL },
  }) as DeadLetter;

/** The `<tr …>` start tags inside the element that carries `marker`, in document order. */
const rowsAfter = (html: string, marker: string): string[] => {
  const start = html.indexOf(marker);
  expect(start).toBeGreaterThan(-1);
  const end = html.indexOf('</table>', start);
  return html.slice(start, end).match(/<tr[^>]*>/g) ?? [];
};

describe('Function: formatHtmlReport', () => {
  it('lists each dead letter with its reason, detail, record, attempts and times, and never its body or payload', () => {
    // Prepare
    const report = localRunReport({ deadLetters: describeDeadLetters([leakyDeadLetter()]) });

    // Act
    const html = formatHtmlReport(report);

    // Assess: not in the page, nor in the report (its JSON is printed by --json)
    expect(html).not.toContain(SECRET_EMAIL);
    expect(html).not.toContain('payload&quot;');
    expect(JSON.stringify(report)).not.toContain(SECRET_EMAIL);
    expect(Object.keys(report.deadLetters[0]!).sort()).toEqual(
      ['attempts', 'destination', 'firstAttemptAt', 'invocations', 'lastAttemptAt', 'message', 'messageId', 'reason', 'record', 'status'],
    );
    const [row] = rowsAfter(html, 'data-table="dead-letter-details"').slice(1);
    expect(row).toBe('<tr data-dead-letter="m-7" data-destination="crm" data-reason="rejected">');
    const cells = html.slice(html.indexOf(row!), html.indexOf('</tr>', html.indexOf(row!)));
    expect(cells).toContain('<td>HTTP 400 from the destination: field email is invalid</td>');
    expect(cells).toContain('<td>contact/c-7 v4</td>');
    expect(cells).toContain('<td class="num">3</td>');
    expect(cells).toContain('<time datetime="2026-11-27T10:00:01.250Z">10:00:01.250</time>');
    expect(cells).toContain('<time datetime="2026-11-27T10:00:09.750Z">10:00:09.750</time>');
    expect(cells).toContain('<td class="num">400</td>');
  });

  it('shows the writes that broke a failed invariant, in the order they landed, the one that went backwards marked', () => {
    // Prepare: c-1 gets v1, v3, then (late) v2
    const log = [
      writeLogEntry({ seq: 1, version: 1 }),
      writeLogEntry({ seq: 2, id: 'c-2', version: 5 }),
      writeLogEntry({ seq: 3, version: 3, previousVersion: 1 }),
      writeLogEntry({ seq: 4, version: 2, previousVersion: 3, answered: false }),
    ];
    const invariants = checkInvariants(invariantInputOf(log));

    // Act
    const html = formatHtmlReport(localRunReport({ invariants }));

    // Assess
    expect(html).toContain('<tr data-invariant="noRegression" data-ok="false">');
    const rows = rowsAfter(html, '<figure class="write-sequence" data-write-sequence="noRegression" data-record="crm contact/c-1">').slice(1);
    expect(rows.map((row) => [/data-seq="(\d+)"/.exec(row)?.[1], /data-flagged="(\w+)"/.exec(row)?.[1]])).toEqual([
      ['1', 'false'],
      ['3', 'false'],
      ['4', 'true'],
    ]);
    expect(html).toContain('<td data-version="2">v2</td><td>upsert</td><td>v3</td>');
    expect(html).toContain('<td data-answered="false">no</td>');
    expect(html).not.toContain('data-record="crm contact/c-2"');
  });

  it('shows the redrive phase in both reports: the DLQ before, what moved and how, and the DLQ after', () => {
    // Prepare
    const redrive = {
      plain: false,
      destinations: [{ destination: 'crm', before: { rejected: 5, 'invalid-json': 1 }, moved: 5, method: 'receive-send-delete', kept: { 'invalid-json (bad input)': 1 }, after: 1 }],
    };

    // Act
    const html = formatHtmlReport(localRunReport({ redrive }));
    const text = formatReport(localRunReport({ redrive }));
    const without = formatHtmlReport(localRunReport());

    // Assess
    expect(html).toContain('<tr data-redrive="crm" data-after="1"><th scope="row">crm</th><td>rejected 5, invalid-json 1</td><td class="num">5</td>');
    expect(text).toContain('  crm: DLQ rejected 5, invalid-json 1 -> moved 5 by receive-send-delete, left invalid-json (bad input) 1; DLQ after 1');
    expect(without).not.toContain('id="redrive"');
  });

  it('says INTERRUPTED — partial in the heading, in a banner and in the verdict line of an interrupted run', () => {
    // Act
    const html = formatHtmlReport(localRunReport({ interrupted: true, drained: false }));
    const drained = formatHtmlReport(localRunReport());

    // Assess
    expect(html).toContain(`<h1><span class="interrupted-tag">${INTERRUPTED_MARKER}</span> sync-pipeline local run 3f9c2a1e</h1>`);
    expect(html).toContain(`<p class="interrupted" data-interrupted="true"><strong>${INTERRUPTED_MARKER}</strong>`);
    expect(html).toContain('All 6 invariants hold on the partial state.');
    expect(html).toContain('<body data-run-id="3f9c2a1e" data-interrupted="true">');
    expect(drained).not.toContain(INTERRUPTED_MARKER);
    expect(drained).toContain('<body data-run-id="3f9c2a1e">');
  });

  it('lists the settings as used, per destination, and the faults by rate and by count', () => {
    // Prepare
    const settings = runSettings({ rate: 0, crashRate: 0.01, fakeApi: { failures: { throttle: 0.05 }, latencyMs: 15, deduplicate: false, conflictWhileInFlight: true } });
    const report = localRunReport({ settings, faults: { ...localRunReport().faults, injected: { throttle: 42 }, crashedInvocations: 7 } });

    // Act
    const html = formatHtmlReport(report);

    // Assess
    expect(html).toContain('<tr data-setting="rate"><th scope="row">rate</th><td>as fast as SQS takes them</td></tr>');
    expect(html).toContain('<tr data-setting="fake API latency"><th scope="row">fake API latency</th><td>15 ms</td></tr>');
    expect(html).toContain('<td class="num" data-field="pollers">4</td>');
    expect(html).toContain('<td class="num" data-field="settleSeconds">120 s</td>');
    expect(html).toContain('<td class="num" data-field="maxReceiveCount">201</td>');
    expect(html).toContain('<tr data-fault="throttle" data-value="42"><td>throttle</td><td>429 with Retry-After</td><td class="num">5%</td><td class="num">42</td></tr>');
    expect(html).toContain('<tr data-fault="crash" data-value="7">');
  });

  it('lists the destination errors by class', () => {
    // Prepare
    const report = localRunReport({ destinations: [destinationReport({ errorsByClass: { server: 5, throttled: 12 } })] });

    // Act
    const html = formatHtmlReport(report);

    // Assess
    expect(rowsAfter(html, 'data-table="errors-by-class"').slice(1)).toEqual([
      '<tr data-destination="crm" data-error-class="throttled" data-value="12">',
      '<tr data-destination="crm" data-error-class="server" data-value="5">',
    ]);
  });
});

describe('Function: formatReport', () => {
  it('says first that an interrupted run is partial, with how much of the plan it published', () => {
    // Prepare
    const report = localRunReport({ interrupted: true, drained: false, destinations: [destinationReport({ planned: 292, published: 120 })] });

    // Act
    const lines = formatReport(report).split('\n');

    // Assess
    expect(lines[1]).toBe(`${INTERRUPTED_MARKER}: stopped before it drained, after publishing 120 of 292 planned messages; counts and checks cover what happened until then`);
    expect(lines[2]).toMatch(/^stream \(the part published\): /);
    expect(lines).toContain('interrupted before every published message was accounted for; the checks below judge that partial state');
  });

  it('lists the settings briefly: the workload, then each destination as its consumers ran', () => {
    // Act
    const text = formatReport(localRunReport({ settings: runSettings({ crashRate: 0.01, fakeApi: { failures: { throttle: 0.05, retryAfterSeconds: 1 }, latencyMs: 0, deduplicate: false, conflictWhileInFlight: false } }) }));

    // Assess
    expect(text).not.toContain(INTERRUPTED_MARKER);
    expect(text).toContain('settings: 500 changes over 100 records at 250/s, seed 1, 3 malformed, visibility timeout 5 s; injected: throttle 0.05, crash 0.01');
    expect(text).toContain('  crm: 4 pollers, batch 10, request timeout 5000 ms, function timeout 30 s, lease 11000 ms, settle 120 s, retry 201 receives (backoff 2-900 s)');
  });
});
