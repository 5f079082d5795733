//! End-to-end tests: the real `strand` binary on a free loopback port, driven by the official
//! clients (the `s2-sdk` crate, the `s2` CLI) and by raw sockets, and compared with `s2 lite`.
//! One test binary; the modules below are the suites.

#[path = "e2e/support.rs"]
mod support;

#[path = "e2e/control_plane.rs"]
mod control_plane;

#[path = "e2e/cli.rs"]
mod cli;

#[path = "e2e/data_plane.rs"]
mod data_plane;

#[path = "e2e/sessions.rs"]
mod sessions;

#[path = "e2e/malformed.rs"]
mod malformed;

#[path = "e2e/durability.rs"]
mod durability;

#[path = "e2e/store_outage.rs"]
mod store_outage;

#[path = "e2e/hostile.rs"]
mod hostile;

#[path = "e2e/crash.rs"]
mod crash;

#[path = "e2e/memory.rs"]
mod memory;

#[path = "e2e/tls.rs"]
mod tls;

#[path = "e2e/metrics.rs"]
mod metrics;

#[path = "e2e/lifecycle.rs"]
mod lifecycle;

#[path = "e2e/dashboard.rs"]
mod dashboard;

#[path = "e2e/access_tokens.rs"]
mod access_tokens;

#[path = "e2e/usage_metrics.rs"]
mod usage_metrics;

#[path = "e2e/memory_store.rs"]
mod memory_store;
