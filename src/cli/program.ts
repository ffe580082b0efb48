/**
 * The `mqttkit` command: one commander program, a sub-command per file in
 * `commands/`. Exit codes are in `errors.ts`: 0 done, 1 failed, 2 usage,
 * 124 timed out.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerBench } from './commands/bench.js';
import { registerBroker } from './commands/broker.js';
import { registerDemo } from './commands/demo.js';
import { registerForward } from './commands/forward.js';
import { registerPub } from './commands/pub.js';
import { registerReq, registerServe } from './commands/rpc.js';
import { registerSub } from './commands/sub.js';
import { CliError, Exit, UsageError } from './errors.js';
import { installShutdown, outputClosed, printError } from './runtime.js';

/** What a command's action gets besides its flags. */
export interface CommandContext {
  /** Aborted at Ctrl-C (SIGINT) or SIGTERM: shut down cleanly and return. */
  readonly signal: AbortSignal;
  /** Where the command connects, for error hints (`host:port`); set once known. */
  target?: string;
}

/** A command's action: resolves with its exit code (undefined: 0). */
export type CommandAction<F> = (
  flags: F,
  context: CommandContext,
  command: Command,
) => Promise<number | undefined>;

let shutdownSignal: AbortSignal = new AbortController().signal;
let exitCode: number = Exit.Ok;

/**
 * Sets the action of `cmd`: runs it with the shutdown signal, prints any error
 * on one line (usage errors with the command's help, exit 2), and records the
 * exit code.
 */
export function action<F>(cmd: Command, run: CommandAction<F>): Command {
  return cmd.action(async (_args: unknown, command: Command) => {
    const context: CommandContext = { signal: shutdownSignal };
    try {
      exitCode = (await run(command.opts() as F, context, command)) ?? Exit.Ok;
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`error: ${err.message}\n`);
        command.outputHelp({ error: true });
        exitCode = Exit.Usage;
        return;
      }
      if (outputClosed()) {
        // the reader of stdout went away: nothing to say to it, and no failure
        exitCode = Exit.Ok;
        return;
      }
      if (context.signal.aborted && !(err instanceof CliError)) {
        // an operation Ctrl-C cancelled (AbortError), or one that failed while shutting down
        process.stderr.write('mqttkit: interrupted\n');
        exitCode = Exit.Interrupted;
        return;
      }
      printError(err, { target: context.target });
      exitCode = (err as { exitCode?: number }).exitCode ?? Exit.Error;
    }
    if (outputClosed()) exitCode = Exit.Ok;
  });
}

function version(): string {
  try {
    const url = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function createProgram(): Command {
  const program = new Command('mqttkit')
    .description('MQTT from the command line: publish, subscribe, request/response, forward, benchmark, demo')
    .version(version(), '--version', 'print the version')
    .helpOption('--help', 'show help') // -h is --host, as in mosquitto_pub
    .helpCommand('help [command]', 'show help for a command')
    .showHelpAfterError(true)
    .exitOverride()
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });
  registerPub(program);
  registerSub(program);
  registerReq(program);
  registerServe(program);
  registerForward(program);
  registerBench(program);
  registerDemo(program);
  registerBroker(program);
  return program;
}

/** Runs the command line `argv` (without node and the script) and resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const shutdown = installShutdown();
  shutdownSignal = shutdown.signal;
  exitCode = Exit.Ok;
  const program = createProgram();
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return Exit.Usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version exit 0; every parse error (already printed, with the help) exits 2
      return err.exitCode === 0 ? Exit.Ok : Exit.Usage;
    }
    printError(err);
    return Exit.Error;
  } finally {
    shutdown.dispose();
  }
}
