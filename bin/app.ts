// The CDK app: `npx cdk synth` / `npx cdk deploy`. The config file comes from the environment
// variable SYNC_PIPELINE_CONFIG, else from the context value `config` (cdk.json, or `-c config=…`).
// The stack is environment-agnostic, so synth needs no AWS credentials.
import { App } from 'aws-cdk-lib';
import { ConfigFileError, DEFAULT_CONFIG_PATH, loadPipelineConfig, type PipelineConfig } from '../lib/config/pipeline-config.ts';
import { ValidationError } from '../lib/contract/validation.ts';
import { PluginLoadError } from '../lib/adapters/plugin-loader.ts';
import { applyNagChecks, SyncPipelineStack } from '../lib/infra/index.ts';

const app = new App();

const contextString = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || typeof value === 'string') return value;
  console.error(`Expected context value \`${key}\` to be a string, got ${JSON.stringify(value)}`);
  process.exit(1);
};

const configPath = process.env.SYNC_PIPELINE_CONFIG ?? contextString('config') ?? DEFAULT_CONFIG_PATH;
// `-c stackName=…` names the stack and, as the config's `name` would, every physical resource: the
// same config deploys twice in one region (staging, prod) without a name colliding.
const stackName = contextString('stackName');

let config: PipelineConfig;
try {
  config = loadPipelineConfig(configPath, { name: stackName });
} catch (error) {
  // A bad config is the user's to fix: the message names the file and each bad field; a stack
  // trace would only bury it.
  if (error instanceof ConfigFileError || error instanceof ValidationError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const count = config.destinations.length;
try {
  new SyncPipelineStack(app, config.name, {
    config,
    // Short whatever the config: CloudFormation allows 1024 bytes; the destinations are the nested stacks.
    description: `sync-pipeline ${config.name}: ${count} destination${count === 1 ? '' : 's'}, one nested stack each`,
  });
} catch (error) {
  // A user module the config names and synth cannot find is the user's to fix, like a bad field.
  if (error instanceof PluginLoadError) {
    console.error(`${configPath}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
applyNagChecks(app);
