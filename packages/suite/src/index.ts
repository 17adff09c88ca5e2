// @pillow/suite — see README.md. The public API is filled in by its issue; this file is its entry point.
export const packageName = "@pillow/suite";
