//! kaudit-output: where alerts go (stdout, files, falcosidekick-compatible HTTP, webhooks) and
//! where alerts that cannot be delivered are kept (dead letters).
