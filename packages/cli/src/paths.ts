/**
 * Where this package's own files are. This module sits at the top of src/, as the bundled
 * dist/main.js does, so '..' is the package folder from either.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package folder (packages/cli in the repository, node_modules/nabla-cli when installed). */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The `nabla` executable, for child processes (search trials). */
export const BIN = join(PACKAGE_ROOT, 'bin', 'nabla.js');
