/**
 * A message payload (base64 of its first 4096 bytes) as text, pretty JSON or
 * a hex dump, and the line diff of two payloads. All in the browser: the
 * server sends each message once, as it arrived.
 */

export type Format = 'text' | 'json' | 'hex';

export interface Decoded {
  bytes: Uint8Array;
  /** The payload as UTF-8, or null when it is not valid UTF-8 or holds control bytes. */
  text: string | null;
  /** Pretty-printed when the text parses as JSON, else null. */
  json: string | null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `base64`'s bytes decoded; `cut`: they are the start of a longer payload (the
 * server's sample, or a preview), so a character the cut split in two at
 * the end is left out rather than taken for binary.
 */
export function decode(base64: string, cut = false): Decoded {
  let binary = '';
  try {
    binary = atob(base64);
  } catch {
    // not base64: show nothing rather than throw in a render
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  let text: string | null = null;
  try {
    text = utf8.decode(cut ? bytes.subarray(0, bytes.length - splitTail(bytes)) : bytes);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: binary payloads are told by their control bytes
    if (/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) text = null;
  } catch {
    text = null;
  }
  let json: string | null = null;
  if (text !== null && /^\s*[[{"\d\-tfn]/.test(text)) {
    try {
      json = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      json = null;
    }
  }
  return { bytes, text, json };
}

/** `00000010  7b 22 61 22 3a 31 7d 0a  ...  |{"a":1}.|`, 16 bytes a line. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      const b = bytes[offset + i];
      if (i === 8) hex += ' ';
      if (b === undefined) {
        hex += '   ';
        continue;
      }
      hex += `${b.toString(16).padStart(2, '0')} `;
      ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    }
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines.join('\n');
}

/** The payload in `format`, falling back to the best format it has (json -> text -> hex). */
export function render(decoded: Decoded, format: Format): string {
  if (format === 'json' && decoded.json !== null) return decoded.json;
  if (format !== 'hex' && decoded.text !== null) return decoded.text;
  return hexDump(decoded.bytes);
}

/** What the diff compares: pretty JSON when it parses, else the text, else the hex dump. */
export function comparable(decoded: Decoded): string {
  return decoded.json ?? decoded.text ?? hexDump(decoded.bytes);
}

export interface DiffLine {
  op: ' ' | '+' | '-';
  line: string;
}

/** Past this many cells the LCS table costs too much; the diff then shows old lines removed, new ones added. */
const MAX_CELLS = 4_000_000;

/**
 * A line diff of `before` -> `after` from the longest common subsequence:
 * the common prefix and suffix are cut first, the LCS table covers the rest.
 */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split('\n');
  const b = after.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const out: DiffLine[] = a.slice(0, start).map((line) => ({ op: ' ', line }));
  const n = endA - start;
  const m = endB - start;
  if (n * m > MAX_CELLS) {
    for (let i = start; i < endA; i++) out.push({ op: '-', line: a[i] });
    for (let j = start; j < endB; j++) out.push({ op: '+', line: b[j] });
  } else {
    // lcs[i * (m + 1) + j]: the LCS length of a[start + i ..] and b[start + j ..]
    const lcs = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * (m + 1) + j] =
          a[start + i] === b[start + j]
            ? lcs[(i + 1) * (m + 1) + j + 1] + 1
            : Math.max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[start + i] === b[start + j]) {
        out.push({ op: ' ', line: a[start + i] });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1])) {
        out.push({ op: '-', line: a[start + i] });
        i++;
      } else {
        out.push({ op: '+', line: b[start + j] });
        j++;
      }
    }
  }
  for (let i = endA; i < a.length; i++) out.push({ op: ' ', line: a[i] });
  return out;
}

/** How many bytes at the end of `b` are the start of a UTF-8 character that goes on past it (0 to 3). */
function splitTail(b: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const byte = b[b.length - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needs > back ? back : 0;
  }
  return 0;
}
