/** `mqttkit forward`: not written yet. */
import type { Command } from 'commander';

export function registerForward(program: Command): void {
  program.command('forward').description('(not written yet)');
}
