//! The HTTP API, one module per version; handlers live in `v1/<resource>.rs`.

pub mod v1;
