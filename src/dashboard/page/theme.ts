/**
 * Light and dark themes. Without a choice the page follows
 * prefers-color-scheme (app.css does that with a media query, no script
 * needed); the toggle writes `data-theme` on <html> and remembers it in
 * localStorage. Charts draw on canvas and cannot read CSS, so they take their
 * colors from the custom properties (cssColor) and are rebuilt when the theme
 * that useTheme() returns changes.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';

const KEY = 'mqttkit-dashboard-theme';

function stored(): Theme | null {
  try {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : null;
  } catch {
    return null; // storage disabled
  }
}

const dark = matchMedia('(prefers-color-scheme: dark)');

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => {
    const chosen = stored();
    if (chosen !== null) document.documentElement.dataset.theme = chosen;
    return chosen ?? (dark.matches ? 'dark' : 'light');
  });
  useEffect(() => {
    const follow = (): void => {
      if (stored() === null) setTheme(dark.matches ? 'dark' : 'light');
    };
    dark.addEventListener('change', follow);
    return () => dark.removeEventListener('change', follow);
  }, []);
  const toggle = useCallback(() => {
    const next: Theme = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(KEY, next);
    } catch {
      // storage disabled: the choice lasts until the page reloads
    }
    setTheme(next);
  }, [theme]);
  return [theme, toggle];
}

/** A custom property of <html> as the current theme resolves it, for canvas drawing. */
export function cssColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
