import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { controlKey } from '../../lib/adapters/dynamodb-destination-control.ts';
import { parsePipelineConfig } from '../../lib/config/pipeline-config.ts';
import { ledgerKey } from '../../lib/core/ledger.ts';
import { SyncPipelineStack } from '../../lib/infra/index.ts';
import { newApp } from '../helpers/infra.ts';

/**
 * What a consumer's IAM policies allow on the ledger table, judged request by request the way IAM
 * does for the parts they use: an Allow statement applies when its action and resource match and
 * every condition holds; `ForAllValues:StringLike` on `dynamodb:LeadingKeys` holds when every key
 * of the request matches one of its patterns. A condition this evaluator does not know counts as
 * holding (fail closed: the test then sees the request allowed).
 */
interface Statement {
  readonly Effect: string;
  readonly Action: string | readonly string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, string | readonly string[]>>;
}

const wildcard = (pattern: string): RegExp => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
const list = <T>(value: T | readonly T[]): readonly T[] => (Array.isArray(value) ? value : [value as T]);

const allows = (statements: readonly Statement[], request: { readonly action: string; readonly tableArn: unknown; readonly key: string }): boolean =>
  statements.some((statement) => {
    if (statement.Effect !== 'Allow') return false;
    if (!list(statement.Action).some((action) => wildcard(action).test(request.action))) return false;
    const onTable = list(statement.Resource).some(
      (resource) => resource === '*' || JSON.stringify(resource).includes(JSON.stringify(request.tableArn)) || (typeof resource === 'string' && resource.includes(':dynamodb:')),
    );
    if (!onTable) return false;
    return Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
      Object.entries(keys).every(([conditionKey, patterns]) => {
        if (operator === 'ForAllValues:StringLike' && conditionKey === 'dynamodb:LeadingKeys') return list(patterns).some((pattern) => wildcard(pattern).test(request.key));
        return true;
      }),
    );
  });

/** Names that share a prefix, so a pattern without the `#` would let one reach the other's items. */
const config = parsePipelineConfig({
  name: 'policy-test',
  destinations: ['crm', 'crm-eu', 'crm2', 'erp'].map((name) => ({ name, kind: 'http' as const, baseUrl: `https://${name}.example.com`, resourceTypes: ['contact'] })),
});

const keysOf = (destination: string): readonly string[] => [
  ledgerKey({ destination, resourceType: 'contact', id: 'c-1' }),
  ledgerKey({ destination, resourceType: 'contact', id: 'crm#contact#c-1' }),
  controlKey(destination),
];

describe("A consumer's IAM policy on the ledger table", () => {
  const policies = new Map<string, { statements: Statement[]; tableArn: unknown }>();

  beforeAll(() => {
    const stack = new SyncPipelineStack(newApp(), 'PolicyTest', { config });
    for (const [name, destination] of stack.pipeline.destinations) {
      const template = Template.fromStack(destination.stack);
      const functions = Object.values(template.findResources('AWS::Lambda::Function'));
      expect(functions).toHaveLength(1);
      const roleId = functions[0]!.Properties.Role['Fn::GetAtt'][0] as string;
      const statements = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })).flatMap(
        (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
      );
      const parameter = Object.keys(template.toJSON().Parameters as Record<string, unknown>).find((id) => id.includes('LedgerTable') && id.endsWith('Arn'))!;
      policies.set(name, { statements, tableArn: { Ref: parameter } });
    }
  });

  it.each(['crm', 'crm-eu', 'crm2', 'erp'])('lets %s read (one item or a batch) and conditionally update its own items, the control item among them', (name) => {
    // Prepare
    const { statements, tableArn } = policies.get(name)!;

    // Act
    const verdicts = keysOf(name).flatMap((key) =>
      ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem'].map((action) => allows(statements, { action, tableArn, key })),
    );

    // Assess
    expect(verdicts).toEqual([true, true, true, true, true, true, true, true, true]);
  });

  it.each(['crm', 'crm-eu', 'crm2', 'erp'])("keeps %s from every other destination's items, whatever the action", (name) => {
    // Prepare
    const { statements, tableArn } = policies.get(name)!;
    const others = [...policies.keys()].filter((other) => other !== name).flatMap(keysOf);
    const actions = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'];

    // Act
    const allowed = others.flatMap((key) => actions.filter((action) => allows(statements, { action, tableArn, key })).map((action) => `${action} ${key}`));

    // Assess
    expect(allowed).toEqual([]);
  });

  it('allows no write but the conditional update, and no query or scan, even on its own items', () => {
    // Prepare
    const { statements, tableArn } = policies.get('crm')!;
    const actions = ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:DeleteTable', 'dynamodb:UpdateTable'];

    // Act
    const allowed = keysOf('crm').flatMap((key) => actions.filter((action) => allows(statements, { action, tableArn, key })));

    // Assess
    expect(allowed).toEqual([]);
  });

  it('would let a grant without the LeadingKeys condition reach other destinations (the evaluator can fail)', () => {
    // Prepare: the statement as a plain table grant writes it
    const { statements, tableArn } = policies.get('crm')!;
    const unconditioned = statements.map(({ Condition: _condition, ...statement }) => statement);

    // Act
    const reached = keysOf('crm-eu').filter((key) => allows(unconditioned, { action: 'dynamodb:UpdateItem', tableArn, key }));

    // Assess
    expect(reached).toEqual(keysOf('crm-eu'));
  });
});
