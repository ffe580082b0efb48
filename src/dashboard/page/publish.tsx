/** The publish form: POST /api/publish with the session, topic, payload, QoS and retain flag; the answer below it. */
import { useEffect, useState } from 'preact/hooks';
import type { Info } from './types.js';

interface Result {
  ok: boolean;
  text: string;
  field?: string;
}

async function publish(body: Record<string, unknown>): Promise<Result> {
  let response: Response;
  try {
    response = await fetch('api/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (error) {
    return { ok: false, text: `The dashboard did not answer: ${(error as Error).message}` };
  }
  const raw = await response.text();
  let answer: { ok?: boolean; error?: string; field?: string } = {};
  try {
    answer = JSON.parse(raw);
  } catch {
    // a plain-text answer (401, a proxy's page): shown as it is
  }
  if (response.ok && answer.ok !== false) return { ok: true, text: `Published to ${body.topic as string}.` };
  const reason = answer.error ?? (raw.trim() || response.statusText);
  return { ok: false, text: `${response.status}: ${reason}`, field: answer.field };
}

export function PublishForm({ info, topic }: { info: Info; topic: string | null }) {
  // '' lets the server pick (the explorer session, or the first connected one)
  const [session, setSession] = useState(
    info.explorer !== undefined && info.publishers.includes(info.explorer) ? info.explorer : '',
  );
  const [target, setTarget] = useState(topic ?? '');
  const [payload, setPayload] = useState('');
  const [qos, setQos] = useState<0 | 1 | 2>(0);
  const [retain, setRetain] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);

  useEffect(() => {
    if (topic !== null) setTarget(topic);
  }, [topic]);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setResult(null);
    const body: Record<string, unknown> = { topic: target, payload, encoding: 'utf8', qos, retain };
    if (session !== '') body.session = session;
    setResult(await publish(body));
    setBusy(false);
  };

  const invalid = (field: string): boolean => result !== null && !result.ok && result.field === field;
  return (
    <form class="publish" data-testid="publish-form" onSubmit={submit}>
      <div class="form-row">
        <label class="field">
          <span>Session</span>
          <select
            data-testid="publish-session"
            value={session}
            aria-invalid={invalid('session')}
            onChange={(e) => setSession(e.currentTarget.value)}
          >
            <option value="">(the server picks)</option>
            {info.publishers.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>QoS</span>
          <select
            data-testid="publish-qos"
            value={String(qos)}
            aria-invalid={invalid('qos')}
            onChange={(e) => setQos(Number(e.currentTarget.value) as 0 | 1 | 2)}
          >
            <option value="0">0</option>
            <option value="1">1</option>
            <option value="2">2</option>
          </select>
        </label>
        <label class="field check">
          <input
            type="checkbox"
            data-testid="publish-retain"
            checked={retain}
            onChange={(e) => setRetain(e.currentTarget.checked)}
          />
          <span>Retain</span>
        </label>
      </div>
      <label class="field">
        <span>Topic</span>
        <input
          type="text"
          data-testid="publish-topic"
          class="mono"
          value={target}
          required
          spellcheck={false}
          autocomplete="off"
          aria-invalid={invalid('topic')}
          onInput={(e) => setTarget(e.currentTarget.value)}
        />
      </label>
      <label class="field">
        <span>Payload</span>
        <textarea
          data-testid="publish-payload"
          class="mono"
          rows={4}
          value={payload}
          spellcheck={false}
          aria-invalid={invalid('payload')}
          onInput={(e) => setPayload(e.currentTarget.value)}
        />
      </label>
      <div class="form-row">
        <button type="submit" class="primary" data-testid="publish-submit" disabled={busy}>
          {busy ? 'Publishing…' : 'Publish'}
        </button>
        <output
          data-testid="publish-result"
          class={result === null ? 'muted' : result.ok ? 'ok-text' : 'bad-text'}
          data-ok={result === null ? undefined : String(result.ok)}
          aria-live="polite"
        >
          {result?.text ?? ''}
        </output>
      </div>
    </form>
  );
}
