/** Numbers and times as the tables and cards show them. */

const UNITS = ['', 'k', 'M', 'G', 'T'];

/** 950 -> "950", 12.34 -> "12.3", 0.25 -> "0.25", 15320 -> "15.3k". */
export function num(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs < 1000) {
    if (Number.isInteger(value)) return String(value);
    return abs < 10 ? value.toFixed(2).replace(/\.?0+$/, '') : value.toFixed(1).replace(/\.0$/, '');
  }
  let unit = 0;
  let scaled = abs;
  while (scaled >= 1000 && unit < UNITS.length - 1) {
    scaled /= 1000;
    unit++;
  }
  const text = scaled < 100 ? scaled.toFixed(1).replace(/\.0$/, '') : scaled.toFixed(0);
  return `${value < 0 ? '-' : ''}${text}${UNITS[unit]}`;
}

/** The exact integer, grouped: for titles beside a compact number. */
export function exact(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function bytes(value: number): string {
  if (value < 1024) return `${Math.round(value)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let unit = -1;
  let scaled = value;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${scaled < 100 ? scaled.toFixed(1) : scaled.toFixed(0)} ${units[unit]}`;
}

export function ms(value: number | null): string {
  if (value === null) return '–';
  if (value < 10) return `${value.toFixed(1).replace(/\.0$/, '')} ms`;
  if (value < 10_000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(1)} s`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Local wall-clock time, HH:MM:SS. */
export function clock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** HH:MM:SS.mmm, for messages that arrive several a second. */
export function clockMs(t: number): string {
  return `${clock(t)}.${pad(new Date(t).getMilliseconds(), 3)}`;
}

/** How long before `now` (both server ms): "4s ago", "12m ago", "3h ago". */
export function ago(t: number, now: number): string {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
