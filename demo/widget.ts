// The widget page's one module script: exactly what `kinema/widget/define` (dist/widget-define.js) is.
import '../src/widget/define';
