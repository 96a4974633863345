//! tellus-core: all of Tellus's app logic. The FFI library, the server, the CLI and the
//! phone shells are thin layers over this crate. No FFI types live here.

pub mod audio;
pub mod error;
pub mod model;
pub mod observe;
pub mod position;
pub mod receipt;
pub mod store;
pub mod sync;

/// The wire types, for layers above the core that show what the server said (receipts).
pub use tellus_net as net;
pub use tellus_protocol as protocol;

pub use error::{Error, Result};
pub use position::AudioPosition;
pub use store::{OpenReport, Store};

/// The version of this crate, for logs and the FFI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
