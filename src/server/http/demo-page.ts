// The demo page (web/index.html and web/demo/), at / under httpPrefix on
// servers Switchboard owns: a live chat through /client.js. An app that
// attaches keeps its own /.
import { CSS, HTML, JS, page } from './page-files.js';

export const demoPage = page(new URL('../../../web/', import.meta.url), {
  '/': { file: 'index.html', type: HTML },
  '/demo/demo.js': { file: 'demo/demo.js', type: JS },
  '/demo/demo.css': { file: 'demo/demo.css', type: CSS },
});
