import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeTarget, roundFigure, showValue, targetMet } from './target-check.js';

describe('targets', () => {
  it('decides at-least and at-most targets, with the bound itself meeting them', () => {
    assert.equal(targetMet(50, { atLeast: 50, unit: 'x' }), 'yes');
    assert.equal(targetMet(49.9, { atLeast: 50, unit: 'x' }), 'NO');
    assert.equal(targetMet(0.1, { atMost: 0.1, unit: '%' }), 'yes');
    assert.equal(targetMet(0.11, { atMost: 0.1, unit: '%' }), 'NO');
    assert.equal(targetMet(-0.05, { atMost: 0.1, unit: '%' }), 'yes');
  });

  it('says n/a without a finite value', () => {
    assert.equal(targetMet(null, { atLeast: 1, unit: 'x' }), 'n/a');
    assert.equal(targetMet(Number.NaN, { atLeast: 1, unit: 'x' }), 'n/a');
    assert.equal(targetMet(Number.POSITIVE_INFINITY, { atMost: 1, unit: 's' }), 'n/a');
  });

  it('shows targets and values in their units', () => {
    assert.equal(describeTarget({ atLeast: 50, unit: 'x' }), '>= 50x');
    assert.equal(describeTarget({ atMost: 0.1, unit: '%' }), '<= 10%');
    assert.equal(describeTarget({ atMost: 1, unit: 's' }), '<= 1 s');
    assert.equal(showValue(0.05, '%'), '5.0%');
    assert.equal(showValue(37.61, 'x'), '37.6x');
    assert.equal(showValue(250.4, 'x'), '250x');
    assert.equal(showValue(0.4844, 's'), '0.484 s');
    assert.equal(showValue(3.038, 's'), '3.04 s');
    assert.equal(showValue(null, 's'), 'n/a');
  });

  it('rounds figures for the JSON line and keeps null for missing ones', () => {
    assert.equal(roundFigure(0.1 + 0.2), 0.3);
    assert.equal(roundFigure(37.649, 1), 37.6);
    assert.equal(roundFigure(null), null);
    assert.equal(roundFigure(Number.NaN), null);
  });
});
