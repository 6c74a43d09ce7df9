/**
 * Whether a file is a Heat Orchestration Template: YAML (or JSON) with a top-level
 * `heat_template_version` key. Apart from the loader so the CLI can tell without loading it.
 */
import { readFileSync } from 'node:fs';

/** Whether YAML or JSON text is a HOT template: `heat_template_version` is a key at the top level. */
export function isHeatTemplateText(text: string): boolean {
  // At the start of a line (YAML's top level), or as a key of a JSON document's outer object.
  return (
    /^\uFEFF?["']?heat_template_version["']?\s*:/m.test(text) ||
    /^\s*\{\s*"heat_template_version"\s*:/.test(text)
  );
}

/** Whether the file at `path` is a HOT template (see {@link isHeatTemplateText}); false when unreadable. */
export function isHeatTemplateFile(path: string): boolean {
  try {
    return isHeatTemplateText(readFileSync(path, 'utf8'));
  } catch {
    return false;
  }
}
