export type Color = 'red' | 'green' | 'blue' | 'yellow' | 'white' | 'cyan' | 'magenta' | 'orange';
export type Shape = 'circle' | 'square' | 'triangle';
export type Motion = 'left' | 'right' | 'up' | 'down' | 'grow' | 'shrink';
export type Background = 'black' | 'white' | 'gray';
export type Language = 'en' | 'zh';

export interface Attributes {
  color: Color | null;
  shape: Shape | null;
  motion: Motion | null;
  background: Background | null;
}

export interface ParsedCaption extends Attributes {
  language: Language;
}

export declare const COLORS: readonly Color[];
export declare const SHAPES: readonly Shape[];
export declare const MOTIONS: readonly Motion[];
export declare const BACKGROUNDS: readonly Background[];
/** Palette the training clips were rendered with (0–255 RGB). */
export declare const COLOR_RGB: Readonly<Record<Color, readonly [number, number, number]>>;
export declare const BACKGROUND_RGB: Readonly<Record<Background, readonly [number, number, number]>>;

/** 'zh' if the prompt contains a CJK ideograph, else 'en'. */
export declare function detectLanguage(prompt: string): Language;
/** Attributes a prompt asks for (null where it does not say). Throws TypeError for a non-string. */
export declare function parseCaption(prompt: string): ParsedCaption;
