/**
 * The `mqttkit` command: one commander program, a sub-command per file in
 * `commands/`. Every failure is one line starting `mqttkit:`; a usage error
 * adds the command's one-line usage and where its help is, never the whole
 * help. Exit codes are in `errors.ts`: 0 done, 1 failed, 2 usage, config or
 * a missing package, 124 timed out, 130 interrupted.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { registerBench } from './commands/bench.js';
import { registerBroker } from './commands/broker.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDemo } from './commands/demo.js';
import { registerFleet } from './commands/fleet.js';
import { registerForward } from './commands/forward.js';
import { registerPub } from './commands/pub.js';
import { registerReq, registerServe } from './commands/rpc.js';
import { registerSub } from './commands/sub.js';
import { CliError, Exit, exitCodeOf, usageMessage } from './errors.js';
import { errorPrefix, installShutdown, outputClosed, printError } from './runtime.js';

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
 * on one line (a usage error with the command's usage line, exit 2), and
 * records the exit code.
 */
export function action<F>(cmd: Command, run: CommandAction<F>): Command {
  return cmd.action(async (_args: unknown, command: Command) => {
    const context: CommandContext = { signal: shutdownSignal };
    try {
      exitCode = (await run(command.opts() as F, context, command)) ?? Exit.Ok;
    } catch (err) {
      const usage = usageMessage(err);
      if (usage !== undefined) {
        // printed as commander prints its own parse errors; thrown on to main() as a CommanderError
        command.error(usage, { exitCode: Exit.Usage, code: 'mqttkit.usage' });
      }
      if (outputClosed()) {
        // the reader of stdout went away: nothing to say to it, and no failure
        exitCode = Exit.Ok;
        return;
      }
      if (context.signal.aborted && !(err instanceof CliError)) {
        // an operation Ctrl-C cancelled (AbortError), or one that failed while shutting down
        process.stderr.write(`${errorPrefix()} interrupted\n`);
        exitCode = Exit.Interrupted;
        return;
      }
      printError(err, { target: context.target });
      exitCode = exitCodeOf(err);
    }
    if (outputClosed()) exitCode = Exit.Ok;
  });
}

/**
 * What follows a usage error: the command's one-line usage and where its
 * help is (`Usage: mqttkit pub -t <topic> ...`, ``See `mqttkit pub --help`.``).
 */
function usageHint(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return `Usage: ${cmd.createHelp().commandUsage(cmd)}\nSee \`${names.join(' ')} --help\`.`;
}

/** Sets what follows a parse error, for `cmd` and the commands under it (bench's kinds). */
function showUsageAfterErrors(cmd: Command): void {
  cmd.showHelpAfterError(usageHint(cmd));
  for (const sub of cmd.commands) showUsageAfterErrors(sub);
}

/** The package's version, by its own name (the `exports` map has `./package.json`): the same from src/ and from the bundle. */
function version(): string {
  try {
    return (createRequire(import.meta.url)('mqttkit/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function createProgram(): Command {
  const program = new Command('mqttkit')
    .description(
      'MQTT from the command line: publish, subscribe, request/response, forward, benchmark, demo, dashboard',
    )
    .version(version(), '--version', 'print the version')
    .helpOption('--help', 'show help') // -h is --host, as in mosquitto_pub
    .helpCommand('help [command]', 'show help for a command')
    .exitOverride()
    .configureOutput({
      // every error line starts `mqttkit:`, commander's own (`error: unknown option`) too
      outputError: (text, write) => write(`${errorPrefix()} ${text.replace(/^error: /, '')}`),
    })
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });
  registerPub(program);
  registerSub(program);
  registerReq(program);
  registerServe(program);
  registerForward(program);
  registerFleet(program);
  registerBench(program);
  registerDemo(program);
  registerDashboard(program);
  registerBroker(program);
  showUsageAfterErrors(program);
  return program;
}

/** The command under `cmd` called `word` (by name or alias). */
function subcommand(cmd: Command, word: string): Command | undefined {
  return cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
}

/**
 * The command words at the start of `argv` (before any option), checked
 * before commander parses them, as usage errors: a command that has only
 * subcommands given none (`mqttkit bench`: missing command), and a `help`
 * whose words do not name a command at that level (`mqttkit help bench
 * nope`, `mqttkit bench help nope`). Left to commander, the first prints the
 * whole help with no `mqttkit:` line, and the second the help of the last
 * command it found, exit 0. Any other word is commander's to judge (an
 * unknown command, an argument).
 */
function checkCommandWords(program: Command, argv: readonly string[]): void {
  let cmd: Command = program;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word.startsWith('-')) return;
    if (word === 'help' && cmd.commands.length > 0 && subcommand(cmd, word) === undefined) {
      let target: Command = cmd;
      for (const name of argv.slice(i + 1)) {
        if (name.startsWith('-')) return;
        const next = subcommand(target, name);
        if (next === undefined) {
          target.error(`unknown command '${name}'`, {
            exitCode: Exit.Usage,
            code: 'commander.unknownCommand',
          });
        }
        target = next;
      }
      return;
    }
    const next = subcommand(cmd, word);
    if (next === undefined) return;
    cmd = next;
  }
  if (cmd !== program && cmd.commands.length > 0) {
    const names = cmd.commands.map((c) => c.name());
    cmd.error(`missing command: ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`, {
      exitCode: Exit.Usage,
      code: 'mqttkit.missingCommand',
    });
  }
}

/** Runs the command line `argv` (without node and the script) and resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const shutdown = installShutdown();
  shutdownSignal = shutdown.signal;
  exitCode = Exit.Ok;
  const program = createProgram();
  try {
    if (argv.length === 0) {
      // no command: the list of commands is what helps
      program.outputHelp({ error: true });
      return Exit.Usage;
    }
    checkCommandWords(program, argv);
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version exit 0; every usage error (already printed, with the usage line) exits 2
      return err.exitCode === 0 ? Exit.Ok : Exit.Usage;
    }
    printError(err);
    return exitCodeOf(err);
  } finally {
    shutdown.dispose();
  }
}
