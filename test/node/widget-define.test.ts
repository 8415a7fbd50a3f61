import { describe, expect, it } from 'vitest';
import { defineKinemaGenerator, KinemaGeneratorElement } from '../../src/widget/index';

function fakeRegistry() {
  const defined = new Map<string, CustomElementConstructor>();
  return {
    defined,
    get: (name: string) => defined.get(name),
    define: (name: string, ctor: CustomElementConstructor) => {
      if (defined.has(name)) throw new Error(`${name} already defined`);
      defined.set(name, ctor);
    },
  } as unknown as CustomElementRegistry & { defined: Map<string, CustomElementConstructor> };
}

describe('defineKinemaGenerator', () => {
  it('imports without a DOM and defines the element once per name', () => {
    const registry = fakeRegistry();
    expect(defineKinemaGenerator(undefined, registry)).toBe(KinemaGeneratorElement);
    expect(defineKinemaGenerator(undefined, registry)).toBe(KinemaGeneratorElement);
    const other = defineKinemaGenerator('my-generator', registry);
    expect(other).not.toBe(KinemaGeneratorElement);
    expect(Object.getPrototypeOf(other)).toBe(KinemaGeneratorElement);
    expect([...registry.defined.keys()]).toEqual(['kinema-generator', 'my-generator']);
  });

  it('observes every documented attribute', () => {
    expect([...KinemaGeneratorElement.observedAttributes].sort())
      .toEqual(['autoplay', 'backend', 'model', 'prompt', 'provider', 'proxy-url', 'show-settings']);
  });
});
