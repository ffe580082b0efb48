/**
 * `--verbose --log-format json`: every stderr line is a JSON object as pino
 * writes them (level numbers, time, msg, the fields), stdout stays the
 * command's output; `--log-format` alone implies `--verbose`; a bad format
 * is a usage error. Runs the built CLI (`dist/`).
 */
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { runCli } from '../helpers/cli.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

function jsonLines(stderr: string): Record<string, unknown>[] {
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines.length).toBeGreaterThan(0);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.skipIf(!hasMosquitto())('the CLI logger', () => {
  it('pub --verbose --log-format json: JSON lines on stderr, pino-shaped, with the session’s events', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const r = await runCli([
      'pub',
      '-p',
      String(broker.port),
      '-h',
      '127.0.0.1',
      '-t',
      'log/json',
      '-m',
      'x',
      '-q',
      '1',
      '--verbose',
      '--log-format',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const lines = jsonLines(r.stderr);
    for (const l of lines) {
      expect(l).toMatchObject({
        level: expect.any(Number),
        time: expect.any(Number),
        msg: expect.any(String),
      });
      expect([20, 30, 40, 50]).toContain(l.level);
    }
    expect(lines.find((l) => l.msg === 'connected')).toMatchObject({
      level: 30,
      url: `mqtt://127.0.0.1:${broker.port}`,
      protocolVersion: 5,
      clientId: expect.stringMatching(/^mqttkit-pub-/),
    });
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: 'closed', reasonCode: 0 });
  });

  it('--log-format alone turns the log on; text lines for people; a bad format is a usage error', async () => {
    const broker = await startMosquitto();
    onCleanup(() => broker.stop());
    const at = ['-h', '127.0.0.1', '-p', String(broker.port), '-t', 'log/text', '-m', 'x'];
    const json = await runCli(['pub', ...at, '--log-format', 'json']);
    expect(json.code).toBe(0);
    expect(jsonLines(json.stderr).map((l) => l.msg)).toContain('connected');
    const text = await runCli(['pub', ...at, '--verbose']);
    expect(text.stderr).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}connected url=mqtt:\/\/127\.0\.0\.1:\d+ clientId=mqttkit-pub-\S+ protocolVersion=5 sessionPresent=false reconnect=false$/m,
    );
    const quiet = await runCli(['pub', ...at]);
    expect(quiet.stderr).toBe('');
    const bad = await runCli(['pub', ...at, '--log-format', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--log-format.*expected text or json/);
  });
});
