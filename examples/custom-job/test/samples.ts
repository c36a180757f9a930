/** CSV objects the example's tests convert, and what the job makes of them. */

/** A header and two rows, with quoted fields, a quoted delimiter and doubled quotes. */
export const PEOPLE = [
  'name,city,quote',
  'Ada,London,"Analytical, not numerical"',
  'Grace,"New York","She said ""ship it"""',
  '',
].join('\n');

/** PEOPLE as NDJSON records. */
export const PEOPLE_RECORDS = [
  { name: 'Ada', city: 'London', quote: 'Analytical, not numerical' },
  { name: 'Grace', city: 'New York', quote: 'She said "ship it"' },
];

/** `;`-separated, CRLF line ends (for `--delimiter ';'`). */
export const MORE = 'id;score\r\n1;9.5\r\n2;7\r\n';

/** MORE converted: the exact bytes of its NDJSON object. */
export const MORE_NDJSON = '{"id":"1","score":"9.5"}\n{"id":"2","score":"7"}\n';
