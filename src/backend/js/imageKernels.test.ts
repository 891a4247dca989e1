// The JS backend through the shared image and convolution conformance suites, which a new
// backend runs the same way.
import { JsBackend } from './jsBackend.ts';
import { backendConformance } from '../../../test/backendConformance.ts';
import { convConformance } from '../../../test/convConformance.ts';

backendConformance('js', () => new JsBackend());
convConformance('js', () => new JsBackend());
