pub mod error;
pub mod eval;
pub mod intrinsics;
pub mod json;
pub mod path;
pub mod random;
