import { type Stage, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * Registers the cdk-nag AWS Solutions checks as a synth-time validation plugin: any finding that is
 * not acknowledged (`Validations.of(scope).acknowledge(...)`, next to the resource it concerns)
 * fails synthesis. The app and the infra tests both call this, so they check the same rules.
 *
 * Returns the pack, whose `validateScope(app)` lists the unacknowledged findings without a synth.
 *
 * @example
 * const app = new App();
 * new SyncPipelineStack(app, 'sync-pipeline', { config });
 * applyNagChecks(app);
 */
export const applyNagChecks = (app: Stage): AwsSolutionsChecks => {
  const checks = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(checks);
  return checks;
};
