/**
 * The AWS SDK warns once per process, at the first client it builds on Node.js below 22
 * (`emitWarningIfUnsupportedVersion` in @aws-sdk/core), that its releases after January 2027 will
 * need Node 22. The local stack still runs on Node 20 and the README says so once, so the warning
 * is turned off here through the SDK's own switch, unless it was set explicitly. Imported first.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The oldest Node.js major the README recommends (a maintained LTS); older ones still run the stack. */
export const RECOMMENDED_NODE_MAJOR = 22;

export function nodeMajor(version: string = process.version): number {
  return Number.parseInt(version.replace(/^v/, ''), 10);
}
