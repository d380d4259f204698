// Prettier, set to the style the code was written in: single quotes,
// semicolons, trailing commas, 2 spaces, and 160 columns. Of the widths tried
// (100 to 240), 160 rewrites the fewest existing lines (about 650, in 95 of 230
// files, most of them one-line helpers in bench/ that Prettier opens up); wider
// widths join more lines than they spare. `npm run format` applies it, and
// `npm run format:check` checks it, as part of `npm test`.
/** @type {import('prettier').Config} */
export default {
  printWidth: 160,
  tabWidth: 2,
  useTabs: false,
  semi: true,
  singleQuote: true,
  trailingComma: 'all',
  arrowParens: 'always',
};
