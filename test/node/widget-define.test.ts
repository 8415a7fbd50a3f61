import { afterEach, describe, expect, it, vi } from 'vitest';
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

describe('kinema/widget and kinema/widget/define', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('kinema/widget registers nothing when imported; kinema/widget/define registers the tag', async () => {
    const registry = fakeRegistry();
    vi.stubGlobal('customElements', registry);
    vi.resetModules();
    const widget = await import('../../src/widget/index');
    expect(typeof widget.defineKinemaGenerator).toBe('function');
    expect([...registry.defined.keys()]).toEqual([]);
    await import('../../src/widget/define');
    expect([...registry.defined.keys()]).toEqual(['kinema-generator']);
    expect(registry.defined.get('kinema-generator')).toBe(widget.KinemaGeneratorElement);
  });
});
