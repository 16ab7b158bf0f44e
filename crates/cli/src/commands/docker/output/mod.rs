//! How docker prints things: Go templates (`--format`), `--format json`,
//! aligned tables, and human units (sizes, durations, times).

pub mod table;
pub mod template;
pub mod units;

pub use table::{print_rows, Format};
pub use template::Template;
