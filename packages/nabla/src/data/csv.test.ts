import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvRecords, parseCsv } from './csv.ts';
import { assertNablaError } from '../../../../test/assertNablaError.ts';

test('csvRecords follows RFC 4180: quotes, doubled quotes, line breaks in fields, CRLF, blank lines', () => {
  const text = '\ufeffa,b,c\r\n1,"x, y","say ""hi"""\r\n\r\n2,"two\nlines",\n';
  const recs = [...csvRecords(text)];
  assert.deepEqual(recs.map((r) => r.fields), [['a', 'b', 'c'], ['1', 'x, y', 'say "hi"'], ['2', 'two\nlines', '']]);
  assert.deepEqual(recs.map((r) => r.line), [1, 2, 4]);
  assertNablaError(() => [...csvRecords('a\n"open\n\n', 'f.csv')], ['f.csv:2', 'closing double quote']);
});

test('string labels become classes, sorted by default or in first-seen order', () => {
  const text = 'sepal,petal,species\n5.1,1.4,setosa\n6.3,6.0,virginica\n5.9,4.2,versicolor\n5.0,1.5,setosa\n';
  const ds = parseCsv(text);
  assert.deepEqual(ds.classNames, ['setosa', 'versicolor', 'virginica']);
  assert.deepEqual([...ds.labels], [0, 2, 1, 0]);
  assert.equal(ds.classes, 3);
  assert.deepEqual(ds.inputShape, [2]);
  assert.deepEqual([...ds.x.subarray(0, 2)], [Math.fround(5.1), Math.fround(1.4)]);
  assert.deepEqual([...ds.y.subarray(3, 6)], [0, 0, 1]);
  const seen = parseCsv(text, { classOrder: 'first-seen' });
  assert.deepEqual(seen.classNames, ['setosa', 'virginica', 'versicolor']);
  assert.deepEqual([...seen.labels], [0, 1, 2, 0]);
  // Without a header: the one text column is the label.
  const noHeader = parseCsv('5.1,1.4,setosa\n6.3,6.0,virginica\n');
  assert.deepEqual(noHeader.classNames, ['setosa', 'virginica']);
  assert.equal(noHeader.count, 2);
  // "label" is preferred to "y", wherever it stands.
  assert.deepEqual([...parseCsv('x,y,label\n0.5,-0.25,1\n0.1,0.2,0\n').x], [0.5, -0.25, Math.fround(0.1), Math.fround(0.2)]);
  // Given class names (a test set read like its training set).
  const given = parseCsv('f,class\n1,b\n2,a\n', { classNames: ['b', 'a', 'c'] });
  assert.deepEqual([...given.labels], [0, 1]);
  assert.equal(given.classes, 3);
});

test('Kaggle digits layout: label column 0, pixels divided by 255, [1, 28, 28]; test.csv without labels', () => {
  const header = ['label', ...Array.from({ length: 784 }, (_, i) => `pixel${i}`)].join(',');
  const row = (l: number) => [l, ...Array.from({ length: 784 }, (_, i) => i % 256)].join(',');
  const ds = parseCsv(`${header}\n${row(3)}\n${row(7)}\n`);
  assert.equal(ds.classes, 8);
  assert.deepEqual([...ds.labels], [3, 7]);
  assert.equal(ds.classNames, undefined);
  assert.deepEqual(ds.inputShape, [1, 28, 28]);
  assert.deepEqual(ds.imageShape, [28, 28]);
  assert.equal(ds.x[255], 1);
  assert.equal(ds.x[1], Math.fround(1 / 255));
  const testHeader = header.slice('label,'.length);
  const t = parseCsv(`${testHeader}\n${row(0).slice(2)}\n`, { label: null });
  assert.equal(t.count, 1);
  assert.equal(t.features, 784);
  assert.deepEqual(t.inputShape, [1, 28, 28]);
  assert.equal(parseCsv(`${header}\n${row(3)}\n`, { scale: 1 }).x[255], 255);
});

test('regression keeps the target as a number, y (N, 1)', () => {
  const ds = parseCsv('x1,x2,price\n1,2,10.5\n3,4,-2\n', { task: 'regression', label: 'price' });
  assert.deepEqual([...ds.y], [10.5, -2]);
  assert.equal(ds.targets, 1);
  assert.deepEqual(ds.targetNames, ['price']);
  assert.deepEqual([...ds.x], [1, 2, 3, 4]);
  assertNablaError(() => parseCsv('a,y\n1,2\n3,cheap\n', { task: 'regression', source: 'r.csv' }), ['r.csv:3', 'column "y"', 'cheap']);
});

test('bad data: each error names the file, line and column', () => {
  const src = { source: 'data.csv' };
  assertNablaError(() => parseCsv('a,b,label\n1,2,x\n1,2\n', src), ['data.csv:3', '3 columns', 'found 2']);
  assertNablaError(() => parseCsv('a,b,label\n1,2,x\n1,abc,y\n', src), ['data.csv:3', 'column "b"', '"abc"', 'non-numeric']);
  assertNablaError(() => parseCsv('a,b,label\n1,2,x\n1,,y\n', src), ['data.csv:3', 'column "b"', 'empty cell']);
  assertNablaError(() => parseCsv('a,b,label\n1,2,x\nNaN,2,y\n', src), ['data.csv:3', 'column "a"', 'NaN']);
  assertNablaError(() => parseCsv('a,b,label\n1,2,x\n1,Infinity,y\n', src), ['data.csv:3', 'column "b"', 'Infinity']);
  assertNablaError(() => parseCsv('a,b,label\n1,2,x\n1,2,\n', src), ['data.csv:3', 'column "label"', 'a label']);
  assertNablaError(() => parseCsv('a,label\n1,2\n1,2.5\n', src), ['data.csv:3', 'column "label"', '2.5', "task: 'regression'"]);
  assertNablaError(() => parseCsv('a,label\n1,2\n1,-1\n', src), ['data.csv:3', '-1']);
  assertNablaError(() => parseCsv('a,b\n1,2\n', { ...src, label: 'species' }), ['data.csv:1', 'column named "species"', '"a", "b"']);
  assertNablaError(() => parseCsv('f,class\n1,z\n', { ...src, classNames: ['a', 'b'] }), ['data.csv:2', '"z"']);
  assertNablaError(() => parseCsv('', src), ['data.csv', 'no rows']);
  assertNablaError(() => parseCsv('a,label\n', src), ['data.csv', 'only the header']);
});
