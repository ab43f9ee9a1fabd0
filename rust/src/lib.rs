//! Python bindings of the lightmem kernels (`lightmem._core`): argument conversion, validation,
//! GIL release and error mapping only. The kernels themselves live in `prune`, `segment` and `dedup`.

pub mod error;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::KernelError;

create_exception!(_core, KernelInputError, PyValueError, "Invalid input to a lightmem kernel.");

impl From<KernelError> for PyErr {
    fn from(err: KernelError) -> PyErr {
        KernelInputError::new_err(err.to_string())
    }
}

#[pymodule]
mod _core {
    #[pymodule_export]
    use super::KernelInputError;

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
