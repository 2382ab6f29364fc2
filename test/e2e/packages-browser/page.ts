/**
 * What the package pages of test/e2e/packages-browser.test.ts share: the result each page
 * leaves on `window[key]` for the test to read, the WebGPU adapter Chromium offers, and the
 * page's query (`?ep=webgpu|cpu|wasm&runs=N`).
 */

/** A page's result: 'running' (with `createMs` once the sessions exist), then 'done' or 'error'. */
export interface PageResult {
  state: 'running' | 'done' | 'error';
  ep?: string;
  /** The WebGPU adapter Chromium offers ('vendor architecture'), or null without one. */
  adapter?: string | null;
  createMs?: number;
  times?: number[];
  error?: string;
}

/** The adapter's vendor and architecture, or null when Chromium offers no WebGPU. */
export async function adapterInfo(): Promise<string | null> {
  const a = await navigator.gpu?.requestAdapter();
  return a ? `${a.info.vendor} ${a.info.architecture}`.trim() : null;
}

/** What a page's `main` is given: the query's execution provider and run count, the adapter, and a setter for its result. */
export interface PageContext<R extends PageResult> {
  ep: string;
  runs: number;
  adapter: string | null;
  report(r: Omit<R, 'state'> & { state?: 'running' | 'done' }): void;
}

/**
 * Runs a page: sets `window[key]` to 'running', calls `main`, and records an error thrown
 * by it as `{ state: 'error', error }` (name, message and stack).
 *
 * @param key the `window` property the test waits on.
 * @param main the page's work; it reports progress and its 'done' result through `report`.
 */
export function runPageMain<R extends PageResult>(key: string, main: (c: PageContext<R>) => Promise<void>): void {
  const w = window as unknown as Record<string, PageResult>;
  w[key] = { state: 'running' };
  const q = new URLSearchParams(location.search);
  const ep = q.get('ep') ?? 'wasm';
  const runs = Number(q.get('runs') ?? 1);
  (async () => {
    const adapter = await adapterInfo();
    await main({ ep, runs, adapter, report: (r) => { w[key] = { state: 'running', ep, adapter, ...r } as PageResult; } });
  })().catch((e: unknown) => {
    w[key] = { state: 'error', error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e) };
  });
}
