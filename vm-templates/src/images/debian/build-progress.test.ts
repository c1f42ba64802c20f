import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aptProgress, debootstrapProgress, qemuImgProgress } from './build-progress.js';
import type { LineProgress } from './build-progress.js';

function feed(progress: LineProgress, lines: readonly string[]): { fraction: number; detail: string }[] {
  return lines.flatMap((line) => {
    const step = progress.read(line);
    return step === undefined ? [] : [step];
  });
}

function assertNeverDecreasing(fractions: readonly number[]): void {
  fractions.forEach((fraction, index) => {
    assert.ok(fraction >= 0 && fraction <= 1, `fraction ${fraction} within 0..1`);
    if (index > 0) assert.ok(fraction >= (fractions[index - 1] as number), `${fractions.join(', ')}`);
  });
}

describe('build progress from command output', () => {
  it('follows debootstrap first stage: validating, then extracting, ending at 1', () => {
    const packages = Array.from({ length: 120 }, (_, index) => `pkg${index}`);
    const lines = [
      'I: Retrieving InRelease ',
      'I: Checking Release signature',
      ...packages.flatMap((name) => [`I: Retrieving ${name} 1.0`, `I: Validating ${name} 1.0`]),
      'I: Chosen extractor for .deb packages: dpkg-deb',
      ...packages.map((name) => `I: Extracting ${name}...`),
    ];
    const steps = feed(debootstrapProgress('first'), lines);
    assertNeverDecreasing(steps.map((step) => step.fraction));
    assert.equal(steps.at(-1)?.fraction, 1);
    assert.equal(steps.at(-1)?.detail, 'extracting pkg119');
    assert.equal(steps[0]?.detail, 'fetching pkg0');
    const halfway = steps.find((step) => step.detail === 'extracting pkg0');
    assert.ok(halfway !== undefined && halfway.fraction > 0.5 && halfway.fraction < 0.52);
  });

  it('follows debootstrap second stage: unpacking, then configuring', () => {
    const lines = [
      'I: Installing core packages...',
      'I: Unpacking a:amd64...',
      'I: Unpacking b...',
      'I: Configuring a:amd64...',
      'I: Configuring b...',
      'I: Base system installed successfully.',
    ];
    const steps = feed(debootstrapProgress('second'), lines);
    assert.deepEqual(
      steps.map((step) => step.detail),
      ['unpacking a:amd64', 'unpacking b', 'configuring a:amd64', 'configuring b'],
    );
    assertNeverDecreasing(steps.map((step) => step.fraction));
    assert.equal(steps.at(-1)?.fraction, 1);
  });

  it('follows apt-get from its summary line', () => {
    const lines = [
      'Reading package lists...',
      '1 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.',
      'Unpacking perl-base (5.36.0-7+deb12u4) over (5.36.0-7+deb12u3) ...',
      'Setting up perl-base (5.36.0-7+deb12u4) ...',
      'Unpacking linux-image-6.1.0-56-cloud-amd64 (6.1.192-2) ...',
      'Setting up linux-image-6.1.0-56-cloud-amd64 (6.1.192-2) ...',
      'Processing triggers for libc-bin (2.36-9+deb12u14) ...',
    ];
    const steps = feed(aptProgress(), lines);
    assert.deepEqual(
      steps.map((step) => step.fraction),
      [0, 0.25, 0.5, 0.75, 1],
    );
    assert.equal(steps.at(-1)?.detail, 'configuring linux-image-6.1.0-56-cloud-amd64');
  });

  it('reads qemu-img -p percentages', () => {
    const steps = feed(qemuImgProgress(), [
      '    (0.00/100%)',
      '    (42.50/100%)',
      'other',
      '    (100.00/100%)',
    ]);
    assert.deepEqual(
      steps.map((step) => step.fraction),
      [0, 0.425, 1],
    );
  });
});
