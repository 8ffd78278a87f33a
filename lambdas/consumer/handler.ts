import { createLambdaHandler } from './create-handler.ts';

/**
 * Lambda entry point of every destination whose config names no user module (no `transform`, not
 * `kind: "module"`): one function per destination, configured by the environment variables the
 * CDK construct sets. A destination with user code gets an entry of its own, generated at synth.
 */
export const handler = createLambdaHandler({});
