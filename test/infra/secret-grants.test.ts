import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig, type PipelineConfigInput } from '../../lib/config/pipeline-config.ts';
import { applyNagChecks, SyncPipelineStack } from '../../lib/infra/index.ts';
import { newApp } from '../helpers/infra.ts';

interface Statement {
  readonly Effect: string;
  readonly Action: string | readonly string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

const ERP_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sync/erp-basic-AbC123';
const ERP_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** Two destinations with secrets of their own (one by name, one by complete ARN under a key of its own) and one without auth. */
const configInput = {
  name: 'grants-test',
  destinations: [
    { name: 'crm', kind: 'http', baseUrl: 'https://crm.example.com', resourceTypes: ['contact'], auth: { type: 'bearer', secret: 'sync/crm-token' } },
    {
      name: 'erp',
      kind: 'http',
      baseUrl: 'https://erp.example.com',
      resourceTypes: ['order'],
      auth: { type: 'basic', secret: ERP_SECRET_ARN, kmsKeyArn: ERP_KEY_ARN },
    },
    { name: 'plain', kind: 'http', baseUrl: 'https://plain.example.com', resourceTypes: ['invoice'] },
  ],
} satisfies PipelineConfigInput;

const list = (value: string | readonly string[]): readonly string[] => (typeof value === 'string' ? [value] : value);
const touches = (statement: Statement, service: string): boolean => list(statement.Action).some((action) => action.startsWith(`${service}:`));

/** Every statement of every policy attached to the role of the one function in `template`. */
const consumerStatements = (template: Template): Statement[] => {
  const functions = Object.values(template.findResources('AWS::Lambda::Function'));
  expect(functions).toHaveLength(1);
  const roleId = functions[0]!.Properties.Role['Fn::GetAtt'][0] as string;
  return Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } })).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
  );
};

/** The stack of `input`: each destination's consumer statements, and every template as JSON. */
const synthesize = (input: PipelineConfigInput): { readonly statements: Map<string, Statement[]>; readonly templates: string[] } => {
  const stack = new SyncPipelineStack(newApp(), 'GrantsTest', { config: parsePipelineConfig(input) });
  const nested = [...stack.pipeline.destinations].map(([name, destination]) => [name, Template.fromStack(destination.stack)] as const);
  return {
    statements: new Map(nested.map(([name, template]) => [name, consumerStatements(template)])),
    templates: [Template.fromStack(stack), ...nested.map(([, template]) => template)].map((template) => JSON.stringify(template.toJSON())),
  };
};

describe("A consumer's grants on its destination's secret", () => {
  let statements: Map<string, Statement[]>;
  let templates: string[];

  beforeAll(() => {
    ({ statements, templates } = synthesize(configInput));
  });

  it('lets a destination whose secret is named read that secret only, in its own partition, region and account, with the six-character suffix wildcard', () => {
    // Act
    const secretStatements = statements.get('crm')!.filter((statement) => touches(statement, 'secretsmanager') || touches(statement, 'kms'));

    // Assess
    expect(secretStatements).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':secret:sync/crm-token-??????']],
        },
      },
    ]);
  });

  it('lets a destination whose secret is a complete ARN read that ARN, and decrypt with its key only through Secrets Manager', () => {
    // Act
    const secretStatements = statements.get('erp')!.filter((statement) => touches(statement, 'secretsmanager') || touches(statement, 'kms'));

    // Assess
    expect(secretStatements).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ERP_SECRET_ARN },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: ERP_KEY_ARN,
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
      },
    ]);
  });

  it('gives a destination without auth no Secrets Manager or KMS statement', () => {
    // Act
    const secretStatements = statements.get('plain')!.filter((statement) => touches(statement, 'secretsmanager') || touches(statement, 'kms'));

    // Assess
    expect(secretStatements).toEqual([]);
  });

  it('grants no consumer secretsmanager:* or a secret on a "*" resource', () => {
    // Act
    const broad = [...statements].flatMap(([name, all]) =>
      all
        .filter(
          (statement) =>
            list(statement.Action).some((action) => action === '*' || action === 'secretsmanager:*') ||
            (touches(statement, 'secretsmanager') && JSON.stringify(statement.Resource).includes('*')) ||
            (touches(statement, 'kms') && statement.Resource === '*'),
        )
        .map((statement) => `${name}: ${JSON.stringify(statement)}`),
    );

    // Assess
    expect(broad).toEqual([]);
  });

  it('puts no secret value and no dynamic reference to one in any template', () => {
    // Act
    const offending = templates.filter((json) => json.includes('{{resolve:secretsmanager') || json.includes('AWS::SecretsManager::Secret'));

    // Assess
    expect(offending).toEqual([]);
  });

  it('keeps cdk-nag passing without an acknowledgement for the secret grants', () => {
    // Prepare
    const app = newApp();
    new SyncPipelineStack(app, 'GrantsNag', { config: parsePipelineConfig(configInput) });

    // Act
    const checks = applyNagChecks(app);

    // Assess: "-??????" is no "*", so AwsSolutions-IAM5 has nothing to say.
    expect(checks.validateScope(app).violations.map((violation) => violation.ruleName)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });

  it("adds the suffix wildcard to a partial ARN, and conditions the key of a secret known by name on the stack's region", () => {
    // Prepare
    const partialArn = 'arn:aws:secretsmanager:us-east-2:210987654321:secret:sync/partial';
    const input = {
      name: 'grants-partial',
      destinations: [
        {
          name: 'partial',
          kind: 'http',
          baseUrl: 'https://partial.example.com',
          resourceTypes: ['contact'],
          auth: { type: 'api-key', secret: partialArn, kmsKeyArn: 'arn:aws:kms:us-east-2:210987654321:key/abcd' },
        },
        { name: 'named', kind: 'http', baseUrl: 'https://named.example.com', resourceTypes: ['order'], auth: { type: 'bearer', secret: 'named-token', kmsKeyArn: ERP_KEY_ARN } },
      ],
    } satisfies PipelineConfigInput;

    // Act
    const byDestination = synthesize(input).statements;
    const secretStatements = (name: string) => byDestination.get(name)!.filter((statement) => touches(statement, 'secretsmanager') || touches(statement, 'kms'));

    // Assess: a partial ARN names no suffix, so the six characters are matched; the key is used via
    // the service of the secret's own region, which for a name is the stack's.
    expect(secretStatements('partial')).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: `${partialArn}-??????` },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: 'arn:aws:kms:us-east-2:210987654321:key/abcd',
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.us-east-2.amazonaws.com' } },
      },
    ]);
    expect(secretStatements('named')).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':secret:named-token-??????']],
        },
      },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: ERP_KEY_ARN,
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
      },
    ]);
  });
});
