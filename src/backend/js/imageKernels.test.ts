// The JS backend (fast and naive-GEMM variants) through the shared backend conformance suite,
// which a new backend runs the same way.
import { JsBackend } from './jsBackend.ts';
import { backendConformance } from '../../../test/backendConformance.ts';

backendConformance('js', () => new JsBackend());
