/**
 * The backend the Worker computes with. One place to change: the wasm backend (threads, behind
 * the COOP/COEP headers `nabla serve` sends) will plug in here without touching the rest.
 */
import { JsBackend, type Backend } from 'nabla';

export function createBackend(): Backend {
  return new JsBackend();
}
