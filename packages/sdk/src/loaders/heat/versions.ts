/**
 * HOT template versions and which intrinsic functions each offers
 * (https://docs.openstack.org/heat/latest/template_guide/hot_spec.html#heat-template-version), by the
 * version's date or its release name. Versions are ordered; a function is available from its version on.
 */

/** The versions in order, with the release name where Heat gives one. */
export const VERSIONS: readonly { date: string; name?: string }[] = [
  { date: '2013-05-23' },
  { date: '2014-10-16' },
  { date: '2015-04-30' },
  { date: '2015-10-15' },
  { date: '2016-04-08' },
  { date: '2016-10-14', name: 'newton' },
  { date: '2017-02-24', name: 'ocata' },
  { date: '2017-09-01', name: 'pike' },
  { date: '2018-03-02', name: 'queens' },
  { date: '2018-08-31', name: 'rocky' },
  { date: '2021-04-16', name: 'wallaby' },
];

/** The index of a version (a date or a release name) in {@link VERSIONS}, or -1. */
export function versionIndex(v: unknown): number {
  const s = typeof v === 'string' ? v : v instanceof Date ? v.toISOString().slice(0, 10) : String(v);
  return VERSIONS.findIndex((x) => x.date === s || x.name === s);
}

/** How a version is named in messages: `2016-10-14 (newton)`. */
export const versionName = (i: number): string =>
  VERSIONS[i] ? `${VERSIONS[i].date}${VERSIONS[i].name ? ` (${VERSIONS[i].name})` : ''}` : '?';

const at = (date: string) => VERSIONS.findIndex((v) => v.date === date);

/** The first version offering each function. */
export const FUNCTION_SINCE: Readonly<Record<string, number>> = {
  get_attr: 0,
  get_file: 0,
  get_param: 0,
  get_resource: 0,
  list_join: 0,
  str_replace: 0,
  resource_facade: 0,
  digest: at('2015-04-30'),
  repeat: at('2015-04-30'),
  str_split: at('2015-10-15'),
  map_merge: at('2016-04-08'),
  equals: at('2016-10-14'),
  if: at('2016-10-14'),
  not: at('2016-10-14'),
  and: at('2016-10-14'),
  or: at('2016-10-14'),
  map_replace: at('2016-10-14'),
  yaql: at('2016-10-14'),
  str_replace_strict: at('2017-02-24'),
  filter: at('2017-02-24'),
  list_concat: at('2017-02-24'),
  make_url: at('2017-02-24'),
  contains: at('2017-09-01'),
  str_replace_vstr: at('2017-09-01'),
  list_concat_unique: at('2017-09-01'),
};

/** The first version with a `conditions` section. */
export const CONDITIONS_SINCE = at('2016-10-14');
