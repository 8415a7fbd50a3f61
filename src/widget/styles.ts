/**
 * The widget's shadow styles. Theme it from the page with custom properties on the element
 * (`kinema-generator { --kinema-accent: hotpink }`) or restyle a part (`kinema-generator::part(generate)`).
 */
export const WIDGET_CSS = `
:host {
  --_accent: var(--kinema-accent, #3b5bdb);
  --_accent-fg: var(--kinema-accent-foreground, #fff);
  --_bg: var(--kinema-background, #fff);
  --_fg: var(--kinema-foreground, #1b1b1f);
  --_muted: var(--kinema-muted, #5b5b66);
  --_border: var(--kinema-border, #d6d6dc);
  --_danger: var(--kinema-danger, #b42318);
  --_radius: var(--kinema-radius, 8px);
  --_gap: var(--kinema-gap, 0.6rem);
  display: block;
  max-width: var(--kinema-max-width, 32rem);
  font: var(--kinema-font, 15px/1.45 system-ui, sans-serif);
  color: var(--_fg);
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  padding: calc(var(--_gap) * 1.5);
  box-sizing: border-box;
}
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
form { display: grid; gap: var(--_gap); }
label { font-weight: 600; font-size: 0.9em; display: block; margin-bottom: 0.2em; }
textarea, input, select { width: 100%; font: inherit; color: inherit; background: transparent; border: 1px solid var(--_border); border-radius: calc(var(--_radius) * 0.75); padding: 0.4em 0.5em; }
:focus-visible { outline: 3px solid var(--_accent); outline-offset: 2px; }
.settings { display: grid; grid-template-columns: repeat(auto-fill, minmax(7rem, 1fr)); gap: var(--_gap); }
.check { display: flex; gap: 0.3em; align-items: center; font-weight: 400; }
.check input { width: auto; }
.actions { display: flex; flex-wrap: wrap; gap: var(--_gap); }
button, a.download { font: inherit; font-weight: 600; min-height: 2.4em; padding: 0.4em 1em; border-radius: calc(var(--_radius) * 0.75); border: 1px solid var(--_accent); background: transparent; color: var(--_accent); cursor: pointer; text-decoration: none; display: inline-flex; align-items: center; }
button.primary, a.download { background: var(--_accent); color: var(--_accent-fg); }
button:disabled { opacity: 0.45; cursor: not-allowed; }
.progress { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 0.2em var(--_gap); align-items: center; margin-top: var(--_gap); font-size: 0.9em; }
.progress progress { width: 100%; accent-color: var(--_accent); }
.progress .text { grid-column: 1 / -1; color: var(--_muted); min-height: 1.4em; }
.stage { font-variant-numeric: tabular-nums; }
.media { display: grid; gap: var(--_gap); margin-top: var(--_gap); }
canvas, video { width: 100%; max-width: 100%; aspect-ratio: 1; image-rendering: pixelated; background: #000; border-radius: calc(var(--_radius) * 0.75); display: block; }
canvas { max-width: 12rem; }
.error { color: var(--_danger); border: 1px solid var(--_danger); border-radius: calc(var(--_radius) * 0.75); padding: 0.5em 0.7em; margin: var(--_gap) 0 0; overflow-wrap: anywhere; }
.facts { color: var(--_muted); font-size: 0.85em; margin: 0; }
`;
