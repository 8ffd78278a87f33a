import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileEventPattern, EventPatternError, matchesEventPattern, type EventPattern } from '../../lib/core/event-pattern.ts';
import { routingPattern } from '../../lib/config/routing.ts';

const contactOrCompany: EventPattern = { detail: { resourceType: ['contact', 'company'] } };

describe('Function: matchesEventPattern', () => {
  it.each<[string, EventPattern, unknown, boolean]>([
    ['a listed value', contactOrCompany, { detail: { resourceType: 'company' } }, true],
    ['a value not listed', contactOrCompany, { detail: { resourceType: 'order' } }, false],
    ['another case (strings are case-sensitive)', contactOrCompany, { detail: { resourceType: 'Contact' } }, false],
    ['a value with a trailing space', contactOrCompany, { detail: { resourceType: 'contact ' } }, false],
    ['a missing field', contactOrCompany, { detail: { id: 'c-1' } }, false],
    ['a missing parent', contactOrCompany, { source: 'x' }, false],
    ['an array with one listed element', contactOrCompany, { detail: { resourceType: ['order', 'contact'] } }, true],
    ['an array with none listed', contactOrCompany, { detail: { resourceType: ['order', 'invoice'] } }, false],
    ['an empty array', contactOrCompany, { detail: { resourceType: [] } }, false],
    ['a nested array (flattened)', contactOrCompany, { detail: { resourceType: [['contact']] } }, true],
    ['an object where a leaf is expected', contactOrCompany, { detail: { resourceType: { name: 'contact' } } }, false],
    ['null', contactOrCompany, { detail: { resourceType: null } }, false],
    ['a detail that is a string, not an object', contactOrCompany, { detail: '{"resourceType":"contact"}' }, false],
    ['an array of objects, one matching', contactOrCompany, { detail: [{ resourceType: 'order' }, { resourceType: 'contact' }] }, true],
    ['not an object at all', contactOrCompany, 'contact', false],
    ['every field must match (and)', { source: ['app'], detail: { resourceType: ['contact'] } }, { source: 'other', detail: { resourceType: 'contact' } }, false],
    ['every field matching', { source: ['app'], detail: { resourceType: ['contact'] } }, { source: 'app', detail: { resourceType: 'contact' } }, true],
    ['fields from two elements of one array are not combined', { detail: { a: ['1'], b: ['2'] } }, { detail: [{ a: '1' }, { b: '2' }] }, false],
    ['a number by value', { detail: { version: [3] } }, { detail: { version: 3.0 } }, true],
    ['a number is not its string', { detail: { version: [3] } }, { detail: { version: '3' } }, false],
    ['a string is not its number', { detail: { version: ['3'] } }, { detail: { version: 3 } }, false],
    ['true', { detail: { ok: [true] } }, { detail: { ok: true } }, true],
    ['false is not "false"', { detail: { ok: [false] } }, { detail: { ok: 'false' } }, false],
    ['null listed, null given', { detail: { gone: [null] } }, { detail: { gone: null } }, true],
    ['null listed, field missing', { detail: { gone: [null] } }, { detail: {} }, false],
    ['prefix', { detail: { id: [{ prefix: 'run-' }] } }, { detail: { id: 'run-7' } }, true],
    ['prefix, another case', { detail: { id: [{ prefix: 'run-' }] } }, { detail: { id: 'Run-7' } }, false],
    ['prefix on a number', { detail: { id: [{ prefix: '1' }] } }, { detail: { id: 12 } }, false],
    ['exists: true, present', { detail: { id: [{ exists: true }] } }, { detail: { id: 'x' } }, true],
    ['exists: true, missing', { detail: { id: [{ exists: true }] } }, { detail: {} }, false],
    ['exists: true on an object (not a leaf)', { detail: { id: [{ exists: true }] } }, { detail: { id: { a: 1 } } }, false],
    ['exists: false, missing', { detail: { id: [{ exists: false }] } }, { detail: {} }, true],
    ['exists: false, parent missing too', { detail: { id: [{ exists: false }] } }, {}, true],
    ['exists: false, present', { detail: { id: [{ exists: false }] } }, { detail: { id: 'x' } }, false],
    ['exists: false on an object (not a leaf, as the docs say)', { detail: { id: [{ exists: false }] } }, { detail: { id: { c1: 100 } } }, true],
    ['anything-but a string, other value', { detail: { op: [{ 'anything-but': 'delete' }] } }, { detail: { op: 'upsert' } }, true],
    ['anything-but a string, that value', { detail: { op: [{ 'anything-but': 'delete' }] } }, { detail: { op: 'delete' } }, false],
    ['anything-but, field missing', { detail: { op: [{ 'anything-but': 'delete' }] } }, { detail: {} }, false],
    ['anything-but a list', { detail: { op: [{ 'anything-but': ['a', 'b'] }] } }, { detail: { op: 'b' } }, false],
    ['anything-but numbers', { detail: { v: [{ 'anything-but': [1, 2] }] } }, { detail: { v: 3 } }, true],
    ['anything-but prefix, without it', { detail: { id: [{ 'anything-but': { prefix: 'test-' } }] } }, { detail: { id: 'prod-1' } }, true],
    ['anything-but prefix, with it', { detail: { id: [{ 'anything-but': { prefix: 'test-' } }] } }, { detail: { id: 'test-1' } }, false],
    ['numeric range, inside', { detail: { version: [{ numeric: ['>', 0, '<=', 5] }] } }, { detail: { version: 5 } }, true],
    ['numeric range, outside', { detail: { version: [{ numeric: ['>', 0, '<=', 5] }] } }, { detail: { version: 0 } }, false],
    ['numeric on a string', { detail: { version: [{ numeric: ['>', 0] }] } }, { detail: { version: '7' } }, false],
    ['numeric =', { detail: { x: [{ numeric: ['=', 3.018e2] }] } }, { detail: { x: 301.8 } }, true],
    ['or within a leaf', { detail: { id: ['a', { prefix: 'b' }] } }, { detail: { id: 'bc' } }, true],
  ])('matches %s: %j against %j is %s', (_case, pattern, event, expected) => {
    // Act & Assess
    expect(matchesEventPattern(pattern, event)).toBe(expected);
  });

  it.each<[string, unknown, string]>([
    ['an unknown filter', { detail: { id: [{ suffix: '.png' }] } }, 'Event pattern at detail.id[0]: the filter "suffix" is not supported'],
    ['equals-ignore-case', { detail: { id: [{ 'equals-ignore-case': 'A' }] } }, 'the filter "equals-ignore-case" is not supported'],
    ['$or', { $or: [{ a: ['1'] }] }, 'Event pattern at $or: the operator "$or" is not supported'],
    ['an empty list', { detail: { id: [] } }, 'Event pattern at detail.id: expected at least one value'],
    ['an empty pattern', {}, 'Event pattern at its root: expected at least one field'],
    ['a bare string leaf', { detail: { id: 'contact' } }, 'Event pattern at detail.id: expected an object of fields, got "contact"'],
    ['two keys in a filter', { detail: { id: [{ prefix: 'a', exists: true }] } }, 'expected a filter object with one key'],
    ['exists not a boolean', { detail: { id: [{ exists: 'yes' }] } }, 'expected "exists" to be true or false, got "yes"'],
    ['a mixed anything-but list', { detail: { id: [{ 'anything-but': ['a', 1] }] } }, 'only strings or only numbers'],
    ['anything-but suffix', { detail: { id: [{ 'anything-but': { suffix: 'a' } }] } }, 'supports only { prefix: "…" }'],
    ['an unknown numeric operator', { detail: { v: [{ numeric: ['!=', 1] }] } }, 'Event pattern at detail.v[0].numeric[0]: expected a numeric operator'],
    ['a numeric bound beyond 5e9', { detail: { v: [{ numeric: ['<', 6e9] }] } }, 'expected a number from -5000000000 to 5000000000, got 6000000000'],
    ['an odd numeric list', { detail: { v: [{ numeric: ['<'] }] } }, 'expected "numeric" to list operator and number pairs'],
  ])('refuses %s with a message naming the place', (_case, pattern, message) => {
    // Act & Assess
    expect(() => compileEventPattern(pattern as EventPattern)).toThrow(EventPatternError);
    expect(() => compileEventPattern(pattern as EventPattern)).toThrow(message);
  });

  it('refuses an unsupported filter even where another condition of the leaf would match first', () => {
    // Prepare: the exact value would match before the suffix is reached
    const pattern = { detail: { id: ['a', { suffix: 'b' }] } } as unknown as EventPattern;

    // Act & Assess
    expect(() => matchesEventPattern(pattern, { detail: { id: 'a' } })).toThrow('the filter "suffix" is not supported');
  });
});

describe('Property: routing patterns', () => {
  const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,8}$/);

  it('deliver a change exactly when its resourceType (or one element of it) is listed, as destinationsFor routes', () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 5 }), fc.oneof(name, fc.array(name, { maxLength: 3 })), (types, resourceType) => {
        // Prepare
        const event = { source: 'sync-pipeline', 'detail-type': 'change', detail: { resourceType, id: 'r-1' } };
        const expected = Array.isArray(resourceType) ? resourceType.some((t) => types.includes(t)) : types.includes(resourceType);

        // Act & Assess
        expect(matchesEventPattern(routingPattern({ resourceTypes: types }), event)).toBe(expected);
      }),
    );
  });

  it('anything-but a list is the negation of the list on a present scalar value', () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 4 }), name, (listed, value) => {
        // Prepare
        const event = { detail: { v: value } };

        // Act & Assess
        expect(matchesEventPattern({ detail: { v: [{ 'anything-but': listed }] } }, event)).toBe(!matchesEventPattern({ detail: { v: listed } }, event));
      }),
    );
  });
});
