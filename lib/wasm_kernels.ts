/**
 * Kernels registered for the wasm backend (filled in below).
 * @module
 */

/** Register the project's wasm kernels; idempotent. */
export function registerWasmKernels(): void {}
