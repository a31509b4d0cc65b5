/** `"MIN-MAX"` or a single zoom, as `--zoom` and the config file's `zoom` take it. */
export const ZOOM_RANGE_PATTERN = /^(\d{1,2})(?:-(\d{1,2}))?$/;
