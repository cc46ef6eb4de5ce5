/** Entry point of the `cvm` command (`npm run cvm -- …`, `npx cvm …`). */
import { processContext, runCli } from './program.ts';

// The AWS SDK warns on every run that its releases after January 2027 will need Node 22. cvm pins its SDK
// versions and supports Node 20 (see README, "Requirements"), so the warning is noise to an operator here;
// the variable is the SDK's own switch, and an explicit setting by the user still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `cvm admin list | head`: the reader went away, which is how a pipeline says it has enough. Stop quietly
// instead of crashing on EPIPE with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), processContext());
