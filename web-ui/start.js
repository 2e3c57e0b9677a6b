// Starts the wallet: loads the wasm-bindgen module and its WebAssembly.
// A file, not an inline script, so the page's CSP can forbid inline script
// (which also stops any `javascript:` URL). Trunk writes the hashed file
// names into the data attributes of the tag that loads this (Trunk.toml).
const tag = document.querySelector("script[data-trunk-start]");
const { default: init } = await import(tag.dataset.js);
await init({ module_or_path: tag.dataset.wasm });
