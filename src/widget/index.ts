/**
 * kinema/widget: the `<kinema-generator>` custom element. Import `kinema/widget/define` (or call
 * `defineKinemaGenerator()`) to register it.
 */
import { KinemaGeneratorElement } from './element';

export { KinemaGeneratorElement, type KinemaDoneDetail, type KinemaErrorDetail } from './element';
export { WIDGET_CSS } from './styles';

/** Registers the element under `name` (default `kinema-generator`); a second call with the same name does nothing. */
export function defineKinemaGenerator(name = 'kinema-generator', registry: CustomElementRegistry = customElements): typeof KinemaGeneratorElement {
  const existing = registry.get(name);
  if (existing) return existing as typeof KinemaGeneratorElement;
  // A subclass per name: one constructor cannot be registered twice.
  const element = name === 'kinema-generator' ? KinemaGeneratorElement : class extends KinemaGeneratorElement {};
  registry.define(name, element);
  return element;
}
