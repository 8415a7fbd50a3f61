// Side effect: registers <kinema-generator>. The one script a plain HTML page needs.
import { defineKinemaGenerator } from './index';

defineKinemaGenerator();

export { KinemaGeneratorElement, defineKinemaGenerator } from './index';
