/** `mqttkit bench`: not written yet. */
import type { Command } from 'commander';

export function registerBench(program: Command): void {
  program.command('bench').description('(not written yet)');
}
