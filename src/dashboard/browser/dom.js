// @ts-check
/**
 * The page's elements, and the two pieces its tables are built from. Text goes in through
 * `textContent` only: names and ids come from callers of the proxy, and the CSP
 * (src/dashboard/routes.ts) allows no inline script, so markup is never built from strings.
 */

/**
 * The element with this id, checked to be of the expected kind: the page (index.html) and these
 * scripts change together, and a mismatch should fail loudly, not render nothing.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T }} [kind]
 * @returns {T}
 */
export function $(id, kind) {
  var el = document.getElementById(id);
  if (!(el instanceof (kind || HTMLElement))) throw new Error('dashboard: no element #' + id);
  return /** @type {T} */ (el);
}

/**
 * Append a cell holding `text` (nothing for null or undefined).
 * @param {HTMLTableRowElement} tr
 * @param {string | number | null | undefined} text
 * @param {string} [cls]
 */
export function cell(tr, text, cls) {
  var td = document.createElement('td');
  if (cls) td.className = cls;
  td.textContent = text == null ? '' : String(text);
  tr.appendChild(td);
  return td;
}

/**
 * Append a badge (app.css `.badge`, coloured by `cls`) to a cell.
 * @param {HTMLTableCellElement} td
 * @param {string} text
 * @param {string} cls
 */
export function badge(td, text, cls) {
  var span = document.createElement('span');
  span.className = 'badge ' + cls;
  span.textContent = text;
  td.appendChild(span);
}
