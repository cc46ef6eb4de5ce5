/** Entry point of the `cvm` command (`npm run cvm -- …`, `npx cvm …`). */
import { processContext, runCli } from './program.ts';

process.exitCode = await runCli(process.argv.slice(2), processContext());
