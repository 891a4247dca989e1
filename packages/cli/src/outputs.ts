/**
 * Output paths, checked before any work starts: every command that writes a file passes its
 * outputs and its inputs here first. An output is refused when
 *   - its name is empty, ends in a path separator, or is "." / "..";
 *   - it names an existing folder;
 *   - its nearest existing folder is not a folder or not writable;
 *   - it resolves (symlinks followed, "./x" and "x" alike) to one of the command's inputs
 *     (model file, --init, --resume checkpoint, the IDX files of --data) or to another output.
 * So a typo never overwrites the model being read, and a run never trains for an hour to fail on
 * a path it could have refused at once.
 */
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { NablaError } from 'nabla';

/** A file the command reads or writes, with the role its messages use ("model file", "--out"...). */
export interface PathRole {
  path: string;
  role: string;
}

/**
 * The absolute path a name stands for, with every symlink resolved as far as the path exists:
 * realpath of the longest existing prefix, plus the rest as written.
 */
export function resolvedPath(path: string): string {
  let head = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...rest.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return join(head, ...rest.reverse());
      rest.push(basename(head));
      head = parent;
    }
  }
}

/** Refuse an output that cannot be written, before anything is loaded or trained. */
export function checkOutputPath(path: string, role: string): void {
  const where = `${role} "${path}"`;
  const base = basename(path);
  if (path.trim() === '' || base === '' || base === '.' || base === '..' || path.endsWith(sep) || path.endsWith('/')) {
    throw new NablaError({
      where, expected: 'a file name', found: path.trim() === '' ? 'an empty path' : 'a folder path', hint: 'give the file to write, e.g. models/run.safetensors',
    });
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) {
    throw new NablaError({ where, expected: 'a file to write', found: 'an existing folder', hint: `name a file inside it, e.g. ${join(path, 'model.safetensors')}` });
  }
  // The nearest existing ancestor must be a writable folder (missing folders are created on save).
  let dir = resolve(dirname(path));
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  let found: string | undefined;
  try {
    if (!statSync(dir).isDirectory()) found = `a path through a file that is not a folder ("${dir}")`;
    else accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    found = code === 'EACCES' || code === 'EPERM' ? `permission denied on "${dir}"` : String(code ?? e);
  }
  if (found !== undefined) {
    throw new NablaError({ where, expected: 'a writable folder', found, hint: 'choose another path, or fix the folder\'s permissions' });
  }
}

/**
 * Check every output (writable, see checkOutputPath) and that no output is one of the inputs or
 * another output. Inputs that do not exist are skipped (their own loading reports them).
 */
export function checkOutputs(outputs: PathRole[], inputs: PathRole[]): void {
  for (const o of outputs) checkOutputPath(o.path, o.role);
  const seen: { at: string; it: PathRole }[] = [];
  for (const i of inputs) if (existsSync(i.path)) seen.push({ at: resolvedPath(i.path), it: i });
  const inputCount = seen.length;
  for (const o of outputs) {
    const at = resolvedPath(o.path);
    const k = seen.findIndex((s) => s.at === at);
    if (k >= 0) {
      const other = seen[k].it;
      const isInput = k < inputCount;
      throw new NablaError({
        where: `${o.role} "${o.path}"`,
        expected: `a file other than the ${other.role}${isInput ? ' it reads' : ' it also writes'}`,
        found: other.path === o.path ? 'the same path' : `"${other.path}" (the same file)`,
        hint: isInput ? 'write to another file; nabla never overwrites its own inputs' : 'give each output its own file',
      });
    }
    seen.push({ at, it: o });
  }
}
