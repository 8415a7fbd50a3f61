// The widget page's one module script: exactly what `kinema/widget/define` (dist/widget.js) is.
import '../src/widget/define';
