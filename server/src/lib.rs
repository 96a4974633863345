//! tellus-server: the project server where stories arrive and leads pull from
//! (DESIGN.md §5). The HTTP surface is built on top of `tellus-protocol`.

pub use tellus_protocol::API_PREFIX;
