/** One sample of a Prometheus text exposition: `name{labels} value`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const labelText = rest.startsWith("{") ? rest.slice(1, rest.indexOf("}")) : "";
    const have = Object.fromEntries(
      [...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as [string, string]),
    );
    if (!Object.entries(labels).every(([k, v]) => have[k] === v)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    found = true;
  }
  return found ? sum : 0;
}

/** The bridge's /metrics text. */
export async function scrape(metricsUrl: string): Promise<string> {
  return (await fetch(`${metricsUrl}/metrics`)).text();
}

/**
 * The most attempts a retry loop with exponential backoff (doubling from `initialMs` up to `maxMs`, each wait at least
 * half its nominal delay) can make in `elapsedMs`. A slow machine makes fewer, never more: a safe upper bound that
 * tells a loop that backs off from one that hammers.
 */
export function maxAttemptsWithBackoff(elapsedMs: number, initialMs: number, maxMs: number): number {
  let attempts = 1;
  let waited = 0;
  for (let n = 0; ; n++) {
    waited += Math.min(maxMs, initialMs * 2 ** Math.min(n, 30)) / 2 - 1;
    if (waited > elapsedMs) return attempts;
    attempts++;
  }
}
