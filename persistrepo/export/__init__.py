"""Export the store for image mode (docs/image-mode.md): a Containerfile build
context, a kickstart, or the JSON manifest (docs/store-format.md, "Export
manifest")."""
