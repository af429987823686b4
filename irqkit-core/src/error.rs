//! Typed errors for every public call, each mapping to the errno Linux would return.

use core::fmt;

/// An error from an irqkit call. [`IrqError::errno`] gives the Linux errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IrqError {
    /// An argument is out of range or malformed (`EINVAL`).
    InvalidArgument(&'static str),
    /// No such interrupt, CPU or object (`ENOENT` / `EINVAL` in Linux depending on the call).
    NotFound(&'static str),
    /// The resource is in use, e.g. a shared-flag mismatch (`EBUSY`).
    Busy(&'static str),
    /// The call is not allowed in the caller's context, e.g. sleeping in atomic (`EPERM`).
    WrongContext(&'static str),
    /// Out of descriptors, vectors or memory (`ENOSPC` / `ENOMEM`).
    NoSpace(&'static str),
    /// The operation is not supported by this chip or platform (`ENOSYS`).
    Unsupported(&'static str),
    /// The target CPU is offline (`EINVAL` for affinity; `ENXIO` for IPIs).
    CpuOffline(u32),
    /// The object was already freed or released (`EINVAL` with a WARN in Linux).
    AlreadyFreed(&'static str),
    /// The machine or subsystem is shutting down (`ESHUTDOWN`).
    Shutdown,
    /// A callback panicked; it was contained and reported (`EFAULT`).
    Panicked,
}

impl IrqError {
    /// The (positive) Linux errno this error corresponds to.
    pub fn errno(&self) -> i32 {
        match self {
            IrqError::InvalidArgument(_) | IrqError::AlreadyFreed(_) => 22, // EINVAL
            IrqError::NotFound(_) => 2,                                     // ENOENT
            IrqError::Busy(_) => 16,                                        // EBUSY
            IrqError::WrongContext(_) => 1,                                 // EPERM
            IrqError::NoSpace(_) => 28,                                     // ENOSPC
            IrqError::Unsupported(_) => 38,                                 // ENOSYS
            IrqError::CpuOffline(_) => 6,                                   // ENXIO
            IrqError::Shutdown => 108,                                      // ESHUTDOWN
            IrqError::Panicked => 14,                                       // EFAULT
        }
    }
}

impl fmt::Display for IrqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IrqError::InvalidArgument(w) => write!(f, "invalid argument: {w}"),
            IrqError::NotFound(w) => write!(f, "not found: {w}"),
            IrqError::Busy(w) => write!(f, "busy: {w}"),
            IrqError::WrongContext(w) => write!(f, "wrong context: {w}"),
            IrqError::NoSpace(w) => write!(f, "no space: {w}"),
            IrqError::Unsupported(w) => write!(f, "unsupported: {w}"),
            IrqError::CpuOffline(c) => write!(f, "CPU {c} is offline"),
            IrqError::AlreadyFreed(w) => write!(f, "already freed: {w}"),
            IrqError::Shutdown => write!(f, "shutting down"),
            IrqError::Panicked => write!(f, "callback panicked"),
        }
    }
}

impl core::error::Error for IrqError {}
