//! kaudit-output: where alerts go (stdout, files, falcosidekick-compatible HTTP, webhooks) and
//! where alerts that cannot be delivered are kept (dead letters).
//!
//! Every output implements [`kaudit_engine::output::Output`].
//!
//! # The contract: one attempt per `send`
//!
//! An output makes **one attempt** at delivering each alert of the batch it is given and
//! classifies what happened as an [`Attempt`](kaudit_engine::output::Attempt): `Delivered`,
//! `Retry` (a fault that may pass, with the receiver's `Retry-After` when it sent one) or
//! `Rejected` (a refusal that will not change). Outputs never retry, sleep, queue or
//! dead-letter by themselves: retries with backoff, bounded queues, dead letters and
//! acknowledgements are the pipeline's job (`kaudit_engine::pipeline`), so every output gets
//! the same guarantees. Buffered outputs report `Delivered` once the alert is in their buffer
//! and make it durable in [`Output::flush`](kaudit_engine::output::Output::flush); the pipeline
//! acknowledges only after `flush` returns `Ok`. Outputs never panic on what a receiver says.
//!
//! # Outputs
//!
//! | target | type | what it does |
//! | --- | --- | --- |
//! | `stdout` | [`WriterOutput`] | one line per alert (Falco's text line or JSON alert) to standard output, buffered; `flush` flushes |
//! | `file:PATH` | [`FileOutput`] | appends Falco's JSON alerts as JSON lines to `PATH` (created if missing); `flush` flushes and `fdatasync`s |
//! | `http://…`, `https://…` | [`HttpOutput`] | falcosidekick-compatible: one `POST` per alert, the body exactly one JSON object (Falco's JSON alert), `Content-Type: application/json` |
//! | `webhook:URL` | [`HttpOutput`] | the same HTTP client, optionally batching alerts into JSON arrays ([`OutputOptions::batch`]) |
//!
//! HTTP results are classified as: 2xx → `Delivered`; connection errors, timeouts, 5xx, 408 and
//! 429 → `Retry` (with `Retry-After` in seconds or HTTP-date form as `after`); any other status →
//! `Rejected` with `HTTP <code>: <first 200 bytes of the body>`. Redirects are not followed (a
//! redirected `POST` would lose its body), so a 3xx is `Rejected` too. When a request of a batch
//! fails at the connection level, or the receiver answers 429 or 503, the remaining alerts of
//! that `send` are reported `Retry` with the same reason without being sent: the receiver asked
//! to be left alone, and hammering it would only burn the retry budget.
//!
//! TLS is rustls (no OpenSSL): the system's CA certificates (Mozilla's bundled roots when the
//! system has none and the `webpki-roots` feature is on), plus an optional CA file, and an
//! optional client certificate and key for mutual TLS ([`OutputOptions`]).
//!
//! [`DeadLetterFile`] implements [`kaudit_engine::output::DeadLetterSink`]: one JSON line per
//! dead letter (`{"alert": …, "output": …, "reason": …, "attempts": N, "time": …}`), durable
//! before `write` returns.
//!
//! [`parse_target`] reads a target from the command line, and [`build_output`] makes the output
//! for a [`Target`] and its [`OutputOptions`]:
//!
//! ```
//! use kaudit_engine::alert::AlertFormat;
//! use kaudit_engine::output::Output;
//! use kaudit_output::{OutputOptions, build_output, parse_target};
//!
//! let target = parse_target("http://falcosidekick:2801")?;
//! let output = build_output(&target, &OutputOptions::default(), AlertFormat::Json)?;
//! assert_eq!(output.name(), "http://falcosidekick:2801/");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `webpki-roots` (default): Mozilla's root certificates compiled in, used only when the system
//!   has no CA certificates (scratch or distroless images).
//! - `test-util`: `testing::Receiver`, a scriptable HTTP/1.1 (and HTTPS) receiver on
//!   127.0.0.1, with a falcosidekick mode that applies falcosidekick's acceptance rules. For this
//!   and other crates' tests.

mod dead_letter;
mod http;
mod target;
mod tls;
mod writer;

#[cfg(feature = "test-util")]
pub mod testing;

pub use dead_letter::DeadLetterFile;
pub use http::{HttpMode, HttpOutput, USER_AGENT, parse_retry_after};
pub use target::{BuildError, OutputOptions, Target, TargetError, build_output, parse_target};
pub use writer::{FileOutput, WriterOutput};
