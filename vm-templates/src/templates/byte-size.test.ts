import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatByteSize, parseByteSize } from './byte-size.js';
import { parseDurationSeconds } from './duration.js';

describe('parseByteSize', () => {
  it('reads IEC binary units', () => {
    assert.equal(parseByteSize('512MiB'), 512 * 2 ** 20);
    assert.equal(parseByteSize('2GiB'), 2 * 2 ** 30);
    assert.equal(parseByteSize('4KiB'), 4096);
    assert.equal(parseByteSize('64TiB'), 64 * 2 ** 40);
  });

  it('refuses what is ambiguous or not a size', () => {
    for (const text of [
      '512',
      '2GB',
      '2 GiB',
      '1.5GiB',
      '0MiB',
      '-1MiB',
      '02GiB',
      'GiB',
      '2gib',
      '9999999999999TiB',
    ]) {
      assert.equal(parseByteSize(text), undefined, text);
    }
  });

  it('formats with the largest exact unit', () => {
    assert.equal(formatByteSize(2 ** 31), '2GiB');
    assert.equal(formatByteSize(1536 * 2 ** 20), '1536MiB');
    assert.equal(formatByteSize(2 ** 40), '1TiB');
    assert.equal(formatByteSize(1000), '1000B');
  });
});

describe('parseDurationSeconds', () => {
  it('reads seconds, minutes and hours', () => {
    assert.equal(parseDurationSeconds('90s'), 90);
    assert.equal(parseDurationSeconds('2m'), 120);
    assert.equal(parseDurationSeconds('1h'), 3600);
  });

  it('refuses anything else', () => {
    for (const text of ['90', '1.5m', '0s', '2 m', '1d', 's', '-1s'])
      assert.equal(parseDurationSeconds(text), undefined, text);
  });
});
