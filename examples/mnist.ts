/** Shared by the Node examples: `--quick` (as CI runs the examples) means a slice of the data and one epoch. */
export const quick = process.argv.includes('--quick');
