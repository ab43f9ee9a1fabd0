//! The one error type of the crate. Kernels return `Result<_, KernelError>`; the binding layer turns
//! every variant into a Python `ValueError` subclass, so no Python input can reach a panic.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// An argument has the wrong length or shape; the message names it and what was expected.
    Shape(String),
    /// An argument holds a value outside its domain (NaN, inf, ratio out of range, k = 0, ...).
    Value(String),
}

pub type KernelResult<T> = Result<T, KernelError>;

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Shape(msg) | KernelError::Value(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for KernelError {}

/// Fails with a `Value` error naming `what` if any element is NaN or infinite.
pub fn check_finite(values: &[f32], what: &str) -> KernelResult<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(KernelError::Value(format!(
            "{what} must be finite, found {} at position {i}",
            values[i]
        ))),
        None => Ok(()),
    }
}
