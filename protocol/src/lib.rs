//! Wire types of the Tellus protocol (v1), shared by the phone's sync client and the
//! project server so that the two cannot drift apart. See DESIGN.md §4.

use serde::{Deserialize, Serialize};

/// Path prefix of every v1 route.
pub const API_PREFIX: &str = "/api/v1";

/// The body of every error response: a stable machine-readable code and a sentence a
/// person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}
