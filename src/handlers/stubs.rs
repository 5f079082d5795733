//! Routes s2-lite answers with `501 not_implemented`: locations (a single-region server has
//! none to choose from). Bad input still gets its 400 first, as clients expect.

use super::HandlerResult;
use protocol::error::{ApiError, ErrorCode};

fn not_implemented() -> HandlerResult {
    Err(ApiError::new(ErrorCode::NotImplemented, "Not implemented").into())
}

pub fn locations() -> HandlerResult {
    not_implemented()
}
