import { isDeepStrictEqual } from 'node:util';
import type { PipelineConfig } from '../../config/pipeline-config.ts';
import { routingPattern } from '../../config/routing.ts';

/** A rule of the bus as the emulator lists it (ListRules, ListTargetsByRule). */
export interface DeployedRule {
  readonly name: string;
  /** The rule's EventPattern, parsed. */
  readonly pattern: unknown;
  readonly targets: ReadonlyArray<{ readonly arn: string; readonly inputPath?: string }>;
}

/** One destination's verdict. */
export interface RoutingVerdict {
  readonly destination: string;
  readonly ok: boolean;
  readonly detail: string;
  /** The InputPath of the rule's target to the destination's queue, as deployed. */
  readonly inputPath?: string;
}

/**
 * Checks the deployed routing against the config: each destination's queue is the target of exactly
 * one rule of the bus, and that rule's pattern is exactly `routingPattern(destination)` (so it
 * selects the destination's resource types and no other); no rule targets a queue of no destination.
 *
 * @example
 * checkDeployedRouting(config, rules, { crm: 'arn:aws:sqs:us-east-1:123456789012:spe2e-crm', erp: '…' })[0].ok; // true
 */
export const checkDeployedRouting = (config: PipelineConfig, rules: readonly DeployedRule[], queueArns: Readonly<Record<string, string>>): RoutingVerdict[] => {
  const verdicts = config.destinations.map((destination): RoutingVerdict => {
    const queueArn = queueArns[destination.name];
    const routing = rules.flatMap((rule) => rule.targets.filter((target) => target.arn === queueArn).map((target) => ({ rule, target })));
    const expected = routingPattern(destination);
    if (routing.length !== 1) {
      return { destination: destination.name, ok: false, detail: `expected 1 rule targeting ${queueArn}, found ${routing.length}${routing.length > 0 ? ` (${routing.map((r) => r.rule.name).join(', ')})` : ''}` };
    }
    const [{ rule, target }] = routing as [(typeof routing)[number]];
    const ok = isDeepStrictEqual(rule.pattern, expected);
    return {
      destination: destination.name,
      ok,
      detail: ok
        ? `rule ${rule.name} selects ${destination.resourceTypes.join(', ')} only, target ${queueArn}${target.inputPath === undefined ? '' : ` (InputPath ${target.inputPath})`}`
        : `rule ${rule.name} has pattern ${JSON.stringify(rule.pattern)}, expected ${JSON.stringify(expected)}`,
      ...(target.inputPath === undefined ? {} : { inputPath: target.inputPath }),
    };
  });
  const known = new Set(Object.values(queueArns));
  const strays = rules.flatMap((rule) => rule.targets.filter((target) => target.arn.includes(':sqs:') && !known.has(target.arn)).map((target) => `${rule.name} → ${target.arn}`));
  if (strays.length > 0) verdicts.push({ destination: '(other queues)', ok: false, detail: `rules target queues of no destination: ${strays.join('; ')}` });
  return verdicts;
};
